//! `infra/events/` holds one sample event per function (for `sam local invoke -e`). Each is
//! fed to its handler here, and to its real binary through a Lambda Runtime API emulator in
//! `runtime_api.rs`, so the samples stay valid and every `main.rs` is exercised.

use std::collections::BTreeSet;
use test_kit::check_index_sample_applied;
use test_kit::spawn_app;
use test_kit::{EXPECTED, check_http, check_notify_sample_applied, events_dir, sample};

#[test]
fn every_function_has_a_sample_and_every_sample_a_function() {
    let samples: BTreeSet<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let functions = local_gateway::template::Template::load_default()
        .unwrap()
        .functions()
        .unwrap();
    assert_eq!(samples, functions.into_iter().collect::<BTreeSet<_>>());
    let http: BTreeSet<&str> = shared::handlers::HTTP_HANDLERS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let expected: BTreeSet<&str> = EXPECTED.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(http, expected);
}

#[tokio::test]
async fn each_http_sample_runs_through_its_handler() {
    for (function, handler) in shared::handlers::HTTP_HANDLERS {
        let app = spawn_app().await;
        let request = lambda_http::request::from_str(&sample(function))
            .unwrap_or_else(|e| panic!("{function}: {e}"));
        let response = shared::runtime::respond(app.app.clone(), request, handler).await;
        let status = response.status().as_u16();
        let body = match response.body() {
            lambda_http::Body::Text(t) => t.clone(),
            _ => String::new(),
        };
        check_http(function, status, &body);
    }
}

#[tokio::test]
async fn the_sqs_and_schedule_samples_run_through_notify_index_and_sweep() {
    let app = spawn_app().await;
    let batch: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_str(&sample("notify")).unwrap();
    let response = shared::handlers::notify(app.app.clone(), batch).await;
    assert!(response.batch_item_failures.is_empty());
    check_notify_sample_applied(&app).await;
    let batch: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_str(&sample("index")).unwrap();
    let response = shared::handlers::index(app.app.clone(), batch).await;
    assert!(response.batch_item_failures.is_empty());
    check_index_sample_applied(&app).await;

    let tick: aws_lambda_events::event::eventbridge::EventBridgeEvent =
        serde_json::from_str(&sample("sweep")).unwrap();
    assert_eq!(tick.detail_type, "Scheduled Event");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(50);
    let report = shared::handlers::sweep::scheduled(&app.app, tick, deadline)
        .await
        .unwrap();
    // Nothing to do, and it read the whole outbox index: nothing is overdue.
    assert_eq!(
        report,
        shared::handlers::sweep::SweepReport {
            oldest_due_secs: Some(0),
            ..Default::default()
        }
    );
}

#[tokio::test]
async fn the_websocket_samples_run_through_the_authorizer_and_their_routes() {
    use shared::handlers::sockets::{SOCKET_HANDLERS, SocketRequest, authorize};
    let app = spawn_app().await;
    let event = serde_json::from_str(&sample("ws-authorize")).unwrap();
    let verifier = shared::auth::Verifier::new(app.auth.socket_config());
    let answer = authorize(&verifier, event).await.unwrap();
    let effect =
        serde_json::to_value(&answer.policy_document.statement[0]).unwrap()["Effect"].clone();
    assert_eq!(effect, "Deny", "the sample's token is no valid token");

    for (function, handler) in SOCKET_HANDLERS {
        let request: SocketRequest =
            serde_json::from_str(&sample(function)).unwrap_or_else(|e| panic!("{function}: {e}"));
        let answer = handler(app.app.clone(), request).await;
        assert_eq!(answer.status_code, 200, "{function}");
        // The connect sample records alice's connection and the disconnect sample, run
        // next, removes it.
        let recorded = app.connection_ids("alice").await;
        match *function {
            "ws-connect" => assert_eq!(recorded, ["ZeT2mdYfIAMCJ-g="]),
            "ws-disconnect" => assert!(recorded.is_empty()),
            _ => {}
        }
    }
}
