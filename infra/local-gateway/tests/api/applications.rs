use serde_json::json;
use test_kit::{spawn_app, str_of};

#[tokio::test]
async fn a_freelancer_applies_once_and_the_owner_sees_the_application() {
    let app = spawn_app().await;
    let job = app.create_job("alice", json!({})).await;
    let job_id = str_of(&job, "job_id");
    let reply = app
        .post(
            "bob",
            &format!("/jobs/{job_id}/applications"),
            json!({"bid_cents": 900, "message": "hi"}),
        )
        .await;
    assert_eq!(reply.location, None, "an application has no URL of its own");
    let application = reply.expect(201);
    assert_eq!(application["status"], "pending");
    assert_eq!(application["freelancer_id"], "bob");
    assert_eq!(application["bid_cents"], 900);

    let before = app.items().await;
    app.post(
        "bob",
        &format!("/jobs/{job_id}/applications"),
        json!({"bid_cents": 800}),
    )
    .await
    .expect_problem(409, "ALREADY_APPLIED");
    assert_eq!(app.items().await, before);

    let as_owner = app
        .get("alice", &format!("/jobs/{job_id}"))
        .await
        .expect(200);
    assert_eq!(as_owner["applications"], json!([application]));
    let listed = app
        .get("alice", &format!("/jobs/{job_id}/applications"))
        .await
        .expect(200);
    assert_eq!(listed["items"], json!([application]));
    assert!(listed["next_cursor"].is_null());
    app.get("bob", &format!("/jobs/{job_id}/applications"))
        .await
        .expect_problem(403, "NOT_JOB_OWNER");
}

#[tokio::test]
async fn applying_is_refused_in_the_documented_order() {
    let app = spawn_app().await;
    let job = app.create_job("alice", json!({})).await;
    let job_id = str_of(&job, "job_id");
    let path = format!("/jobs/{job_id}/applications");
    let before = app.items().await;
    app.post("alice", &path, json!({"bid_cents": 100}))
        .await
        .expect_problem(403, "CANNOT_APPLY_TO_OWN_JOB");
    // Validation comes before existence and permission.
    app.post("alice", &path, json!({"bid_cents": 0}))
        .await
        .expect_problem(400, "VALIDATION_FAILED");
    app.post(
        "bob",
        &path,
        json!({"bid_cents": 1, "message": "x".repeat(2001)}),
    )
    .await
    .expect_problem(400, "VALIDATION_FAILED");
    app.post("bob", &path, json!({"bid_cents": 1_000_000_001}))
        .await
        .expect_problem(400, "VALIDATION_FAILED");
    app.post_raw("bob", &path, "{")
        .await
        .expect_problem(400, "MALFORMED_JSON");
    app.post(
        "bob",
        &format!("/jobs/{}/applications", ulid::Ulid::generate()),
        json!({"bid_cents": 100}),
    )
    .await
    .expect_problem(404, "JOB_NOT_FOUND");
    assert_eq!(app.items().await, before);

    app.post("alice", &format!("/jobs/{job_id}/cancel"), json!({}))
        .await
        .expect(200);
    let before = app.items().await;
    let closed = app.post("bob", &path, json!({"bid_cents": 100})).await;
    closed.expect_problem(409, "JOB_NOT_OPEN");
    assert_eq!(closed.body["current_status"], "cancelled");
    assert_eq!(app.items().await, before);
}

#[tokio::test]
async fn applying_after_the_deadline_is_refused_before_any_sweep() {
    let app = spawn_app().await;
    let job_id = str_of(&app.create_job("alice", json!({})).await, "job_id");
    app.time_travel_past_deadline(&job_id).await;
    let before = app.items().await;
    let reply = app
        .post(
            "bob",
            &format!("/jobs/{job_id}/applications"),
            json!({"bid_cents": 100}),
        )
        .await;
    reply.expect_problem(409, "JOB_NOT_OPEN");
    assert_eq!(reply.body["current_status"], "expired");
    assert_eq!(app.items().await, before);
}

#[tokio::test]
async fn only_the_applicant_withdraws_a_pending_application() {
    let app = spawn_app().await;
    let job_id = str_of(&app.create_job("alice", json!({})).await, "job_id");
    let application = app.apply(&job_id, "bob", 500).await;
    let application_id = str_of(&application, "application_id");
    let path = format!("/jobs/{job_id}/applications/{application_id}/withdraw");

    app.post("carol", &path, json!({}))
        .await
        .expect_problem(403, "NOT_APPLICANT");
    app.post("alice", &path, json!({}))
        .await
        .expect_problem(403, "NOT_APPLICANT");
    let withdrawn = app.post("bob", &path, json!({})).await.expect(200);
    assert_eq!(withdrawn["status"], "withdrawn");
    let before = app.items().await;
    let again = app.post("bob", &path, json!({})).await;
    again.expect_problem(409, "APPLICATION_NOT_PENDING");
    assert_eq!(again.body["current_status"], "withdrawn");
    assert_eq!(app.items().await, before);

    let unknown = ulid::Ulid::generate();
    app.post(
        "bob",
        &format!("/jobs/{job_id}/applications/{unknown}/withdraw"),
        json!({}),
    )
    .await
    .expect_problem(404, "APPLICATION_NOT_FOUND");
    app.post(
        "bob",
        &format!("/jobs/{unknown}/applications/{application_id}/withdraw"),
        json!({}),
    )
    .await
    .expect_problem(404, "JOB_NOT_FOUND");
    // A withdrawn application cannot be hired; the hire's own condition says so.
    let before = app.items().await;
    let hire = app.hire("alice", &job_id, &application_id).await;
    hire.expect_problem(409, "APPLICATION_NOT_PENDING");
    assert_eq!(hire.body["current_status"], "withdrawn");
    assert_eq!(app.items().await, before);
}

#[tokio::test]
async fn applications_page_newest_first() {
    let app = spawn_app().await;
    let job_id = str_of(&app.create_job("alice", json!({})).await, "job_id");
    let mut ids = Vec::new();
    for f in ["f1", "f2", "f3"] {
        ids.push(str_of(&app.apply(&job_id, f, 100).await, "application_id"));
    }
    ids.reverse();
    let page1 = app
        .get("alice", &format!("/jobs/{job_id}/applications?limit=2"))
        .await
        .expect(200);
    let cursor = page1["next_cursor"].as_str().unwrap().to_owned();
    let page2 = app
        .get(
            "alice",
            &format!("/jobs/{job_id}/applications?limit=2&cursor={cursor}"),
        )
        .await
        .expect(200);
    let listed: Vec<String> = [&page1, &page2]
        .iter()
        .flat_map(|p| {
            p["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| str_of(a, "application_id"))
        })
        .collect();
    assert_eq!(listed, ids);
    app.get("alice", &format!("/jobs/{job_id}/applications?limit=500"))
        .await
        .expect_problem(400, "VALIDATION_FAILED");
    // A cursor of one job's list does not page another's.
    let other = str_of(&app.create_job("alice", json!({})).await, "job_id");
    app.get(
        "alice",
        &format!("/jobs/{other}/applications?cursor={cursor}"),
    )
    .await
    .expect_problem(400, "INVALID_CURSOR");
}
