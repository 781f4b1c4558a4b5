//! What one request costs in DynamoDB calls, SQS calls and round trips, per endpoint and
//! outcome. The next changes are to cut these, so a count that moves, up or down, must be
//! seen and written down here (and in BENCHMARKS.md), never drift unnoticed.

use crate::fixtures::{
    funded_contract, hired_contract, job_with_application, job_with_application_ids,
};
use crate::helpers::{Reply, TestApp, spawn_app_with, str_of};
use futures::StreamExt;
use local_gateway::round_trips::{Call, Counts, Recorder};
use local_gateway::template::Template;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// (endpoint as the template routes it, outcome, DynamoDB calls, SQS calls, round trips).
/// An outcome is the status, then the problem code the reply must carry, or a note on the
/// case. Calls made at once (marking several events dispatched) are one round trip.
type Row = (&'static str, &'static str, usize, usize, usize);

#[rustfmt::skip]
const TABLE: &[Row] = &[
    // endpoint                                              outcome                         DynamoDB SQS trips
    ("POST /jobs",                                           "201",                              1, 0, 1),
    ("GET /jobs",                                            "200",                              1, 0, 1),
    ("GET /jobs/{job_id}",                                   "200 anyone",                       1, 0, 1),
    ("GET /jobs/{job_id}",                                   "200 the owner",                    2, 0, 2), // the Query reads the job again
    ("GET /jobs/{job_id}",                                   "404 JOB_NOT_FOUND",                1, 0, 1),
    ("POST /jobs/{job_id}/cancel",                           "200",                              2, 0, 2),
    ("POST /jobs/{job_id}/cancel",                           "409 JOB_NOT_OPEN",                 1, 0, 1),
    ("POST /jobs/{job_id}/cancel",                           "404 JOB_NOT_FOUND",                1, 0, 1),
    ("POST /jobs/{job_id}/applications",                     "201",                              2, 0, 2),
    ("POST /jobs/{job_id}/applications",                     "409 JOB_NOT_OPEN",                 1, 0, 1),
    ("POST /jobs/{job_id}/applications",                     "409 ALREADY_APPLIED",              2, 0, 2), // the guard's condition decides
    ("POST /jobs/{job_id}/applications",                     "404 JOB_NOT_FOUND",                1, 0, 1),
    ("GET /jobs/{job_id}/applications",                      "200",                              2, 0, 2),
    ("GET /jobs/{job_id}/applications",                      "404 JOB_NOT_FOUND",                1, 0, 1),
    ("POST /jobs/{job_id}/applications/{application_id}/withdraw", "200",                        2, 0, 2),
    ("POST /jobs/{job_id}/applications/{application_id}/withdraw", "409 APPLICATION_NOT_PENDING", 1, 0, 1),
    ("POST /jobs/{job_id}/applications/{application_id}/withdraw", "404 JOB_NOT_FOUND",          1, 0, 1),
    ("POST /jobs/{job_id}/hire",                             "200 the last opening",             2, 0, 2),
    ("POST /jobs/{job_id}/hire",                             "200 openings left",                2, 0, 2),
    ("POST /jobs/{job_id}/hire",                             "409 JOB_NOT_OPEN",                 1, 0, 1),
    ("POST /jobs/{job_id}/hire",                             "409 APPLICATION_NOT_PENDING",      2, 0, 2), // the write decides: JOB_NOT_OPEN wins
    ("POST /jobs/{job_id}/hire",                             "404 JOB_NOT_FOUND",                1, 0, 1),
    ("GET /jobs/{job_id}/events",                            "200 the owner",                    2, 0, 2),
    ("GET /jobs/{job_id}/events",                            "200 the hired freelancer",         4, 0, 4), // guard, then its application
    ("GET /jobs/{job_id}/events",                            "404 JOB_NOT_FOUND",                1, 0, 1),
    ("GET /me/applications",                                 "200",                              1, 0, 1),
    ("GET /me/notifications",                                "200",                              1, 0, 1),
    ("POST /me/notifications/{notification_id}/read",        "200",                              2, 0, 2),
    ("POST /me/notifications/{notification_id}/read",        "404 NOTIFICATION_NOT_FOUND",       1, 0, 1),
    ("GET /contracts/{contract_id}",                         "200",                              1, 0, 1),
    ("GET /contracts/{contract_id}",                         "404 CONTRACT_NOT_FOUND",           1, 0, 1),
    ("POST /contracts/{contract_id}/fund",                   "200",                              2, 0, 2),
    ("POST /contracts/{contract_id}/fund",                   "409 INVALID_TRANSITION",           1, 0, 1),
    ("POST /contracts/{contract_id}/fund",                   "404 CONTRACT_NOT_FOUND",           1, 0, 1),
    ("POST /contracts/{contract_id}/release",                "200",                              2, 0, 2),
    ("POST /contracts/{contract_id}/release",                "409 INVALID_TRANSITION",           1, 0, 1),
    ("POST /contracts/{contract_id}/release",                "404 CONTRACT_NOT_FOUND",           1, 0, 1),
    ("POST /contracts/{contract_id}/refund",                 "200",                              2, 0, 2),
    ("POST /contracts/{contract_id}/refund",                 "409 INVALID_TRANSITION",           1, 0, 1),
    ("POST /contracts/{contract_id}/refund",                 "404 CONTRACT_NOT_FOUND",           1, 0, 1),
    ("GET /me/contracts",                                    "200",                              2, 0, 2),
];

