//! What one request costs in DynamoDB calls, SQS calls and round trips, per endpoint and
//! outcome. The next changes are to cut these, so a count that moves, up or down, must be
//! seen and written down here (and in BENCHMARKS.md), never drift unnoticed.

use futures::StreamExt;
use local_gateway::round_trips::{Call, Counts, Recorder};
use test_kit::{Reply, TestApp, spawn_app_with};

mod cases;

use cases::*;
use local_gateway::template::Template;
use serde_json::Value;
use std::collections::BTreeSet;

/// (case, DynamoDB calls, SQS calls, round trips). Calls made at once are one round trip.
type Row = (&'static Case, usize, usize, usize);

#[rustfmt::skip]
const TABLE: &[Row] = &[
    // case                        DynamoDB SQS trips
    (&CREATE_JOB,                  1, 0, 1),
    (&LIST_JOBS,                   1, 0, 1),
    (&SEARCH_JOBS,                 5, 0, 2), // four shards at once, then the page
    (&SEARCH_BOARD,                1, 0, 1),
    (&SEARCH_INVALID,              0, 0, 0),
    (&SEARCH_OTHER_STATUS,         0, 0, 0),
    (&SUGGEST,                     1, 0, 1),
    (&SUGGEST_SHORT,               0, 0, 0),
    (&GET_JOB,                     1, 0, 1),
    (&GET_JOB_AS_OWNER,            2, 0, 2), // the Query reads the job again
    (&GET_JOB_MISSING,             1, 0, 1),
    (&CANCEL,                      2, 0, 2),
    (&CANCEL_CLOSED,               1, 0, 1),
    (&CANCEL_MISSING,              1, 0, 1),
    (&APPLY,                       2, 0, 2),
    (&APPLY_CLOSED,                1, 0, 1),
    (&APPLY_TWICE,                 2, 0, 2), // the guard's condition decides
    (&APPLY_MISSING,               1, 0, 1),
    (&LIST_APPLICATIONS,           2, 0, 2),
    (&LIST_APPLICATIONS_MISSING,   1, 0, 1),
    (&WITHDRAW,                    2, 0, 2),
    (&WITHDRAW_TWICE,              1, 0, 1),
    (&WITHDRAW_MISSING,            1, 0, 1),
    (&HIRE_LAST_OPENING,           2, 0, 2),
    (&HIRE_OPENINGS_LEFT,          2, 0, 2),
    (&HIRE_FILLED,                 1, 0, 1),
    (&HIRE_WITHDRAWN,              2, 0, 2), // the write decides: JOB_NOT_OPEN wins
    (&HIRE_MISSING,                1, 0, 1),
    (&EVENTS_AS_OWNER,             2, 0, 2),
    (&EVENTS_AS_HIRED,             4, 0, 4), // guard, then its application
    (&EVENTS_MISSING,              1, 0, 1),
    (&MY_APPLICATIONS,             1, 0, 1),
    (&MY_NOTIFICATIONS,            1, 0, 1),
    (&READ,                        2, 0, 2),
    (&READ_MISSING,                1, 0, 1),
    (&GET_CONTRACT,                1, 0, 1),
    (&GET_CONTRACT_MISSING,        1, 0, 1),
    (&FUND,                        2, 0, 2),
    (&FUND_TWICE,                  1, 0, 1),
    (&FUND_MISSING,                1, 0, 1),
    (&RELEASE,                     2, 0, 2),
    (&RELEASE_UNFUNDED,            1, 0, 1),
    (&RELEASE_MISSING,             1, 0, 1),
    (&REFUND,                      2, 0, 2),
    (&REFUND_UNFUNDED,             1, 0, 1),
    (&REFUND_MISSING,              1, 0, 1),
    (&MY_CONTRACTS,                2, 0, 2),
];

/// Every POST sent with an `Idempotency-Key`, then sent again with it (the replay): (endpoint,
/// outcome, round trips, round trips of the replay). A success costs what it costs without a
/// key, its record riding in its one write; a refusal about state is kept in a write of its
/// own; a replay is the one read, which finds the record.
#[rustfmt::skip]
const KEYED: &[(&Case, usize, usize)] = &[
    // case                        trips replay
    (&CREATE_JOB,                  1, 1), // its write, cancelled by the record
    (&CANCEL,                      2, 1),
    (&CANCEL_CLOSED,               2, 1),
    (&CANCEL_MISSING,              2, 1),
    (&APPLY,                       2, 1),
    (&APPLY_CLOSED,                2, 1),
    (&APPLY_TWICE,                 3, 1),
    (&APPLY_MISSING,               2, 1),
    (&WITHDRAW,                    2, 1),
    (&WITHDRAW_TWICE,              2, 1),
    (&WITHDRAW_MISSING,            2, 1),
    (&HIRE_LAST_OPENING,           2, 1),
    (&HIRE_OPENINGS_LEFT,          2, 1),
    (&HIRE_FILLED,                 2, 1),
    (&HIRE_WITHDRAWN,              3, 1),
    (&HIRE_MISSING,                2, 1),
    (&READ,                        2, 1),
    (&READ_MISSING,                2, 1),
    (&FUND,                        2, 1),
    (&FUND_TWICE,                  2, 1),
    (&FUND_MISSING,                2, 1),
    (&RELEASE,                     2, 1),
    (&RELEASE_UNFUNDED,            2, 1),
    (&RELEASE_MISSING,             2, 1),
    (&REFUND,                      2, 1),
    (&REFUND_UNFUNDED,             2, 1),
    (&REFUND_MISSING,              2, 1),
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
async fn measure(&(case, ..): &Row) -> (Counts, Vec<Call>) {
    let Case {
        endpoint, outcome, ..
    } = case;
    let (app, recorder) = recorded_app().await;
    let request = (case.prepare)(&app).await;
    recorder.reset();
    let reply = request.send(&app).await;
    check_outcome(endpoint, outcome, &reply);
    (recorder.counts(), recorder.calls())
}

/// Runs one keyed row: the request with a key, then the same again; the counts of each,
/// and the calls of both.
async fn measure_keyed(&(case, ..): &(&Case, usize, usize)) -> ([Counts; 2], Vec<Call>) {
    let Case {
        endpoint, outcome, ..
    } = case;
    let (app, recorder) = recorded_app().await;
    let request = (case.prepare)(&app).await;
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
    for (&(case, trips, replay), ([first, again], calls)) in KEYED.iter().zip(&measured) {
        let Case {
            endpoint, outcome, ..
        } = case;
        mismatches.extend(not_allowed(endpoint, calls));
        let unkeyed = TABLE
            .iter()
            .find(|r| std::ptr::eq(r.0, case))
            .expect("every keyed row has its row in TABLE");
        if outcome.starts_with('2') {
            assert_eq!(
                trips, unkeyed.3,
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
    for (&(case, dynamodb, sqs, round_trips), (counts, calls)) in TABLE.iter().zip(&measured) {
        let Case {
            endpoint, outcome, ..
        } = case;
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
    let endpoints: BTreeSet<String> = TABLE.iter().map(|r| r.0.endpoint.to_owned()).collect();
    let posts: BTreeSet<String> = routes
        .iter()
        .filter(|r| r.starts_with("POST "))
        .cloned()
        .collect();
    let keyed: BTreeSet<String> = KEYED.iter().map(|r| r.0.endpoint.to_owned()).collect();
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
    for (
        Case {
            endpoint, outcome, ..
        },
        ..,
    ) in TABLE
    {
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
