//! What one WebSocket route costs in DynamoDB calls, Management API calls and round trips,
//! as `round_trips.rs` holds it for the HTTP routes; and that each call is one its
//! function's policy allows.

use local_gateway::round_trips::{Call, Recorder};
use local_gateway::template::Template;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;
use test_kit::Socket;
use test_kit::{TestApp, spawn_app_with};

/// (route key, case, DynamoDB calls, Management API calls, round trips, connections it
/// closes). A connection closed by the server runs its `$disconnect` (one DeleteItem, of
/// `ws-disconnect`'s): its call is counted with what set it off, its round trip is not
/// (it runs beside the route, as API Gateway invokes it).
type Row = (&'static str, &'static str, usize, usize, usize, usize);

#[rustfmt::skip]
const TABLE: &[Row] = &[
    // route          case                       DynamoDB  @connections  trips  closes
    ("$connect",      "the first",                   2, 0, 2, 0), // put, then the user's connections
    ("$connect",      "the sixth",                   3, 1, 3, 1), // and the oldest closed
    ("$disconnect",   "any",                         1, 0, 1, 0),
    ("sync",          "three delivered after",       1, 3, 4, 0), // posted in order, one at a time
    ("sync",          "nothing after",               1, 0, 1, 0),
    ("sync",          "an expired token",            1, 2, 2, 1), // told, then closed
    ("ping",          "any",                         0, 1, 1, 0),
    ("$default",      "any",                         0, 1, 1, 0),
];

/// Waits until every recorded call has ended and no new one started for a while: the
/// message routes run after the socket answered the client.
async fn settled(recorder: &Recorder) -> Vec<Call> {
    let mut last = usize::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let calls = recorder.calls();
        if calls.len() == last && calls.iter().all(|c| c.end.is_some()) {
            return calls;
        }
        last = calls.len();
    }
}

async fn measured(
    app: &TestApp,
    recorder: &Recorder,
    route: &str,
    case: &str,
    open: &mut Vec<Socket>,
) -> Vec<Call> {
    let token = |secs| {
        format!(
            "token={}",
            app.auth.mint("bob", chrono::Duration::seconds(secs))
        )
    };
    match (route, case) {
        ("$connect", "the first") => {
            recorder.reset();
            let socket = app.connect("bob").await;
            let calls = settled(recorder).await;
            open.push(socket);
            calls
        }
        ("$connect", "the sixth") => {
            for _ in 0..5 {
                open.push(app.connect("bob").await);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            settled(recorder).await;
            recorder.reset();
            open.push(app.connect("bob").await);
            settled(recorder).await
        }
        ("$disconnect", _) => {
            let socket = app.connect("bob").await;
            settled(recorder).await;
            recorder.reset();
            socket.close().await;
            settled(recorder).await
        }
        ("sync", "three delivered after") | ("sync", "nothing after") => {
            let mut socket = app.connect("bob").await;
            let after = if case == "nothing after" { 1_000 } else { 0 };
            settled(recorder).await;
            recorder.reset();
            let got = socket.sync(Some(after)).await;
            assert_eq!(got.len(), if after == 0 { 3 } else { 0 });
            settled(recorder).await
        }
        ("sync", "an expired token") => {
            let mut socket = app.connect_with(&token(2)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(2_100)).await;
            settled(recorder).await;
            recorder.reset();
            socket.send(json!({"action": "sync", "after": null})).await;
            assert!(socket.closed_within(test_kit::WAIT).await);
            settled(recorder).await
        }
        (action, _) => {
            let mut socket = app.connect("bob").await;
            settled(recorder).await;
            recorder.reset();
            let action = if action == "$default" {
                "shout"
            } else {
                action
            };
            socket.send(json!({"action": action})).await;
            socket.message().await;
            settled(recorder).await
        }
    }
}

fn of(calls: &[Call], service: &str) -> usize {
    calls.iter().filter(|c| c.service == service).count()
}

/// The calls `function`'s policy does not allow: DynamoDB actions by name, every
/// Management API call as `execute-api:ManageConnections`.
fn not_allowed(function: &str, calls: &[Call]) -> Vec<String> {
    let template = Template::load_default().unwrap();
    let policies =
        serde_norway::to_string(&template.function(function).unwrap()["Policies"]).unwrap();
    calls
        .iter()
        .map(|c| match c.service.as_str() {
            "DynamoDB" => format!("dynamodb:{}", c.operation),
            _ => "execute-api:ManageConnections".to_owned(),
        })
        .filter(|action| !policies.contains(&format!("{action}\n")))
        .map(|action| format!("{function} lacks {action}"))
        .collect()
}

#[tokio::test]
async fn each_socket_route_costs_what_the_table_says_and_only_what_its_policy_allows() {
    let routes = Template::load_default().unwrap().socket_routes().unwrap();
    let mut mismatches = Vec::new();
    for (route, case, dynamodb, connections, trips, closes) in TABLE {
        let recorder = Recorder::new();
        let app = spawn_app_with(|o| o.round_trips = Some(recorder.clone())).await;
        seed_three_for_bob(&app).await;
        let mut open = Vec::new();
        let calls = measured(&app, &recorder, route, case, &mut open).await;
        let function = &routes
            .iter()
            .find(|r| r.route_key == *route)
            .expect("a route of the template")
            .function;
        // The last DeleteItems are the closed connections' `$disconnect`s.
        let mut own = calls.clone();
        for _ in 0..*closes {
            let last = own.iter().rposition(|c| c.operation == "DeleteItem");
            let disconnect = own.remove(last.expect("a closed connection's $disconnect"));
            mismatches.extend(not_allowed("ws-disconnect", &[disconnect]));
        }
        mismatches.extend(not_allowed(function, &own));
        let seen = (
            of(&calls, "DynamoDB"),
            of(&calls, "ApiGatewayManagementApi"),
            local_gateway::round_trips::round_trips(&own),
        );
        if seen != (*dynamodb, *connections, *trips) {
            mismatches.push(format!(
                "{route} {case}: expected {:?}, saw {seen:?}: {:?}",
                (dynamodb, connections, trips),
                calls.iter().map(|c| &c.operation).collect::<Vec<_>>()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Three notifications in bob's inbox, delivered through the working clients (not counted).
async fn seed_three_for_bob(app: &TestApp) {
    for _ in 0..3 {
        let (job_id, ids) = test_kit::job_with_application_ids(app, 1, &["bob"]).await;
        app.hire("alice", &job_id, &ids[0]).await.expect(200);
    }
    let bodies = test_kit::outbox_bodies(app).await;
    let answer = shared::handlers::notify(app.app.clone(), test_kit::sqs_event(&bodies)).await;
    assert!(answer.batch_item_failures.is_empty());
}

#[test]
fn every_socket_route_has_a_row_and_every_row_a_route() {
    let routes: BTreeSet<String> = Template::load_default()
        .unwrap()
        .socket_routes()
        .unwrap()
        .into_iter()
        .map(|r| r.route_key)
        .collect();
    let rows: BTreeSet<String> = TABLE.iter().map(|r| r.0.to_owned()).collect();
    assert_eq!(routes, rows);
}
