//! The metrics counted where the work is done, off the happy path too: transactions sent
//! again after a conflict, deliveries that were duplicates, fan-out rejections and a
//! sweep's work. (Every binary's own line, with its cold start, is checked in
//! `runtime_api.rs`.)

use serde_json::json;
use shared::domain::transitions::Apply;
use shared::domain::{Bid, JobId, UserId};
use shared::store::Store;
use std::time::{Duration, Instant};
use test_kit::{
    Fault, app_with_faults, counted, job_with_application_ids, outbox_bodies, sqs_event,
};
use test_kit::{spawn_app, str_of};

#[tokio::test]
async fn a_transaction_sent_again_after_conflicts_and_throttling_counts_each_retry_by_cause() {
    let (app, injector) = app_with_faults(Fault::LostResponse).await;
    let job_id = str_of(&app.create_job("alice", json!({})).await, "job_id");
    let store = Store::new(injector.client(), app.table.clone());
    let job = store
        .job(JobId::parse(&job_id).unwrap())
        .await
        .unwrap()
        .unwrap();
    injector
        .plan
        .lock()
        .unwrap()
        .extend([Fault::Conflict, Fault::Throttled, Fault::Conflict]);

    let apply = Apply {
        job,
        freelancer: UserId::parse("bob").unwrap(),
        bid: Bid::parse(json!({"bid_cents": 500}).as_object().unwrap()).unwrap(),
    };
    let (applied, line) = counted(store.run(apply)).await;

    assert!(applied.is_ok(), "{applied:?}");
    assert_eq!(line["ConflictsRetried"], 2.0, "{line}");
    assert_eq!(line["ThrottlesRetried"], 1.0, "{line}");

    // Conflicts to the end: six sends, five of them sent again; the last is given up.
    let job = store
        .job(JobId::parse(&job_id).unwrap())
        .await
        .unwrap()
        .unwrap();
    injector.plan.lock().unwrap().extend([Fault::Conflict; 6]);
    let apply = Apply {
        job,
        freelancer: UserId::parse("carol").unwrap(),
        bid: Bid::parse(json!({"bid_cents": 500}).as_object().unwrap()).unwrap(),
    };
    let (starved, line) = counted(store.run(apply)).await;
    assert!(starved.is_err(), "{starved:?}");
    assert_eq!(line["ConflictsRetried"], 5.0, "{line}");
}

#[tokio::test]
async fn notify_counts_what_it_applied_the_duplicates_and_the_fan_out() {
    let app = spawn_app().await;
    let (job_id, _) = job_with_application_ids(&app, 1, &["bob", "carol"]).await;
    app.post("alice", &format!("/jobs/{job_id}/cancel"), json!({}))
        .await
        .expect(200);
    let batch = sqs_event(&outbox_bodies(&app).await);

    let (first, applied) = counted(shared::handlers::notify(app.app.clone(), batch.clone())).await;
    let (_, again) = counted(shared::handlers::notify(app.app.clone(), batch)).await;

    assert!(first.batch_item_failures.is_empty(), "{first:?}");
    // Alice hears of both applications; the cancel rejects both pending applications.
    assert_eq!(applied["NotificationsApplied"], 2.0, "{applied}");
    assert_eq!(applied["FanOutRejections"], 2.0, "{applied}");
    assert!(applied.get("DuplicatesSkipped").is_none(), "{applied}");
    // Redelivered: nothing new, both notifications duplicates, nobody left to reject.
    assert_eq!(again["DuplicatesSkipped"], 2.0, "{again}");
    assert!(again.get("NotificationsApplied").is_none(), "{again}");
    assert!(again.get("FanOutRejections").is_none(), "{again}");
}

#[tokio::test]
async fn a_sweep_counts_its_expiries_its_redrives_and_the_oldest_due_event() {
    let app = spawn_app().await;
    let (job_id, _) = job_with_application_ids(&app, 1, &["bob"]).await;
    app.time_travel_past_deadline(&job_id).await;
    // An hour on: the expiry is due, and the application's event long past its redrive.
    let later = shared::time::now() + chrono::Duration::hours(1);

    let (report, line) = counted(shared::handlers::sweep(
        &app.app,
        later,
        Instant::now() + Duration::from_secs(30),
    ))
    .await;

    let report = report.unwrap();
    assert_eq!(report.expired_jobs, 1);
    assert!(report.redriven >= 1, "{report:?}");
    assert_eq!(line["SweepExpiredJobs"], 1.0, "{line}");
    assert_eq!(line["SweepRedriven"], report.redriven as f64, "{line}");
    let oldest = line["OutboxOldestDueAge"].as_f64().unwrap();
    assert!((3_500.0..=3_700.0).contains(&oldest), "{line}");
    assert_eq!(line["SweepFailed"], 0.0, "{line}");
}
