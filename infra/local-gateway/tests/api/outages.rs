//! What callers hear while a service the handlers need does not answer.

use futures::future::join_all;
use serde_json::json;
use shared::deadline::CALL as DYNAMODB_CALL_BUDGET;
use shared::http::RETRY_AFTER_SECS;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use test_kit::{FailingReads, Fault, PrivateDynamoDb, app_with_faults};
use test_kit::{Reply, spawn_app_with, str_of};

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
    // its first item, then, that read failing too, its audit record, which alone can still
    // tell that it committed. Three calls, each failing as the first did.
    for (what, (reply, elapsed), calls) in [("GET", list, 1), ("POST", create, 3)] {
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

/// The SDK's retry quota (its token bucket) is one per process, and on Lambda a process
/// serves one request at a time. Concurrent requests over one quota would starve each
/// other: a hundred reads retrying after timeouts hold all of it (ten tokens a retry, 500
/// in all), and a request made meanwhile would not be retried after its failed attempts,
/// answering 503 where a Lambda retries and answers 201.
#[tokio::test]
async fn requests_at_once_do_not_share_one_retry_quota() {
    let (app, injector) = app_with_faults(Fault::Fail).await;
    let stuck = str_of(&app.create_job("alice", json!({})).await, "job_id");
    let other = str_of(&app.create_job("alice", json!({})).await, "job_id");
    // Every read hangs but those of the other job.
    *injector.failing_reads.lock().unwrap() = Some(FailingReads {
        fault: Fault::Hang,
        unless: other.clone(),
    });

    let stuck_path = format!("/jobs/{stuck}");
    let hanging = join_all((0..100).map(|_| app.get("bob", &stuck_path)));
    let apply = async {
        // Past the first attempts' timeout: each read now holds a retry's ten tokens.
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        // A call of three failed attempts, then the store's one resend (same token), whose
        // SDK retries after one more failed attempt.
        injector.plan.lock().unwrap().extend([Fault::Fail; 4]);
        let sent = injector.transactions.load(Ordering::SeqCst);
        let reply = app
            .post(
                "carol",
                &format!("/jobs/{other}/applications"),
                json!({"bid_cents": 100}),
            )
            .await;
        (reply, injector.transactions.load(Ordering::SeqCst) - sent)
    };
    let (hung, (applied, sent)) = tokio::join!(hanging, apply);

    applied.expect(201);
    assert_eq!(sent, 5, "three attempts, then two of the resend");
    for reply in hung {
        reply.expect_problem(503, "SERVICE_UNAVAILABLE");
    }
}
