//! What callers hear while a service the handlers need does not answer.

use crate::fixtures::PrivateDynamoDb;
use crate::helpers::{Reply, spawn_app_with};
use serde_json::json;
use shared::deadline::CALL as DYNAMODB_CALL_BUDGET;
use shared::http::RETRY_AFTER_SECS;
use std::time::{Duration, Instant};

async fn timed(request: impl Future<Output = Reply>) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = request.await;
    (reply, started.elapsed())
}

/// The local stack's handlers give DynamoDB what a Lambda's give it: a hung DynamoDB is a
/// 503 the client may retry, inside the call budget, not a request held open.
#[tokio::test]
async fn with_dynamodb_hanging_reads_and_writes_answer_503_in_time() {
    let dynamodb = PrivateDynamoDb::start().await;
    let endpoint = dynamodb.endpoint.clone();
    let app = spawn_app_with(|o| o.dynamodb_endpoint = endpoint).await;
    app.get("alice", "/jobs").await.expect(200);

    dynamodb.pause();
    let (list, create) = tokio::join!(
        timed(app.get("alice", "/jobs")),
        timed(app.post(
            "alice",
            "/jobs",
            json!({"title": "Logo", "budget_cents": 50_000})
        )),
    );
    dynamodb.resume();

    // Slack for the scheduling of a loaded machine; the timeouts themselves are exact.
    let slack = Duration::from_millis(1_500);
    // A read is one call. A transaction that timed out is not sent again, but read back:
    // two calls, the second one failing as the first did.
    for (what, (reply, elapsed), calls) in [("GET", list, 1), ("POST", create, 2)] {
        reply.expect_problem(503, "SERVICE_UNAVAILABLE");
        assert_eq!(
            reply.retry_after.as_deref(),
            Some(RETRY_AFTER_SECS),
            "{what}: {reply:#?}"
        );
        assert!(
            elapsed < DYNAMODB_CALL_BUDGET * calls + slack,
            "{what} /jobs answered after {elapsed:?}"
        );
    }
    app.get("alice", "/jobs").await.expect(200);
}
