//! The edge as API Gateway's HTTP API (payload 2.0, JWT authorizer) has it: what it answers
//! itself, how it passes a request on, and what every function's answer carries.

use serde_json::json;
use test_kit::{Reply, TestApp, spawn_app};

async fn post_as(app: &TestApp, content_type: Option<&str>, body: &str) -> Reply {
    let mut req = app.request(reqwest::Method::POST, Some("alice"), "/jobs");
    if let Some(content_type) = content_type {
        req = req.header("content-type", content_type);
    }
    app.send(req.body(body.to_owned())).await
}

#[tokio::test]
async fn a_repeated_query_parameter_arrives_joined_with_commas_and_is_refused() {
    let app = spawn_app().await;
    let reply = app.get("alice", "/jobs?limit=5&limit=6").await;
    reply.expect_problem(400, "VALIDATION_FAILED");
    assert_eq!(reply.body["errors"][0]["field"], "limit");
    app.get("alice", "/jobs?limit=5").await.expect(200);
}

#[tokio::test]
async fn an_unknown_route_is_api_gateways_own_404() {
    let app = spawn_app().await;
    for (method, path) in [
        (reqwest::Method::GET, "/nowhere"),
        (reqwest::Method::DELETE, "/jobs"),
        (reqwest::Method::POST, "/jobs/x/y/z"),
    ] {
        let reply = app.send(app.request(method, Some("alice"), path)).await;
        assert_eq!(
            (reply.status, &reply.body),
            (404, &json!({"message": "Not Found"}))
        );
        assert!(reply.header("apigw-requestid").is_some());
        assert!(reply.header("x-request-id").is_none(), "no function ran");
    }
}

#[tokio::test]
async fn every_answer_of_a_function_carries_its_request_id() {
    let app = spawn_app().await;
    let created = app
        .post("alice", "/jobs", json!({"title": "T", "budget_cents": 1}))
        .await;
    let listed = app.get("alice", "/jobs").await;
    let missing = app
        .get("alice", &format!("/jobs/{}", ulid::Ulid::generate()))
        .await;
    missing.expect_problem(404, "JOB_NOT_FOUND");
    let mut ids = Vec::new();
    for reply in [&created, &listed, &missing] {
        let id = reply
            .header("x-request-id")
            .expect("x-request-id")
            .to_owned();
        // API Gateway's header names the same request.
        assert_eq!(reply.header("apigw-requestid"), Some(id.as_str()));
        ids.push(id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "one id per request");
}

#[tokio::test]
async fn a_body_not_declared_json_is_415_and_changes_nothing() {
    let app = spawn_app().await;
    let body = r#"{"title": "T", "budget_cents": 1}"#;
    post_as(&app, Some("text/plain"), body)
        .await
        .expect_problem(415, "UNSUPPORTED_MEDIA_TYPE");
    post_as(&app, None, body)
        .await
        .expect_problem(415, "UNSUPPORTED_MEDIA_TYPE");
    post_as(&app, Some("application/x-www-form-urlencoded"), "title=T")
        .await
        .expect_problem(415, "UNSUPPORTED_MEDIA_TYPE");
    assert!(app.items().await.is_empty());
    for declared in [
        "application/json; charset=utf-8",
        "application/problem+json",
    ] {
        assert_eq!(post_as(&app, Some(declared), body).await.status, 201);
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_before_it_is_parsed() {
    let app = spawn_app().await;
    let over = "x".repeat(shared::http::MAX_BODY_BYTES + 1);
    // Neither JSON nor declared JSON: the size is what is refused, first.
    post_as(&app, Some("text/plain"), &over)
        .await
        .expect_problem(413, "PAYLOAD_TOO_LARGE");
    post_as(&app, Some("application/json"), &over)
        .await
        .expect_problem(413, "PAYLOAD_TOO_LARGE");
    assert!(app.items().await.is_empty());
}

#[tokio::test]
async fn a_post_without_a_body_needs_no_content_type() {
    let app = spawn_app().await;
    let job = app.create_job("alice", json!({})).await;
    let cancel = format!("/jobs/{}/cancel", job["job_id"].as_str().unwrap());
    let reply = app
        .send(app.request(reqwest::Method::POST, Some("alice"), &cancel))
        .await;
    assert_eq!(reply.status, 200, "{reply:#?}");
}
