//! `infra/events/` holds one sample event per function (for `sam local invoke -e`). Each is
//! fed to its handler here, and to its real binary through a Lambda Runtime API emulator in
//! `runtime_api.rs`, so the samples stay valid and every `main.rs` is exercised.

use crate::helpers::{TestApp, spawn_app};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

pub fn sample(function: &str) -> String {
    std::fs::read_to_string(events_dir().join(format!("{function}.json")))
        .unwrap_or_else(|e| panic!("infra/events/{function}.json: {e}"))
}

/// What each sample does to an empty table: the status and problem code of an HTTP
/// function, proving its route, path parameters, claims and body all arrived.
pub const EXPECTED: &[(&str, u16, &str)] = &[
    ("create-job", 201, ""),
    ("list-jobs", 200, ""),
    ("get-job", 404, "JOB_NOT_FOUND"),
    ("cancel-job", 404, "JOB_NOT_FOUND"),
    ("apply", 404, "JOB_NOT_FOUND"),
    ("list-applications", 404, "JOB_NOT_FOUND"),
    ("withdraw-application", 404, "JOB_NOT_FOUND"),
    ("hire", 404, "JOB_NOT_FOUND"),
    ("list-notifications", 200, ""),
    ("read-notification", 404, "NOTIFICATION_NOT_FOUND"),
    ("list-my-applications", 200, ""),
    ("get-contract", 404, "CONTRACT_NOT_FOUND"),
    ("fund-contract", 404, "CONTRACT_NOT_FOUND"),
    ("release-contract", 404, "CONTRACT_NOT_FOUND"),
    ("refund-contract", 404, "CONTRACT_NOT_FOUND"),
    ("list-my-contracts", 200, ""),
    ("list-job-events", 404, "JOB_NOT_FOUND"),
];

/// Checks an HTTP function's answer (status and problem code) against [`EXPECTED`].
pub fn check_http(function: &str, status: u16, body: &str) {
    let (_, want_status, want_code) = EXPECTED
        .iter()
        .find(|(n, _, _)| *n == function)
        .unwrap_or_else(|| panic!("no expectation for {function}"));
    let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    assert_eq!(status, *want_status, "{function}: {body}");
    if !want_code.is_empty() {
        assert_eq!(body["code"], *want_code, "{function}");
    } else if status == 200 {
        assert!(body["items"].is_array(), "{function}: {body}");
    } else {
        assert!(body["job_id"].is_string(), "{function}: {body}");
    }
}

/// The notification the notify sample delivers.
pub async fn check_notify_sample_applied(app: &TestApp) {
    let inbox = app.inbox("alice").await;
    assert_eq!(inbox.len(), 1, "notify sample delivered one notification");
    assert_eq!(crate::helpers::s(&inbox[0], "type"), "application_received");
}

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
async fn the_sqs_and_schedule_samples_run_through_notify_and_sweep() {
    let app = spawn_app().await;
    let batch: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_str(&sample("notify")).unwrap();
    let response = shared::handlers::notify(app.app.clone(), batch).await;
    assert!(response.batch_item_failures.is_empty());
    check_notify_sample_applied(&app).await;

    let scheduled: aws_lambda_events::event::eventbridge::EventBridgeEvent =
        serde_json::from_str(&sample("sweep")).unwrap();
    assert_eq!(scheduled.detail_type, "Scheduled Event");
    let report = app.sweep_at(shared::time::now()).await;
    assert_eq!(report, Default::default());
}
