//! Applying reads the job but neither writes nor conditions on it, so applications to one
//! job never conflict. An application that commits after its job left `open` (a cancel, the
//! last opening's hire, the deadline) ends `rejected`, its applicant told once, by the
//! asynchronous path: the close's fan-out, or `notify` applying its arrival when the
//! fan-out ran first. Nothing is ever hired on a job that is not open. Each test ends with
//! the audit.

use crate::assert_audit_clean;
use futures::future::join_all;
use serde_json::json;
use shared::domain::transitions::Apply;
use shared::domain::{Bid, Job, JobId, UserId};
use test_kit::{Item, TestApp, key, s, spawn_app_with, str_of};
use test_kit::{freelancers, job_with_application_ids};

async fn spawn() -> TestApp {
    spawn_app_with(|o| o.stream = true).await
}

async fn job_as_read(app: &TestApp, job_id: &str) -> Job {
    app.app
        .store
        .job(JobId::parse(job_id).unwrap())
        .await
        .unwrap()
        .expect("the job")
}

/// Commits `freelancer`'s application on `job` as it was read, whatever it is now: what a
/// request that read the job open does when its write lands after the job closed.
async fn apply_on(app: &TestApp, job: Job, freelancer: &str) -> String {
    let apply = Apply {
        job,
        freelancer: UserId::parse(freelancer).unwrap(),
        bid: Bid::parse(json!({"bid_cents": 900}).as_object().unwrap()).unwrap(),
    };
    let committed = app
        .app
        .store
        .run(apply)
        .await
        .expect("nothing on the job stops it");
    committed.answer.application_id.to_string()
}

fn of_type<'a>(inbox: &'a [Item], kind: &str) -> Vec<&'a Item> {
    inbox.iter().filter(|n| s(n, "type") == kind).collect()
}

async fn application(app: &TestApp, job_id: &str, application_id: &str) -> Item {
    app.item(&key::job(job_id), &key::application(application_id))
        .await
        .expect("the application")
}

/// A job that left `open` by `close`, whose fan-out ran before `late` committed an
/// application on the job as read while open.
async fn closed_then_applied(
    close: impl AsyncFnOnce(&TestApp, &str, &[String]),
) -> (TestApp, String, String) {
    let app = spawn().await;
    let (job_id, ids) = job_with_application_ids(&app, 1, &["bob", "carol"]).await;
    let open = job_as_read(&app, &job_id).await;
    close(&app, &job_id, &ids).await;
    // The close's fan-out runs first: it cannot see what is not written yet.
    app.drain_queue().await;
    let late = apply_on(&app, open, "dave").await;
    assert_eq!(
        s(&application(&app, &job_id, &late).await, "status"),
        "pending"
    );
    app.drain_queue().await;
    (app, job_id, late)
}

async fn assert_rejected_and_told_once(app: &TestApp, job_id: &str, late: &str, reason: &str) {
    assert_eq!(
        s(&application(app, job_id, late).await, "status"),
        "rejected"
    );
    let inbox = app.inbox("dave").await;
    let rejected = of_type(&inbox, "application_rejected");
    assert_eq!(rejected.len(), 1, "{inbox:?}");
    assert!(s(rejected[0], "message").contains(reason), "{rejected:?}");
    // Applying it again (a redelivery) changes nothing.
    app.drain_queue().await;
    assert_eq!(
        of_type(&app.inbox("dave").await, "application_rejected").len(),
        1
    );
}

#[tokio::test]
async fn an_application_committed_after_a_cancel_and_its_fan_out_is_rejected_once() {
    let (app, job_id, late) = closed_then_applied(async |app, job_id, _| {
        let path = format!("/jobs/{job_id}/cancel");
        app.post("alice", &path, json!({})).await.expect(200);
    })
    .await;
    assert_rejected_and_told_once(&app, &job_id, &late, "cancelled").await;
    assert_audit_clean(&app).await;
}

#[tokio::test]
async fn an_application_committed_after_the_last_openings_hire_is_rejected_once() {
    let (app, job_id, late) = closed_then_applied(async |app, job_id, ids| {
        app.hire("alice", job_id, &ids[0]).await.expect(200);
    })
    .await;
    assert_rejected_and_told_once(&app, &job_id, &late, "filled").await;
    // It can never be hired: the hire's conditions say so.
    app.hire("alice", &job_id, &late)
        .await
        .expect_problem(409, "JOB_NOT_OPEN");
    assert_audit_clean(&app).await;
}

#[tokio::test]
async fn an_application_committed_across_the_deadline_is_rejected_before_any_sweep() {
    let (app, job_id, late) = closed_then_applied(async |app, job_id, _| {
        app.time_travel_past_deadline(job_id).await;
    })
    .await;
    assert_rejected_and_told_once(&app, &job_id, &late, "expired").await;
    // The sweeper's expiry and its fan-out later reject nothing twice.
    let report = app.sweep_at(shared::time::now()).await;
    assert_eq!(report.expired_jobs, 1);
    app.drain_queue().await;
    assert_eq!(
        of_type(&app.inbox("dave").await, "application_rejected").len(),
        1
    );
    assert_audit_clean(&app).await;
}

/// Applications racing a cancel for real: whichever side of the cancel each commits on, each
/// ends rejected and its applicant is told exactly once.
#[tokio::test]
async fn applications_racing_a_cancel_all_end_rejected_each_told_once() {
    let app = spawn().await;
    let job_id = str_of(&app.create_job("alice", json!({})).await, "job_id");
    let applicants = freelancers("r", 30);
    let cancel_path = format!("/jobs/{job_id}/cancel");
    let cancel = app.post("alice", &cancel_path, json!({}));
    let apply_path = format!("/jobs/{job_id}/applications");
    let applies = join_all(
        applicants
            .iter()
            .map(|name| app.post(name, &apply_path, json!({"bid_cents": 700}))),
    );
    let (cancel, applies) = tokio::join!(cancel, applies);
    cancel.expect(200);
    let mut accepted = Vec::new();
    for (name, reply) in applicants.iter().zip(&applies) {
        match reply.status {
            201 => accepted.push(name),
            409 => assert_eq!(reply.body["code"], "JOB_NOT_OPEN", "{reply:?}"),
            _ => panic!("{name}: {reply:?}"),
        }
    }
    app.drain_queue().await;
    app.drain_queue().await;
    for name in &accepted {
        let told = of_type(&app.inbox(name).await, "application_rejected").len();
        assert_eq!(told, 1, "{name} told {told} times");
    }
    let statuses = app.application_statuses().await;
    assert_eq!(statuses.len(), accepted.len());
    assert!(statuses.iter().all(|st| st == "rejected"), "{statuses:?}");
    assert_audit_clean(&app).await;
}
