use serde_json::json;
use shared::store::keys;
use test_kit::job_with_applicants;
use test_kit::{key, n, s, spawn_app, str_of};

#[tokio::test]
async fn hire_fills_the_job_hires_the_application_and_creates_the_contract() {
    let app = spawn_app().await;
    let (job_id, applications) = job_with_applicants(&app, 1, &["bob", "carol"]).await;
    let application_id = str_of(&applications[0], "application_id");

    let hired = app
        .hire("alice", &job_id, &application_id)
        .await
        .expect(200);
    assert_eq!(hired["job"]["status"], "filled");
    assert_eq!(hired["job"]["hired_count"], 1);
    assert_eq!(hired["application"]["status"], "hired");
    assert_eq!(hired["contract"]["status"], "created");
    assert_eq!(
        hired["contract"]["amount_cents"],
        applications[0]["bid_cents"]
    );
    assert_eq!(hired["contract"]["freelancer_id"], "bob");
    assert_eq!(hired["contract"]["owner_id"], "alice");

    // The table agrees with the answer.
    let job = app.job_item(&job_id).await;
    assert_eq!(
        (s(&job, "status"), n(&job, "hired_count")),
        ("filled".into(), 1)
    );
    let stored = app
        .item(&key::job(&job_id), &key::application(&application_id))
        .await
        .unwrap();
    assert_eq!(s(&stored, "status"), "hired");
    let contract_id = str_of(&hired["contract"], "contract_id");
    let contract = app.contract_item(&contract_id).await;
    assert_eq!(
        (s(&contract, "status"), n(&contract, "amount_cents")),
        ("created".into(), 1_000)
    );
    let events = app.items_with_sk(keys::EVENT_SK_PREFIX).await;
    let actions: Vec<String> = events
        .iter()
        .map(|e| format!("{}:{}", s(e, "entity"), s(e, "action")))
        .collect();
    for expected in ["application:hired", "contract:created", "job:filled"] {
        assert!(
            actions.contains(&expected.to_owned()),
            "no {expected} audit event in {actions:?}"
        );
    }
    let hire_event = events.iter().find(|e| s(e, "action") == "hired").unwrap();
    assert_eq!(
        (
            s(hire_event, "actor_id"),
            s(hire_event, "from_status"),
            s(hire_event, "to_status")
        ),
        ("alice".into(), "pending".into(), "hired".into())
    );
    // The hired job leaves the open board.
    assert!(
        app.get("bob", "/jobs").await.expect(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let filled = app.get("bob", "/jobs?status=filled").await.expect(200);
    assert_eq!(filled["items"][0]["job_id"], job_id.as_str());
}

#[tokio::test]
async fn hiring_a_job_that_is_not_open_is_409_and_changes_nothing() {
    let app = spawn_app().await;
    let (job_id, applications) = job_with_applicants(&app, 1, &["bob", "carol"]).await;
    let [first, second] = [0, 1].map(|i| str_of(&applications[i], "application_id"));
    app.hire("alice", &job_id, &first).await.expect(200);

    let before = app.items().await;
    for application_id in [&first, &second] {
        let reply = app.hire("alice", &job_id, application_id).await;
        reply.expect_problem(409, "JOB_NOT_OPEN");
        assert_eq!(reply.body["current_status"], "filled");
    }
    assert_eq!(app.items().await, before);
}

#[tokio::test]
async fn hiring_on_a_cancelled_or_expired_job_is_409() {
    let app = spawn_app().await;
    let (cancelled, a) = job_with_applicants(&app, 1, &["bob"]).await;
    app.post("alice", &format!("/jobs/{cancelled}/cancel"), json!({}))
        .await
        .expect(200);
    let (expired, b) = job_with_applicants(&app, 1, &["bob"]).await;
    app.time_travel_past_deadline(&expired).await;

    let before = app.items().await;
    for (job_id, apps, status) in [(&cancelled, &a, "cancelled"), (&expired, &b, "expired")] {
        let reply = app
            .hire("alice", job_id, &str_of(&apps[0], "application_id"))
            .await;
        reply.expect_problem(409, "JOB_NOT_OPEN");
        assert_eq!(reply.body["current_status"], status);
    }
    assert_eq!(app.items().await, before, "no contract, no hire, no event");
}

#[tokio::test]
async fn hire_refusals_follow_the_order_of_checks() {
    let app = spawn_app().await;
    let (job_id, applications) = job_with_applicants(&app, 1, &["bob"]).await;
    let application_id = str_of(&applications[0], "application_id");
    let (other_job, _) = job_with_applicants(&app, 1, &["carol"]).await;
    let path = format!("/jobs/{job_id}/hire");
    let before = app.items().await;

    app.post("alice", &path, json!({}))
        .await
        .expect_problem(400, "VALIDATION_FAILED");
    app.post("alice", &path, json!({"application_id": 7}))
        .await
        .expect_problem(400, "VALIDATION_FAILED");
    app.post_raw("alice", &path, "{\"application_id\":")
        .await
        .expect_problem(400, "MALFORMED_JSON");
    app.post("bob", &path, json!({"application_id": application_id}))
        .await
        .expect_problem(403, "NOT_JOB_OWNER");
    app.hire("alice", &job_id, &ulid::Ulid::generate().to_string())
        .await
        .expect_problem(404, "APPLICATION_NOT_FOUND");
    // Something that can never be an id is a bad body, whatever the job.
    app.hire("alice", &job_id, "nonsense")
        .await
        .expect_problem(400, "VALIDATION_FAILED");
    app.hire("alice", &ulid::Ulid::generate().to_string(), "nonsense")
        .await
        .expect_problem(400, "VALIDATION_FAILED");
    // An application of another job is not found on this one.
    app.hire("alice", &other_job, &application_id)
        .await
        .expect_problem(404, "APPLICATION_NOT_FOUND");
    app.hire(
        "alice",
        &ulid::Ulid::generate().to_string(),
        &application_id,
    )
    .await
    .expect_problem(404, "JOB_NOT_FOUND");
    app.send(
        app.request(reqwest::Method::POST, None, &path)
            .json(&json!({"application_id": application_id})),
    )
    .await
    .expect_unauthorized();
    assert_eq!(app.items().await, before);
}

#[tokio::test]
async fn a_multi_opening_job_stays_open_until_the_last_hire() {
    let app = spawn_app().await;
    let (job_id, applications) = job_with_applicants(&app, 2, &["bob", "carol", "dave"]).await;
    let first = app
        .hire(
            "alice",
            &job_id,
            &str_of(&applications[0], "application_id"),
        )
        .await
        .expect(200);
    assert_eq!(
        (
            first["job"]["status"].as_str(),
            first["job"]["hired_count"].as_u64()
        ),
        (Some("open"), Some(1))
    );
    let second = app
        .hire(
            "alice",
            &job_id,
            &str_of(&applications[1], "application_id"),
        )
        .await
        .expect(200);
    assert_eq!(
        (
            second["job"]["status"].as_str(),
            second["job"]["hired_count"].as_u64()
        ),
        (Some("filled"), Some(2))
    );
    app.hire(
        "alice",
        &job_id,
        &str_of(&applications[2], "application_id"),
    )
    .await
    .expect_problem(409, "JOB_NOT_OPEN");
    assert_eq!(app.contracts().await.len(), 2);
}
