//! Changes whose outcome the handler cannot know (answers lost, calls hung, reads failing)
//! are settled by reading back what they wrote, for every operation, inside the request's
//! deadline; what cannot be settled is 503, never a guess.

use serde_json::json;
use shared::store::keys;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use test_kit::str_of;
use test_kit::{
    FailingReads, Fault, act, app_with_faults, hired_contract, job_with_application, recorded,
};

/// Every read but the job's (what settling a hire reads after the job): the job's sort key
/// as a GetItem's request body holds it.
fn all_but_the_job() -> String {
    format!(r#""SK":{{"S":"{}"}}"#, keys::JOB_SK)
}

/// Every change is settled, not only a hire: an answer of 503 for a change that committed
/// would have the client's retry hear 409 about its own change.
#[tokio::test]
async fn every_change_whose_answers_are_lost_is_answered_as_committed_once() {
    let (app, injector) = app_with_faults(Fault::LostResponse).await;

    let created = injector
        .throughout(app.post(
            "alice",
            "/jobs",
            json!({"title": "Settled", "budget_cents": 100}),
        ))
        .await
        .expect(201);
    let job_id = str_of(&created, "job_id");
    assert_eq!(recorded(&app, &job_id, "created").await, 1);

    let applied = injector
        .throughout(app.post(
            "bob",
            &format!("/jobs/{job_id}/applications"),
            json!({"bid_cents": 90}),
        ))
        .await
        .expect(201);
    assert_eq!(applied["status"], "pending");
    assert_eq!(recorded(&app, &job_id, "applied").await, 1);

    let withdraw = format!(
        "/jobs/{job_id}/applications/{}/withdraw",
        str_of(&applied, "application_id")
    );
    let withdrawn = injector
        .throughout(app.post("bob", &withdraw, json!({})))
        .await
        .expect(200);
    assert_eq!(withdrawn["status"], "withdrawn");
    assert_eq!(recorded(&app, &job_id, "withdrawn").await, 1);

    let cancel = format!("/jobs/{job_id}/cancel");
    let cancelled = injector
        .throughout(app.post("alice", &cancel, json!({})))
        .await
        .expect(200);
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(recorded(&app, &job_id, "cancelled").await, 1);

    for terminal in ["release", "refund"] {
        let (job_id, contract_id) = hired_contract(&app).await;
        for action in ["fund", terminal] {
            let reply = injector
                .throughout(act(&app, "alice", &contract_id, action))
                .await
                .expect(200);
            // funded, released, refunded: the state and the trail's word for it.
            let done = format!("{}ed", action.strip_suffix('e').unwrap_or(action));
            assert_eq!(reply["status"], done.as_str());
            assert_eq!(recorded(&app, &job_id, &done).await, 1, "{action}");
        }
    }
}

/// A failed read of the contract is not "no contract": taken for one, the job the caller's
/// own hire filled would answer 409 `JOB_NOT_OPEN`.
#[tokio::test]
async fn a_hire_whose_outcome_cannot_be_read_back_is_503_never_409() {
    let (app, injector) = app_with_faults(Fault::LostResponse).await;
    let (job_id, application_id) = job_with_application(&app).await;
    *injector.failing_reads.lock().unwrap() = Some(FailingReads {
        fault: Fault::Fail,
        unless: all_but_the_job(),
    });

    let reply = injector
        .throughout(app.hire("alice", &job_id, &application_id))
        .await;

    reply.expect_problem(503, "SERVICE_UNAVAILABLE");
    assert!(injector.failed_reads.load(Ordering::SeqCst) > 0);
    // It did commit: the retry of the client is what tells it so.
    assert_eq!(app.contracts_of_job(&job_id).await, 1);
}

/// Under overload a hire's transaction can commit behind a queue longer than its call's
/// budget, and its read-back queue behind the same backlog. A read that runs out its budget
/// is made again while the deadline has room, rather than answering 503 for a hire that
/// committed.
#[tokio::test]
async fn a_committed_hire_whose_read_back_times_out_once_is_200() {
    let (app, injector) = app_with_faults(Fault::LostResponse).await;
    let (job_id, application_id) = job_with_application(&app).await;
    // The first read-back's three attempts hang, each to its 0.8 s timeout.
    injector.read_plan.lock().unwrap().extend([Fault::Hang; 3]);
    let reads = injector.reads.load(Ordering::SeqCst);

    let reply = injector
        .throughout(app.hire("alice", &job_id, &application_id))
        .await;

    let hired = reply.expect(200);
    assert_eq!(hired["application"]["status"], "hired");
    // Three attempts at the job, each timing out; then the job, and the hire's first audit
    // record.
    assert_eq!(injector.reads.load(Ordering::SeqCst) - reads, 5);
    assert_eq!(app.contracts_of_job(&job_id).await, 1);
}

/// Only "not committed" needs the first item read back: its audit record alone says that
/// the change committed. A first item that cannot be read sends it looking for the record,
/// rather than answering 503.
#[tokio::test]
async fn a_committed_hire_whose_job_cannot_be_read_back_is_found_by_its_record() {
    let (app, injector) = app_with_faults(Fault::LostResponse).await;
    let (job_id, application_id) = job_with_application(&app).await;
    *injector.failing_reads.lock().unwrap() = Some(FailingReads {
        fault: Fault::Fail,
        unless: keys::EVENT_SK_PREFIX.to_owned(),
    });

    let reply = injector
        .throughout(app.hire("alice", &job_id, &application_id))
        .await;

    reply.expect(200);
    assert!(injector.failed_reads.load(Ordering::SeqCst) > 0);
    *injector.failing_reads.lock().unwrap() = None;
    assert_eq!(app.contracts_of_job(&job_id).await, 1);
}

/// Conflicts and unknown outcomes are counted apart: after a conflict, a lost answer still
/// gets its resend, and an apply that committed answers 201, not 503.
#[tokio::test]
async fn a_conflict_then_a_lost_answer_still_gets_its_resend() {
    let (app, injector) = app_with_faults(Fault::LostResponse).await;
    let job_id = str_of(&app.create_job("alice", json!({})).await, "job_id");
    // The SDK itself tries a 500 three times; each attempt of the second send commits or
    // repeats the commit.
    injector.plan.lock().unwrap().extend([
        Fault::Conflict,
        Fault::LostResponse,
        Fault::LostResponse,
        Fault::LostResponse,
    ]);
    let before = injector.transactions.load(Ordering::SeqCst);

    app.apply(&job_id, "bob", 500).await;

    assert_eq!(
        injector.transactions.load(Ordering::SeqCst) - before,
        5,
        "a conflict, three lost attempts, then the same token once more"
    );
    assert_eq!(recorded(&app, &job_id, "applied").await, 1);
}

/// A hung transaction: its call runs out its 2.5 s budget. It is not sent again (a resend
/// would wait as long) but settled by reading back: not committed and the job still open,
/// the caller hears 503, in one call's budget and the two reads.
#[tokio::test]
async fn a_hire_whose_transaction_hangs_is_settled_without_a_resend() {
    let (app, injector) = app_with_faults(Fault::Hang).await;
    let (job_id, application_id) = job_with_application(&app).await;
    injector.remaining.store(1_000, Ordering::SeqCst);
    let (reads, sends) = (
        injector.reads.load(Ordering::SeqCst),
        injector.transactions.load(Ordering::SeqCst),
    );

    let started = Instant::now();
    let reply = app.hire("alice", &job_id, &application_id).await;
    let took = started.elapsed();

    reply.expect_problem(503, "SERVICE_UNAVAILABLE");
    assert!(
        took < shared::deadline::CALL + Duration::from_millis(1_500),
        "answered after {took:?}"
    );
    // The SDK's own attempts inside the one call, no resend by the store.
    assert_eq!(injector.transactions.load(Ordering::SeqCst) - sends, 3);
    // The job, then the audit record that would say it committed.
    assert_eq!(injector.reads.load(Ordering::SeqCst) - reads, 2);
    assert_eq!(app.contracts_of_job(&job_id).await, 0);
}

/// A slow DynamoDB that loses answers could run a hire's read, two sends and a settle of two
/// reads past the function's 10 s, where the platform kills it and the client sees a raw
/// 5xx for a change that may have committed. Nothing is started that cannot end in time:
/// here the settle is skipped and the answer is 503.
#[tokio::test]
async fn a_slow_hire_starts_nothing_it_cannot_finish_before_the_deadline() {
    let (app, injector) = app_with_faults(Fault::Fail).await;
    let (job_id, application_id) = job_with_application(&app).await;
    injector.remaining.store(1_000, Ordering::SeqCst);
    *injector.delay.lock().unwrap() = Duration::from_millis(700);
    let reads = injector.reads.load(Ordering::SeqCst);

    let started = Instant::now();
    let reply = app.hire("alice", &job_id, &application_id).await;
    let took = started.elapsed();

    reply.expect_problem(503, "SERVICE_UNAVAILABLE");
    assert!(
        took < shared::deadline::DEFAULT_BUDGET - Duration::from_secs(2),
        "answered after {took:?}"
    );
    assert_eq!(
        injector.reads.load(Ordering::SeqCst) - reads,
        0,
        "a read, two sends of three slow attempts each: no time left to settle"
    );
    assert_eq!(app.contracts_of_job(&job_id).await, 0);
}

/// A keyed change's record alone says whether it committed, so its outcome is settled as
/// long as that one read fits before the deadline, even where the reads an unkeyed change
/// needs would not: a slow DynamoDB that loses the answers of an application sent with an
/// `Idempotency-Key` leaves time for one read, and the applicant hears 201, not a 503 for
/// an application that committed.
#[tokio::test]
async fn a_keyed_change_is_settled_by_its_record_when_one_read_fits() {
    let (app, injector) = app_with_faults(Fault::LostResponse).await;
    let (job_id, _) = job_with_application(&app).await;
    injector.remaining.store(1_000, Ordering::SeqCst);
    *injector.delay.lock().unwrap() = Duration::from_millis(700);

    let started = Instant::now();
    let reply = app
        .post_keyed(
            "carol",
            &format!("/jobs/{job_id}/applications"),
            json!({"bid_cents": 90}),
            "slow-and-lost",
        )
        .await;
    let took = started.elapsed();

    assert_eq!(reply.status, 201, "{reply:#?} after {took:?}");
    assert!(!reply.replayed(), "its own answer, not a replay");
    assert!(took < shared::deadline::DEFAULT_BUDGET);
    *injector.delay.lock().unwrap() = Duration::ZERO;
    injector.remaining.store(0, Ordering::SeqCst);
    assert_eq!(
        recorded(&app, &job_id, "applied").await,
        2,
        "bob's and carol's, once each"
    );
}
