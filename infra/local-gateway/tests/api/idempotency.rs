//! Safe retries: a POST sent again with its `Idempotency-Key` takes effect once, whatever
//! was lost, and is answered what the first one was.

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use serde_json::{Value, json};
use shared::domain::{IdempotencyKey, UserId};
use shared::store::keys;
use std::sync::atomic::Ordering;
use test_kit::{
    Fault, app_with_faults, funded_contract, hired_contract, job_with_application, recorded,
};
use test_kit::{Reply, TestApp, s, spawn_app, str_of};

fn job() -> Value {
    json!({"title": "Paint a fence", "budget_cents": 20_000})
}

/// Alice's jobs in the table.
async fn jobs_of_alice(app: &TestApp) -> usize {
    app.items_with_sk(keys::JOB_SK)
        .await
        .iter()
        .filter(|i| s(i, "owner_id") == "alice")
        .count()
}

/// The record a key holds.
async fn record(app: &TestApp, user: &str, key: &str) -> test_kit::Item {
    kept(app, user, key).await.expect("the key holds a record")
}

/// Where the record of `user`'s `key` lives, by the store's own key builder.
fn record_key(user: &str, key: &str) -> String {
    keys::idempotency_pk(
        &UserId::parse(user).unwrap(),
        &IdempotencyKey::parse(key).unwrap(),
    )
}

/// The record `user`'s `key` holds, if any.
async fn kept(app: &TestApp, user: &str, key: &str) -> Option<test_kit::Item> {
    app.item(&record_key(user, key), keys::IDEMPOTENCY_SK).await
}

#[track_caller]
fn assert_replay_of(reply: &Reply, first: &Reply) {
    assert!(reply.replayed(), "not a replay: {reply:#?}");
    assert_eq!(
        (reply.status, &reply.body, &reply.location),
        (first.status, &first.body, &first.location)
    );
    assert_eq!(reply.content_type, first.content_type);
}

#[tokio::test]
async fn a_retried_create_replays_its_answer_and_the_table_holds_one_job() {
    let app = spawn_app().await;

    let first = app.post_keyed("alice", "/jobs", job(), "create-1").await;
    assert_eq!(first.status, 201, "{first:#?}");
    assert!(!first.replayed());
    assert!(first.location.is_some());
    for _ in 0..2 {
        let again = app.post_keyed("alice", "/jobs", job(), "create-1").await;
        assert_replay_of(&again, &first);
    }

    assert_eq!(jobs_of_alice(&app).await, 1);
    let kept = record(&app, "alice", "create-1").await;
    assert_eq!(kept["status"].as_n().unwrap(), "201");
}

/// Found by `make chaos`: a create whose answer was lost, retried after its deadline
/// passed, was answered 400 (the deadline is no longer ahead) and its client never learned
/// the job it had made.
#[tokio::test]
async fn a_create_retried_after_its_deadline_passed_replays_its_201() {
    let app = spawn_app().await;
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(1_500))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let body = json!({"title": "Paint a fence", "budget_cents": 20_000, "expires_at": soon});
    let first = app.post_keyed("alice", "/jobs", body.clone(), "late").await;
    assert_eq!(first.status, 201, "{first:#?}");
    tokio::time::sleep(std::time::Duration::from_millis(1_600)).await;

    let again = app.post_keyed("alice", "/jobs", body.clone(), "late").await;
    assert_replay_of(&again, &first);
    assert_eq!(jobs_of_alice(&app).await, 1);
    // Without the key, or with a key that holds another request, it is the 400 it is.
    app.post("alice", "/jobs", body.clone())
        .await
        .expect_problem(400, "VALIDATION_FAILED");
    app.post_keyed("alice", "/jobs", job(), "other")
        .await
        .expect(201);
    app.post_keyed("alice", "/jobs", body, "other")
        .await
        .expect_problem(400, "VALIDATION_FAILED");
    assert_eq!(jobs_of_alice(&app).await, 2);
}

#[tokio::test]
async fn the_same_key_for_another_request_is_422_and_changes_nothing() {
    let app = spawn_app().await;
    app.post_keyed("alice", "/jobs", job(), "k")
        .await
        .expect(201);

    let other = json!({"title": "Paint a fence", "budget_cents": 20_001});
    let reply = app.post_keyed("alice", "/jobs", other, "k").await;
    reply.expect_problem(422, "IDEMPOTENCY_KEY_REUSED");
    // Another route with the key is another request too.
    let (job_id, _) = job_with_application(&app).await;
    app.post_keyed("alice", &format!("/jobs/{job_id}/cancel"), json!({}), "k")
        .await
        .expect_problem(422, "IDEMPOTENCY_KEY_REUSED");

    assert_eq!(
        jobs_of_alice(&app).await,
        2,
        "the first job and the fixture's"
    );
    let open = app
        .get("alice", &format!("/jobs/{job_id}"))
        .await
        .expect(200);
    assert_eq!(open["status"], "open");
}