/// Every POST sent with an `Idempotency-Key`, then sent again with it (the replay): (endpoint,
/// outcome, round trips, round trips of the replay). A success costs what it costs without a
/// key, its record riding in its one write; a refusal about state is kept in a write of its
/// own; a replay is the one read, which finds the record.
#[rustfmt::skip]
const KEYED: &[(&str, &str, usize, usize)] = &[
    // endpoint                                              outcome                        trips replay
    ("POST /jobs",                                           "201",                             1, 1), // its write, cancelled by the record
    ("POST /jobs/{job_id}/cancel",                           "200",                             2, 1),
    ("POST /jobs/{job_id}/cancel",                           "409 JOB_NOT_OPEN",                2, 1),
    ("POST /jobs/{job_id}/cancel",                           "404 JOB_NOT_FOUND",               2, 1),
    ("POST /jobs/{job_id}/applications",                     "201",                             2, 1),
    ("POST /jobs/{job_id}/applications",                     "409 JOB_NOT_OPEN",                2, 1),
    ("POST /jobs/{job_id}/applications",                     "409 ALREADY_APPLIED",             3, 1),
    ("POST /jobs/{job_id}/applications",                     "404 JOB_NOT_FOUND",               2, 1),
    ("POST /jobs/{job_id}/applications/{application_id}/withdraw", "200",                       2, 1),
    ("POST /jobs/{job_id}/applications/{application_id}/withdraw", "409 APPLICATION_NOT_PENDING", 2, 1),
    ("POST /jobs/{job_id}/applications/{application_id}/withdraw", "404 JOB_NOT_FOUND",         2, 1),
    ("POST /jobs/{job_id}/hire",                             "200 the last opening",            2, 1),
    ("POST /jobs/{job_id}/hire",                             "200 openings left",               2, 1),
    ("POST /jobs/{job_id}/hire",                             "409 JOB_NOT_OPEN",                2, 1),
    ("POST /jobs/{job_id}/hire",                             "409 APPLICATION_NOT_PENDING",     3, 1),
    ("POST /jobs/{job_id}/hire",                             "404 JOB_NOT_FOUND",               2, 1),
    ("POST /me/notifications/{notification_id}/read",        "200",                             2, 1),
    ("POST /me/notifications/{notification_id}/read",        "404 NOTIFICATION_NOT_FOUND",      2, 1),
    ("POST /contracts/{contract_id}/fund",                   "200",                             2, 1),
    ("POST /contracts/{contract_id}/fund",                   "409 INVALID_TRANSITION",          2, 1),
    ("POST /contracts/{contract_id}/fund",                   "404 CONTRACT_NOT_FOUND",          2, 1),
    ("POST /contracts/{contract_id}/release",                "200",                             2, 1),
    ("POST /contracts/{contract_id}/release",                "409 INVALID_TRANSITION",          2, 1),
    ("POST /contracts/{contract_id}/release",                "404 CONTRACT_NOT_FOUND",          2, 1),
    ("POST /contracts/{contract_id}/refund",                 "200",                             2, 1),
    ("POST /contracts/{contract_id}/refund",                 "409 INVALID_TRANSITION",          2, 1),
    ("POST /contracts/{contract_id}/refund",                 "404 CONTRACT_NOT_FOUND",          2, 1),
];

