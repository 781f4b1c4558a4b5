//! Real concurrency: many requests in flight at once against DynamoDB Local, then the final
//! state of the table, not only the status codes.

use futures::future::join_all;
use serde_json::json;
use shared::store::keys;
use std::collections::BTreeMap;
use test_kit::{TestApp, n, s, spawn_app, str_of};
use test_kit::{freelancers, job_with_application_ids};

/// Fires one hire per application, all at once; returns the count of each status code.
async fn hire_all_at_once(
    app: &TestApp,
    job_id: &str,
    applications: &[String],
) -> BTreeMap<u16, usize> {
    let replies = join_all(applications.iter().map(|id| app.hire("alice", job_id, id))).await;
    let mut codes = BTreeMap::new();
    for reply in &replies {
        *codes.entry(reply.status).or_default() += 1;
        if reply.status == 409 {
            assert_eq!(reply.code(), "JOB_NOT_OPEN", "{reply:#?}");
            assert_eq!(reply.body["current_status"], "filled");
        }
    }
    codes
}

async fn assert_hired_exactly(app: &TestApp, job_id: &str, k: usize) {
    let job = app.job_item(job_id).await;
    assert_eq!(
        (s(&job, "status"), n(&job, "hired_count")),
        ("filled".into(), k as i64)
    );
    let hired = app
        .items_with_sk(keys::APPLICATION_SK_PREFIX)
        .await
        .into_iter()
        .filter(|a| s(a, "status") == "hired")
        .count();
    assert_eq!(hired, k, "hired applications");
    assert_eq!(app.contracts_of_job(job_id).await, k, "contracts");
}

#[tokio::test]
async fn fifty_concurrent_hires_of_a_one_opening_job_make_exactly_one_hire() {
    let app = spawn_app().await;
    let (job_id, applications) =
        job_with_application_ids(&app, 1, &freelancers("freelancer-", 50)).await;
    let codes = hire_all_at_once(&app, &job_id, &applications).await;
    assert_eq!(codes, BTreeMap::from([(200, 1), (409, 49)]));
    assert_hired_exactly(&app, &job_id, 1).await;
}

#[tokio::test]
async fn fifty_concurrent_hires_of_a_three_opening_job_make_exactly_three() {
    let app = spawn_app().await;
    let (job_id, applications) =
        job_with_application_ids(&app, 3, &freelancers("freelancer-", 50)).await;
    let codes = hire_all_at_once(&app, &job_id, &applications).await;
    assert_eq!(codes, BTreeMap::from([(200, 3), (409, 47)]));
    assert_hired_exactly(&app, &job_id, 3).await;
}

#[tokio::test]
async fn fifty_concurrent_applications_by_one_freelancer_make_exactly_one() {
    let app = spawn_app().await;
    let job_id = str_of(&app.create_job("alice", json!({})).await, "job_id");
    let path = format!("/jobs/{job_id}/applications");
    let replies =
        join_all((0..50).map(|i| app.post("bob", &path, json!({"bid_cents": 100 + i})))).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let refused = replies
        .iter()
        .filter(|r| r.status == 409 && r.code() == "ALREADY_APPLIED")
        .count();
    assert_eq!((created, refused), (1, 49), "{replies:#?}");
    assert_eq!(
        app.items_with_sk(keys::APPLICATION_SK_PREFIX).await.len(),
        1
    );
    assert_eq!(app.items_with_sk(keys::APPLICANT_SK_PREFIX).await.len(), 1);
}

#[tokio::test]
async fn cancel_racing_hires_ends_in_one_consistent_outcome() {
    for _ in 0..5 {
        let app = spawn_app().await;
        let (job_id, applications) =
            job_with_application_ids(&app, 1, &freelancers("freelancer-", 10)).await;
        let cancel_path = format!("/jobs/{job_id}/cancel");
        let cancel = app.post("alice", &cancel_path, json!({}));
        let hires = join_all(applications.iter().map(|id| app.hire("alice", &job_id, id)));
        let (cancel, hires) = tokio::join!(cancel, hires);
        let hired = hires.iter().filter(|r| r.status == 200).count();
        assert!(
            hires.iter().all(|r| r.status == 200 || r.status == 409),
            "{hires:#?}"
        );

        let job = app.job_item(&job_id).await;
        let contracts = app.contracts().await.len();
        let hired_apps = app
            .items_with_sk(keys::APPLICATION_SK_PREFIX)
            .await
            .iter()
            .filter(|a| s(a, "status") == "hired")
            .count();
        match s(&job, "status").as_str() {
            "cancelled" => {
                assert_eq!(cancel.status, 200);
                assert_eq!((hired, contracts, hired_apps), (0, 0, 0));
            }
            "filled" => {
                cancel.expect_problem(409, "JOB_NOT_OPEN");
                assert_eq!((hired, contracts, hired_apps), (1, 1, 1));
            }
            other => panic!("impossible final status {other}"),
        }
    }
}