#[tokio::test]
async fn the_same_request_with_its_fields_reordered_is_the_same_request() {
    let app = spawn_app().await;
    let send = |body: &'static str| {
        app.send(
            app.request(reqwest::Method::POST, Some("alice"), "/jobs")
                .header("content-type", "application/json")
                .header("idempotency-key", "r")
                .body(body),
        )
    };
    let first = send(r#"{"title":"Paint a fence","budget_cents":20000}"#).await;
    let again = send(r#"{ "budget_cents": 20000, "title": "Paint a fence" }"#).await;
    assert_eq!(first.status, 201);
    assert_replay_of(&again, &first);
}

#[tokio::test]
async fn keys_are_per_user() {
    let app = spawn_app().await;
    let alices = app.post_keyed("alice", "/jobs", job(), "shared").await;
    let bobs = app.post_keyed("bob", "/jobs", job(), "shared").await;
    assert_eq!((alices.status, bobs.status), (201, 201));
    assert!(!bobs.replayed());
    assert_ne!(alices.body["job_id"], bobs.body["job_id"]);
    assert_eq!(bobs.body["owner_id"], "bob");
}

#[tokio::test]
async fn a_key_that_is_not_1_to_255_printable_characters_is_refused_naming_the_header() {
    let app = spawn_app().await;
    let too_long = "k".repeat(256);
    for key in ["", too_long.as_str(), "caf\u{e9}", "tab\there"] {
        let reply = app
            .send(
                app.request(reqwest::Method::POST, Some("alice"), "/jobs")
                    .header(
                        "idempotency-key",
                        reqwest::header::HeaderValue::from_bytes(key.as_bytes()).unwrap(),
                    )
                    .json(&job()),
            )
            .await;
        reply.expect_problem(400, "VALIDATION_FAILED");
        assert_eq!(reply.body["errors"][0]["field"], "Idempotency-Key");
    }
    assert_eq!(jobs_of_alice(&app).await, 0);
    let longest = "k".repeat(255);
    app.post_keyed("alice", "/jobs", job(), &longest)
        .await
        .expect(201);
}

#[tokio::test]
async fn twenty_requests_with_one_key_at_once_take_effect_once() {
    let app = spawn_app().await;
    let (_, contract_id) = hired_contract(&app).await;

    let creates = join_all((0..20).map(|_| app.post_keyed("alice", "/jobs", job(), "burst")));
    let fund = format!("/contracts/{contract_id}/fund");
    let funds = join_all((0..20).map(|_| app.post_keyed("alice", &fund, json!({}), "burst-fund")));
    let (creates, funds) = tokio::join!(creates, funds);

    for (replies, status) in [(&creates, 201), (&funds, 200)] {
        let originals: Vec<&Reply> = replies
            .iter()
            .filter(|r| r.status == status && !r.replayed())
            .collect();
        assert_eq!(originals.len(), 1, "exactly one took effect: {replies:#?}");
        for reply in replies {
            if reply.status == 409 {
                reply.expect_problem(409, "IDEMPOTENCY_IN_PROGRESS");
                assert!(reply.retry_after.is_some());
            } else if reply.replayed() {
                assert_replay_of(reply, originals[0]);
            } else {
                assert!(std::ptr::eq(reply, originals[0]), "{reply:#?}");
            }
        }
    }
    // The table: one job besides the fixture's, one funding in the contract's trail.
    assert_eq!(jobs_of_alice(&app).await, 2);
    let contract = app
        .get("alice", &format!("/contracts/{contract_id}"))
        .await
        .expect(200);
    assert_eq!(contract["status"], "funded");
    let job_id = str_of(&contract, "job_id");
    assert_eq!(recorded(&app, &job_id, "funded").await, 1);
}

/// A change, as a client sends it: who, where, with what.
struct Post {
    user: &'static str,
    path: String,
    body: Value,
    status: u16,
}

/// Every kind of change, set up to succeed: create, apply, withdraw, cancel, hire, fund,
/// release, refund.
async fn one_of_each_change(app: &TestApp) -> Vec<Post> {
    let post = |user, path: String, body, status| Post {
        user,
        path,
        body,
        status,
    };
    let (withdraw_job, withdraw_application) = job_with_application(app).await;
    let (cancel_job, _) = job_with_application(app).await;
    let (hire_job, hire_application) = job_with_application(app).await;
    let (apply_job, _) = job_with_application(app).await;
    let (_, to_fund) = hired_contract(app).await;
    let to_release = funded_contract(app).await;
    let to_refund = funded_contract(app).await;
    vec![
        post("alice", "/jobs".into(), job(), 201),
        post(
            "carol",
            format!("/jobs/{apply_job}/applications"),
            json!({"bid_cents": 900}),
            201,
        ),
        post(
            "bob",
            format!("/jobs/{withdraw_job}/applications/{withdraw_application}/withdraw"),
            json!({}),
            200,
        ),
        post(
            "alice",
            format!("/jobs/{cancel_job}/cancel"),
            json!({}),
            200,
        ),
        post(
            "alice",
            format!("/jobs/{hire_job}/hire"),
            json!({"application_id": hire_application}),
            200,
        ),
        post(
            "alice",
            format!("/contracts/{to_fund}/fund"),
            json!({}),
            200,
        ),
        post(
            "alice",
            format!("/contracts/{to_release}/release"),
            json!({}),
            200,
        ),
        post(
            "alice",
            format!("/contracts/{to_refund}/refund"),
            json!({}),
            200,
        ),
    ]
}

#[tokio::test]
async fn a_retry_after_a_lost_answer_replays_the_committed_outcome_and_writes_nothing() {
    let (app, injector) = app_with_faults(Fault::LostResponse).await;
    let posts = one_of_each_change(&app).await;

    for (i, post) in posts.iter().enumerate() {
        let key = format!("lost-{i}");
        // The client never hears this answer.
        let lost = injector
            .throughout(app.post_keyed(post.user, &post.path, post.body.clone(), &key))
            .await;
        assert_eq!(lost.status, post.status, "{}: {lost:#?}", post.path);
        let items_before = app.items().await.len();
        let transactions = injector.transactions.load(Ordering::SeqCst);

        let retry = app
            .post_keyed(post.user, &post.path, post.body.clone(), &key)
            .await;

        assert_replay_of(&retry, &lost);
        // A create reads nothing before it writes: its replay is its one transaction,
        // cancelled by the record's condition. Every other replay is its one read.
        let tried = usize::from(post.path == "/jobs");
        assert_eq!(
            injector.transactions.load(Ordering::SeqCst) - transactions,
            tried,
            "{}: a replay writes nothing",
            post.path
        );
        assert_eq!(app.items().await.len(), items_before, "{}", post.path);
        // Without the key, the same retry is a second request: refused or a second effect.
        let unkeyed = app.post(post.user, &post.path, post.body.clone()).await;
        assert!(!unkeyed.replayed());
        assert!(
            unkeyed.status == 409 || app.items().await.len() > items_before,
            "{}: {unkeyed:#?}",
            post.path
        );
    }
}

#[tokio::test]
async fn a_record_past_its_24_hours_lets_the_key_run_again_as_new() {
    let app = spawn_app().await;
    app.post_keyed("alice", "/jobs", job(), "old")
        .await
        .expect(201);
    // TTL deletes days late: the record is still there, a day and a second old.
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    app.dynamo
        .update_item()
        .table_name(&app.table)
        .key(keys::PK, AttributeValue::S(record_key("alice", "old")))
        .key(keys::SK, AttributeValue::S(keys::IDEMPOTENCY_SK.into()))
        .update_expression("SET expires_at = :at, expires_ttl = :ttl")
        .expression_attribute_values(":at", AttributeValue::S(shared::time::format(past)))
        .expression_attribute_values(":ttl", AttributeValue::N(past.timestamp().to_string()))
        .send()
        .await
        .unwrap();

    let again = app.post_keyed("alice", "/jobs", job(), "old").await;

    assert_eq!(again.status, 201);
    assert!(!again.replayed());
    assert_eq!(jobs_of_alice(&app).await, 2);
    let renewed = record(&app, "alice", "old").await;
    assert!(s(&renewed, "expires_at") > shared::time::format(chrono::Utc::now()));
    let kept: Value = serde_json::from_str(renewed["body"].as_s().unwrap()).unwrap();
    assert_eq!(kept, again.body);
}

#[tokio::test]
async fn a_5xx_keeps_nothing_and_the_retry_runs() {
    let (app, injector) = app_with_faults(Fault::Fail).await;
    let failed = injector
        .throughout(app.post_keyed("alice", "/jobs", job(), "k5"))
        .await;
    failed.expect_problem(503, "SERVICE_UNAVAILABLE");
    assert!(kept(&app, "alice", "k5").await.is_none());

    let retry = app.post_keyed("alice", "/jobs", job(), "k5").await;

    assert_eq!(retry.status, 201);
    assert!(!retry.replayed());
    assert_eq!(jobs_of_alice(&app).await, 1);
}

#[tokio::test]
async fn a_refusal_about_state_is_kept_and_a_refused_request_is_not() {
    let app = spawn_app().await;
    let (job_id, _) = job_with_application(&app).await;
    let cancel = format!("/jobs/{job_id}/cancel");
    app.post("alice", &cancel, json!({})).await.expect(200);

    let refused = app.post_keyed("alice", &cancel, json!({}), "c").await;
    refused.expect_problem(409, "JOB_NOT_OPEN");
    let again = app.post_keyed("alice", &cancel, json!({}), "c").await;
    assert_replay_of(&again, &refused);

    // A 400 is about the request: the key stays free for the corrected one.
    app.post_keyed("alice", "/jobs", json!({"title": ""}), "v")
        .await
        .expect_problem(400, "VALIDATION_FAILED");
    assert!(kept(&app, "alice", "v").await.is_none());
    let corrected = app.post_keyed("alice", "/jobs", job(), "v").await;
    assert_eq!(corrected.status, 201);
    assert!(!corrected.replayed());
}

#[tokio::test]
async fn a_key_whose_record_another_transaction_holds_is_409_in_progress_and_nothing_is_written() {
    let (app, injector) = app_with_faults(Fault::LostResponse).await;
    // Every try conflicts on the first item, which for a keyed change is its record: a
    // duplicate committing at that moment.
    injector
        .plan
        .lock()
        .unwrap()
        .extend(std::iter::repeat_n(Fault::Conflict, 6));

    let busy = app.post_keyed("alice", "/jobs", job(), "busy").await;

    busy.expect_problem(409, "IDEMPOTENCY_IN_PROGRESS");
    assert_eq!(busy.retry_after.as_deref(), Some("1"));
    assert_eq!(jobs_of_alice(&app).await, 0);
    let retry = app.post_keyed("alice", "/jobs", job(), "busy").await;
    assert_eq!(retry.status, 201);
    assert_eq!(jobs_of_alice(&app).await, 1);
}

/// A request sent once is never answered as a replay: when the write that keeps its
/// refusal is sent again after it committed and finds the record it wrote, the record is
/// this request's own, not another's.
#[tokio::test]
async fn a_refusal_whose_keeping_is_sent_again_is_not_a_replay() {
    let (app, injector) = app_with_faults(Fault::LostResponse).await;
    let (job_id, _) = job_with_application(&app).await;
    let cancel = format!("/jobs/{job_id}/cancel");
    app.post("alice", &cancel, json!({})).await.expect(200);
    // The one write this request makes is the one keeping its refusal: it commits, and is
    // sent again as another request, which finds the record the first wrote.
    injector.plan.lock().unwrap().push_back(Fault::Resent);
    let transactions = injector.transactions.load(Ordering::SeqCst);
    let refused = app
        .post_keyed("alice", &cancel, json!({}), "sent-once")
        .await;
    refused.expect_problem(409, "JOB_NOT_OPEN");
    assert!(
        injector.transactions.load(Ordering::SeqCst) > transactions,
        "the refusal was kept"
    );
    assert!(
        !refused.replayed(),
        "sent once, answered as a replay: {refused:#?}"
    );
    // Its retry is the replay.
    let retry = app
        .post_keyed("alice", &cancel, json!({}), "sent-once")
        .await;
    retry.expect_problem(409, "JOB_NOT_OPEN");
    assert!(retry.replayed(), "{retry:#?}");
}

/// The same for a change: a keyed create whose transaction is sent again after it committed
/// finds its own record in the second send's failed condition, and answers its own 201.
#[tokio::test]
async fn a_change_sent_again_after_it_committed_is_answered_as_its_own() {
    let (app, injector) = app_with_faults(Fault::Resent).await;
    injector.plan.lock().unwrap().push_back(Fault::Resent);
    let created = app.post_keyed("alice", "/jobs", job(), "create-once").await;
    assert_eq!(created.status, 201, "{created:#?}");
    assert!(
        !created.replayed(),
        "sent once, answered as a replay: {created:#?}"
    );
    assert_eq!(jobs_of_alice(&app).await, 1);
    let retry = app.post_keyed("alice", "/jobs", job(), "create-once").await;
    assert!(retry.replayed() && retry.body == created.body, "{retry:#?}");
    assert_eq!(jobs_of_alice(&app).await, 1);
}
