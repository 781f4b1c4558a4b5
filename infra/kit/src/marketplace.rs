//! Jobs, applications, hires and contracts, set up through the API.

use crate::{Reply, TestApp, str_of};
use futures::future::join_all;
use serde_json::{Value, json};

/// How many records of `action` the trail of alice's job holds, as its API lists them.
pub async fn recorded(app: &TestApp, job_id: &str, action: &str) -> usize {
    let trail = app
        .get("alice", &format!("/jobs/{job_id}/events?limit=100"))
        .await
        .expect(200);
    trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == action)
        .count()
}

/// `{prefix}0`, `{prefix}1`, …: `n` distinct freelancers.
pub fn freelancers(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// The owner of the jobs these fixtures post.
pub const OWNER: &str = "alice";

/// Alice's job with `openings`, and an application from each of `applicants`, the i-th
/// bidding 1,000 + i cents; they apply 25 at a time, as many at once as a test needs.
pub async fn job_with_applicants(
    app: &TestApp,
    openings: u32,
    applicants: &[impl AsRef<str>],
) -> (String, Vec<Value>) {
    let job = app.create_job(OWNER, json!({"openings": openings})).await;
    let job_id = str_of(&job, "job_id");
    let mut applications = Vec::with_capacity(applicants.len());
    for (chunk, names) in applicants.chunks(25).enumerate() {
        let job_id = &job_id;
        applications.extend(
            join_all(names.iter().enumerate().map(|(i, name)| async move {
                let bid = 1_000 + (chunk * 25 + i) as i64;
                app.apply(job_id, name.as_ref(), bid).await
            }))
            .await,
        );
    }
    (job_id, applications)
}

/// As [`job_with_applicants`], with the applications' ids.
pub async fn job_with_application_ids(
    app: &TestApp,
    openings: u32,
    applicants: &[impl AsRef<str>],
) -> (String, Vec<String>) {
    let (job_id, applications) = job_with_applicants(app, openings, applicants).await;
    let ids = applications
        .iter()
        .map(|a| str_of(a, "application_id"))
        .collect();
    (job_id, ids)
}

/// Alice's one-opening job with bob's application: (job_id, application_id).
pub async fn job_with_application(app: &TestApp) -> (String, String) {
    let (job_id, mut ids) = job_with_application_ids(app, 1, &["bob"]).await;
    (job_id, ids.remove(0))
}

/// A hire between alice (owner) and bob (freelancer, bidding 12,345); returns (job_id,
/// contract_id).
pub async fn hired_contract(app: &TestApp) -> (String, String) {
    let job_id = str_of(&app.create_job("alice", json!({})).await, "job_id");
    let application_id = str_of(&app.apply(&job_id, "bob", 12_345).await, "application_id");
    let hired = app
        .hire("alice", &job_id, &application_id)
        .await
        .expect(200);
    (job_id, str_of(&hired["contract"], "contract_id"))
}

/// A hired contract that alice funded; returns its id.
pub async fn funded_contract(app: &TestApp) -> String {
    let (_, id) = hired_contract(app).await;
    act(app, "alice", &id, "fund").await.expect(200);
    id
}

/// `POST /contracts/{contract_id}/{action}` (fund, release, refund) as `user`.
pub async fn act(app: &TestApp, user: &str, contract_id: &str, action: &str) -> Reply {
    app.post(
        user,
        &format!("/contracts/{contract_id}/{action}"),
        json!({}),
    )
    .await
}
