//! The sample events of `infra/events/`, one per function (for `sam local invoke -e`).

use crate::{TestApp, s};
use serde_json::Value;
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
    ("suggest-jobs", 200, ""),
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
        assert!(
            body["items"].is_array() || body["suggestions"].is_array(),
            "{function}: {body}"
        );
    } else {
        assert!(body["job_id"].is_string(), "{function}: {body}");
    }
}

/// The index sample posts a job the table does not hold: `index` leaves only its tombstone.
pub async fn check_index_sample_applied(app: &TestApp) {
    let states = app.items_with_sk(shared::store::keys::FIND_STATE_SK).await;
    assert_eq!(states.len(), 1, "index sample left one discovery state");
    assert!(states[0].contains_key("closed"));
}

/// The notification the notify sample delivers.
pub async fn check_notify_sample_applied(app: &TestApp) {
    let inbox = app.inbox("alice").await;
    assert_eq!(inbox.len(), 1, "notify sample delivered one notification");
    assert_eq!(s(&inbox[0], "type"), "application_received");
}