/// The one request a row measures.
enum Request {
    Get(&'static str, String),
    Post(&'static str, String, Value),
}

impl Request {
    async fn send(&self, app: &TestApp) -> Reply {
        match self {
            Request::Get(user, path) => app.get(user, path).await,
            Request::Post(user, path, body) => app.post(user, path, body.clone()).await,
        }
    }

    async fn send_keyed(&self, app: &TestApp, key: &str) -> Reply {
        match self {
            Request::Get(..) => panic!("only a POST takes an Idempotency-Key"),
            Request::Post(user, path, body) => app.post_keyed(user, path, body.clone(), key).await,
        }
    }
}

/// Sets up, through the API, the state a row's outcome needs, and names the request.
async fn prepare(app: &TestApp, endpoint: &str, outcome: &str) -> Request {
    use Request::{Get, Post};
    let unknown = ulid::Ulid::generate().to_string();
    let withdraw =
        |job: &str, application: &str| format!("/jobs/{job}/applications/{application}/withdraw");
    match (endpoint, outcome) {
        ("POST /jobs", "201") => Post(
            "alice",
            "/jobs".into(),
            json!({"title": "Build a thing", "budget_cents": 100_000}),
        ),
        ("GET /jobs", "200") => {
            job_with_application(app).await;
            Get("bob", "/jobs".into())
        }
        ("GET /jobs/{job_id}", "200 anyone") => {
            let (job, _) = job_with_application(app).await;
            Get("carol", format!("/jobs/{job}"))
        }
        ("GET /jobs/{job_id}", "200 the owner") => {
            let (job, _) = job_with_application(app).await;
            Get("alice", format!("/jobs/{job}"))
        }
        ("GET /jobs/{job_id}", "404 JOB_NOT_FOUND") => Get("alice", format!("/jobs/{unknown}")),
        ("POST /jobs/{job_id}/cancel", "200") => {
            let (job, _) = job_with_application(app).await;
            Post("alice", format!("/jobs/{job}/cancel"), json!({}))
        }
        ("POST /jobs/{job_id}/cancel", "409 JOB_NOT_OPEN") => {
            let (job, _) = job_with_application(app).await;
            let path = format!("/jobs/{job}/cancel");
            app.post("alice", &path, json!({})).await.expect(200);
            Post("alice", path, json!({}))
        }
        ("POST /jobs/{job_id}/cancel", "404 JOB_NOT_FOUND") => {
            Post("alice", format!("/jobs/{unknown}/cancel"), json!({}))
        }
        ("POST /jobs/{job_id}/applications", "201") => {
            let (job, _) = job_with_application(app).await;
            Post("carol", format!("/jobs/{job}/applications"), bid())
        }
        ("POST /jobs/{job_id}/applications", "409 JOB_NOT_OPEN") => {
            let (job, _) = job_with_application(app).await;
            let cancel = format!("/jobs/{job}/cancel");
            app.post("alice", &cancel, json!({})).await.expect(200);
            Post("carol", format!("/jobs/{job}/applications"), bid())
        }
        ("POST /jobs/{job_id}/applications", "409 ALREADY_APPLIED") => {
            let (job, _) = job_with_application(app).await;
            Post("bob", format!("/jobs/{job}/applications"), bid())
        }
        ("POST /jobs/{job_id}/applications", "404 JOB_NOT_FOUND") => {
            Post("carol", format!("/jobs/{unknown}/applications"), bid())
        }
        ("GET /jobs/{job_id}/applications", "200") => {
            let (job, _) = job_with_application(app).await;
            Get("alice", format!("/jobs/{job}/applications"))
        }
        ("GET /jobs/{job_id}/applications", "404 JOB_NOT_FOUND") => {
            Get("alice", format!("/jobs/{unknown}/applications"))
        }
        ("POST /jobs/{job_id}/applications/{application_id}/withdraw", "200") => {
            let (job, application) = job_with_application(app).await;
            Post("bob", withdraw(&job, &application), json!({}))
        }
        (
            "POST /jobs/{job_id}/applications/{application_id}/withdraw",
            "409 APPLICATION_NOT_PENDING",
        ) => {
            let (job, application) = job_with_application(app).await;
            let path = withdraw(&job, &application);
            app.post("bob", &path, json!({})).await.expect(200);
            Post("bob", path, json!({}))
        }
        ("POST /jobs/{job_id}/applications/{application_id}/withdraw", "404 JOB_NOT_FOUND") => {
            let (_, application) = job_with_application(app).await;
            Post("bob", withdraw(&unknown, &application), json!({}))
        }
        ("POST /jobs/{job_id}/hire", "200 the last opening") => {
            let (job, application) = job_with_application(app).await;
            hire(&job, &application)
        }
        ("POST /jobs/{job_id}/hire", "200 openings left") => {
            let (job, ids) = job_with_application_ids(app, 2, &["bob"]).await;
            hire(&job, &ids[0])
        }
        ("POST /jobs/{job_id}/hire", "409 JOB_NOT_OPEN") => {
            let (job, ids) = job_with_application_ids(app, 1, &["bob", "carol"]).await;
            app.hire("alice", &job, &ids[0]).await.expect(200);
            hire(&job, &ids[1])
        }
        ("POST /jobs/{job_id}/hire", "409 APPLICATION_NOT_PENDING") => {
            let (job, application) = job_with_application(app).await;
            let path = withdraw(&job, &application);
            app.post("bob", &path, json!({})).await.expect(200);
            hire(&job, &application)
        }
        ("POST /jobs/{job_id}/hire", "404 JOB_NOT_FOUND") => hire(&unknown, &unknown),
        ("GET /jobs/{job_id}/events", "200 the owner") => {
            let (job, _) = hired_contract(app).await;
            Get("alice", format!("/jobs/{job}/events"))
        }
        ("GET /jobs/{job_id}/events", "200 the hired freelancer") => {
            let (job, _) = hired_contract(app).await;
            Get("bob", format!("/jobs/{job}/events"))
        }
        ("GET /jobs/{job_id}/events", "404 JOB_NOT_FOUND") => {
            Get("alice", format!("/jobs/{unknown}/events"))
        }
        ("GET /me/applications", "200") => {
            job_with_application(app).await;
            Get("bob", "/me/applications".into())
        }
        ("GET /me/notifications", "200") => {
            job_with_application(app).await;
            app.drain_queue().await;
            Get("alice", "/me/notifications".into())
        }
        ("POST /me/notifications/{notification_id}/read", "200") => {
            job_with_application(app).await;
            app.drain_queue().await;
            let inbox = app.get("alice", "/me/notifications").await.expect(200);
            let id = str_of(&inbox["items"][0], "notification_id");
            Post("alice", format!("/me/notifications/{id}/read"), json!({}))
        }
        ("POST /me/notifications/{notification_id}/read", "404 NOTIFICATION_NOT_FOUND") => Post(
            "alice",
            format!("/me/notifications/{unknown}/read"),
            json!({}),
        ),
        ("GET /contracts/{contract_id}", "200") => {
            let (_, contract) = hired_contract(app).await;
            Get("bob", format!("/contracts/{contract}"))
        }
        ("GET /contracts/{contract_id}", "404 CONTRACT_NOT_FOUND") => {
            Get("bob", format!("/contracts/{unknown}"))
        }
        ("POST /contracts/{contract_id}/fund", "200") => {
            let (_, contract) = hired_contract(app).await;
            contract_action(&contract, "fund")
        }
        ("POST /contracts/{contract_id}/fund", "409 INVALID_TRANSITION") => {
            contract_action(&funded_contract(app).await, "fund")
        }
        (
            "POST /contracts/{contract_id}/release" | "POST /contracts/{contract_id}/refund",
            "200",
        ) => contract_action(&funded_contract(app).await, action_of(endpoint)),
        (
            "POST /contracts/{contract_id}/release" | "POST /contracts/{contract_id}/refund",
            "409 INVALID_TRANSITION",
        ) => {
            // Not funded yet.
            let (_, contract) = hired_contract(app).await;
            contract_action(&contract, action_of(endpoint))
        }
        (
            "POST /contracts/{contract_id}/fund"
            | "POST /contracts/{contract_id}/release"
            | "POST /contracts/{contract_id}/refund",
            "404 CONTRACT_NOT_FOUND",
        ) => contract_action(&unknown, action_of(endpoint)),
        ("GET /me/contracts", "200") => {
            hired_contract(app).await;
            Get("bob", "/me/contracts".into())
        }
        _ => panic!("no set-up for {endpoint} {outcome}: add one to `prepare`"),
    }
}

fn bid() -> Value {
    json!({"bid_cents": 5_000, "message": "Pick me"})
}

fn hire(job: &str, application: &str) -> Request {
    Request::Post(
        "alice",
        format!("/jobs/{job}/hire"),
        json!({"application_id": application}),
    )
}

/// The last segment of a contract endpoint: fund, release or refund.
fn action_of(endpoint: &str) -> &str {
    endpoint.rsplit('/').next().unwrap_or_default()
}

fn contract_action(contract: &str, action: &str) -> Request {
    Request::Post(
        "alice",
        format!("/contracts/{contract}/{action}"),
        json!({}),
    )
}

/// The status an outcome names, and its problem code if it names one (rather than a note).
fn expected_reply(outcome: &str) -> (u16, Option<&str>) {
    let (status, rest) = outcome.split_once(' ').unwrap_or((outcome, ""));
    let status = status.parse().expect("an outcome starts with its status");
    let is_code = !rest.is_empty() && rest.chars().all(|c| c.is_ascii_uppercase() || c == '_');
    (status, is_code.then_some(rest))
}

#[track_caller]
fn check_outcome(endpoint: &str, outcome: &str, reply: &Reply) {
    match expected_reply(outcome) {
        (status, Some(code)) => reply.expect_problem(status, code),
        (status, None) => assert_eq!(
            reply.status, status,
            "{endpoint} {outcome}: the set-up did not lead to this outcome: {reply:#?}"
        ),
    }
}

/// A stack of its own for one row, its calls recorded.
async fn recorded_app() -> (TestApp, Recorder) {
    let recorder = Recorder::new();
    let app = spawn_app_with(|o| {
        o.round_trips = Some(recorder.clone());
        o.stream = true;
    })
    .await;
    (app, recorder)
}

/// Runs one row on a stack of its own: set-up unmeasured, then exactly the one request.
async fn measure(&(endpoint, outcome, ..): &Row) -> (Counts, Vec<Call>) {
    let (app, recorder) = recorded_app().await;
    let request = prepare(&app, endpoint, outcome).await;
    recorder.reset();
    let reply = request.send(&app).await;
    check_outcome(endpoint, outcome, &reply);
    (recorder.counts(), recorder.calls())
}

/// Runs one keyed row: the request with a key, then the same again; the counts of each,
/// and the calls of both.
async fn measure_keyed(
    &(endpoint, outcome, ..): &(&str, &str, usize, usize),
) -> ([Counts; 2], Vec<Call>) {
    let (app, recorder) = recorded_app().await;
    let request = prepare(&app, endpoint, outcome).await;
    recorder.reset();
    let first = request.send_keyed(&app, "round-trips").await;
    check_outcome(endpoint, outcome, &first);
    let counted = recorder.counts();
    let mut calls = recorder.calls();
    recorder.reset();
    let replay = request.send_keyed(&app, "round-trips").await;
    assert!(replay.replayed(), "{endpoint} {outcome}: {replay:#?}");
    assert_eq!((replay.status, &replay.body), (first.status, &first.body));
    calls.extend(recorder.calls());
    ([counted, recorder.counts()], calls)
}

/// The IAM actions `endpoint`'s calls need that its function's policy in `template.yaml`
/// lacks: a call the policy does not allow fails in production only.
fn not_allowed(endpoint: &str, calls: &[Call]) -> Vec<String> {
    let template = Template::load_default().unwrap();
    let route = template
        .routes()
        .unwrap()
        .into_iter()
        .find(|r| r.route_key() == endpoint)
        .expect("a route of the template");
    let policies =
        serde_norway::to_string(&template.function(&route.function).unwrap()["Policies"]).unwrap();
    calls
        .iter()
        .flat_map(|c| match (c.service.as_str(), c.operation.as_str()) {
            // A transaction's items are authorized one by one, each as the action it is.
            ("DynamoDB", "TransactWriteItems") => c
                .items
                .iter()
                .map(|action| format!("dynamodb:{action}"))
                .collect(),
            ("DynamoDB", op) => vec![format!("dynamodb:{op}")],
            (service, op) => vec![format!("{}:{op}", service.to_lowercase())],
        })
        .filter(|action| !policies.contains(&format!("{action}\n")))
        .map(|action| format!("{} ({endpoint}) lacks {action}", route.function))
        .collect()
}

#[tokio::test]
async fn a_keyed_request_costs_what_it_costs_without_a_key_and_its_replay_one_round_trip() {
    let measured: Vec<([Counts; 2], Vec<Call>)> = futures::stream::iter(KEYED)
        .map(measure_keyed)
        .buffered(4)
        .collect()
        .await;
    let mut mismatches = Vec::new();
    for (&(endpoint, outcome, trips, replay), ([first, again], calls)) in
        KEYED.iter().zip(&measured)
    {
        mismatches.extend(not_allowed(endpoint, calls));
        let unkeyed = TABLE
            .iter()
            .find(|r| (r.0, r.1) == (endpoint, outcome))
            .expect("every keyed row has its row in TABLE");
        if outcome.starts_with('2') {
            assert_eq!(
                trips, unkeyed.4,
                "{endpoint} {outcome}: a key costs a success nothing"
            );
        }
        let expected = [(trips, trips), (replay, replay)];
        let seen = [
            (first.dynamodb, first.round_trips),
            (again.dynamodb, again.round_trips),
        ];
        if seen != expected || first.sqs + again.sqs > 0 {
            mismatches.push(format!(
                "{endpoint} {outcome}: expected {expected:?}, saw {seen:?} (DynamoDB calls, round trips), SQS {}",
                first.sqs + again.sqs
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

fn describe(calls: &[Call]) -> String {
    calls
        .iter()
        .map(|c| {
            let end = c.end.map_or("never".to_owned(), |e| e.to_string());
            format!("    {} {} [{} → {end}]", c.service, c.operation, c.start)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn each_request_costs_the_calls_and_round_trips_of_the_table() {
    // A few stacks at a time: the rows are independent, and one after another takes long.
    let measured: Vec<(Counts, Vec<Call>)> = futures::stream::iter(TABLE)
        .map(measure)
        .buffered(4)
        .collect()
        .await;
    let mut table = String::from(
        "| endpoint | outcome | DynamoDB calls | SQS calls | round trips |\n|---|---|---|---|---|\n",
    );
    let mut mismatches = Vec::new();
    for (&(endpoint, outcome, dynamodb, sqs, round_trips), (counts, calls)) in
        TABLE.iter().zip(&measured)
    {
        table += &format!(
            "| `{endpoint}` | {outcome} | {} | {} | {} |\n",
            counts.dynamodb, counts.sqs, counts.round_trips
        );
        mismatches.extend(not_allowed(endpoint, calls));
        let expected = Counts {
            dynamodb,
            sqs,
            round_trips,
        };
        if *counts != expected {
            mismatches.push(format!(
                "{endpoint} {outcome}: expected {expected}, saw {counts}:\n{}",
                describe(calls)
            ));
        }
    }
    // What BENCHMARKS.md records, printed with `--nocapture`.
    println!("{table}");
    assert!(
        mismatches.is_empty(),
        "a request's cost changed; if on purpose, update the table here and in BENCHMARKS.md\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn every_route_of_the_template_has_a_row_and_every_row_a_route() {
    let routes: BTreeSet<String> = Template::load_default()
        .unwrap()
        .routes()
        .unwrap()
        .iter()
        .map(|r| r.route_key())
        .collect();
    let endpoints: BTreeSet<String> = TABLE.iter().map(|r| r.0.to_owned()).collect();
    let posts: BTreeSet<String> = routes
        .iter()
        .filter(|r| r.starts_with("POST "))
        .cloned()
        .collect();
    let keyed: BTreeSet<String> = KEYED.iter().map(|r| r.0.to_owned()).collect();
    assert_eq!(keyed, posts, "every POST has its keyed rows");
    assert_eq!(
        routes.difference(&endpoints).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "routes without a row"
    );
    assert_eq!(
        endpoints.difference(&routes).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "rows of no route"
    );
}

#[test]
fn no_row_is_listed_twice() {
    let mut seen = BTreeSet::new();
    for (endpoint, outcome, ..) in TABLE {
        assert!(
            seen.insert((endpoint, outcome)),
            "{endpoint} {outcome} twice"
        );
    }
}

#[tokio::test]
async fn only_the_handlers_calls_are_counted() {
    let recorder = Recorder::new();
    let app = spawn_app_with(|o| {
        o.round_trips = Some(recorder.clone());
        o.stream = true;
    })
    .await;
    // Set-up and inspection go through the working clients, and so do notify and sweep.
    app.items().await;
    app.sweep_at(shared::time::now()).await;
    assert_eq!(recorder.calls(), Vec::new());
    app.get("alice", "/jobs").await.expect(200);
    let operations: Vec<String> = recorder.calls().into_iter().map(|c| c.operation).collect();
    assert_eq!(operations, ["Query"]);
}
