//! The local gateway's switches for the chaos run (`LOCAL_FAULTS=1`, `POST /_local/faults`):
//! throttling and conflicts injected in the handlers' DynamoDB calls, every condition
//! dropped (the product broken on purpose), the pipe stopped; and a stack that outlives a
//! restart of the SQS emulator, which forgets its queues.

use futures::future::join_all;
use local_gateway::faults::FaultSwitch;
use local_gateway::stack::Options;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use test_kit::{
    PrivateSqs, Reply, TestApp, freelancers, job_with_application, job_with_application_ids, s,
    spawn_app, spawn_app_with, str_of,
};

/// A stack with the fault switch, as `LOCAL_FAULTS=1` starts one.
async fn app_with_switch(adjust: impl FnOnce(&mut Options)) -> TestApp {
    spawn_app_with(|o| {
        o.faults = Some(FaultSwitch::new());
        adjust(o);
    })
    .await
}

async fn switch(app: &TestApp, body: Value) -> Reply {
    app.send(
        app.request(reqwest::Method::POST, None, "/_local/faults")
            .json(&body),
    )
    .await
}

/// Waits until `done` holds for what `read` reads, failing after `within`.
async fn until<T: std::fmt::Debug>(
    what: &str,
    within: Duration,
    mut read: impl AsyncFnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        let value = read().await;
        if done(&value) {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what} within {within:?}; last seen: {value:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The types of a user's notifications in the table.
async fn inbox_types(app: &TestApp, user: &str) -> Vec<String> {
    let mut types: Vec<String> = app.inbox(user).await.iter().map(|n| s(n, "type")).collect();
    types.sort();
    types
}

#[tokio::test]
async fn without_local_faults_the_switch_is_no_route() {
    let app = spawn_app().await;
    let reply = switch(&app, json!({"dynamodb": "throttle", "rate": 1.0})).await;
    assert_eq!(
        (reply.status, &reply.body),
        (404, &json!({"message": "Not Found"})),
        "{reply:#?}"
    );
    app.create_job("alice", json!({})).await;
}

#[tokio::test]
async fn the_switch_answers_its_whole_state_and_refuses_what_it_cannot_be() {
    let app = app_with_switch(|_| {}).await;
    let off = json!({"dynamodb": "off", "rate": 1.0, "seed": 0, "pipe": "run"});
    assert_eq!(switch(&app, json!({})).await.expect(200), off);
    let throttle = json!({"dynamodb": "throttle", "rate": 0.25, "seed": 7, "pipe": "run"});
    assert_eq!(
        switch(
            &app,
            json!({"dynamodb": "throttle", "rate": 0.25, "seed": 7})
        )
        .await
        .expect(200),
        throttle
    );
    // What a change leaves out stays as it is.
    let stopped = json!({"dynamodb": "throttle", "rate": 0.25, "seed": 7, "pipe": "stop"});
    assert_eq!(
        switch(&app, json!({"pipe": "stop"})).await.expect(200),
        stopped
    );

    let bad = [
        json!({"rate": 1.5}),
        json!({"rate": -0.5}),
        json!({"rate": "half"}),
        json!({"dynamodb": "sometimes"}),
        json!({"seed": -1}),
        json!({"seed": 1.5}),
        json!({"pipe": "pause"}),
        json!({"dynamodb": "off", "rates": 0.5}),
        json!([]),
    ];
    for body in bad {
        let reply = switch(&app, body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {reply:#?}");
        assert_eq!(reply.content_type, "application/problem+json", "{body}");
        assert_eq!(reply.body["status"], 400);
        assert!(reply.body["detail"].is_string(), "{reply:#?}");
    }
    let not_json = app
        .send(
            app.request(reqwest::Method::POST, None, "/_local/faults")
                .header("content-type", "application/json")
                .body("dynamodb=off"),
        )
        .await;
    assert_eq!(not_json.status, 400, "{not_json:#?}");
    // A refused change changed nothing.
    assert_eq!(switch(&app, json!({})).await.expect(200), stopped);
}

#[tokio::test]
async fn throttling_every_call_answers_503_and_writes_nothing_until_it_is_off() {
    let app = app_with_switch(|_| {}).await;
    let job = app.create_job("alice", json!({})).await;
    let job_id = str_of(&job, "job_id");
    let before = app.items().await;
    switch(
        &app,
        json!({"dynamodb": "throttle", "rate": 1.0, "seed": 7}),
    )
    .await
    .expect(200);

    let create = app
        .post(
            "alice",
            "/jobs",
            json!({"title": "Throttled", "description": "Never written", "budget_cents": 5_000}),
        )
        .await;
    create.expect_problem(503, "SERVICE_UNAVAILABLE");
    // A read is throttled too, and taken for DynamoDB unavailable, not for a failure.
    app.get("bob", &format!("/jobs/{job_id}"))
        .await
        .expect_problem(503, "SERVICE_UNAVAILABLE");
    assert_eq!(
        app.items().await,
        before,
        "a throttled create wrote something"
    );

    switch(&app, json!({"dynamodb": "off"})).await.expect(200);
    app.create_job("alice", json!({"title": "After"})).await;
    app.get("bob", &format!("/jobs/{job_id}")).await.expect(200);
}

#[tokio::test]
async fn conflicting_every_transaction_answers_a_hire_503_with_nothing_hired() {
    let app = app_with_switch(|_| {}).await;
    let (job_id, application_id) = job_with_application(&app).await;
    let before = app.items().await;
    switch(&app, json!({"dynamodb": "conflict", "rate": 1.0}))
        .await
        .expect(200);

    app.hire("alice", &job_id, &application_id)
        .await
        .expect_problem(503, "SERVICE_UNAVAILABLE");
    // With an Idempotency-Key too: the conflict falls on the job, not on the key's record
    // (which would mean a duplicate in progress).
    let hire = json!({"application_id": application_id});
    let path = format!("/jobs/{job_id}/hire");
    app.post_keyed("alice", &path, hire.clone(), "conflicted-hire")
        .await
        .expect_problem(503, "SERVICE_UNAVAILABLE");
    assert_eq!(
        app.items().await,
        before,
        "a cancelled hire wrote something"
    );
    assert_eq!(app.contracts_of_job(&job_id).await, 0);
    // Reads are no transactions: they pass.
    app.get("alice", &format!("/jobs/{job_id}"))
        .await
        .expect(200);

    switch(&app, json!({"dynamodb": "off"})).await.expect(200);
    app.post_keyed("alice", &path, hire, "conflicted-hire")
        .await
        .expect(200);
    assert_eq!(app.contracts_of_job(&job_id).await, 1);
}

/// Hires of a one-opening job race; with their conditions, exactly one wins (races.rs).
/// Without, the hires that read the job open all commit: the switch really drops them.
#[tokio::test]
async fn unconditional_lets_a_race_hire_a_one_opening_job_twice() {
    let app = app_with_switch(|_| {}).await;
    for race in 0..5 {
        let (job_id, applications) =
            job_with_application_ids(&app, 1, &freelancers(&format!("r{race}-"), 10)).await;
        switch(&app, json!({"dynamodb": "unconditional"}))
            .await
            .expect(200);
        let replies = join_all(applications.iter().map(|id| app.hire("alice", &job_id, id))).await;
        switch(&app, json!({"dynamodb": "off"})).await.expect(200);
        let won = replies.iter().filter(|r| r.status == 200).count();
        assert_eq!(
            app.contracts_of_job(&job_id).await,
            won,
            "each hire answered 200 made a contract"
        );
        if won > 1 {
            // The job is filled, and still another hire of it goes through.
            let late = job_with_application_ids(&app, 1, &freelancers("late-", 2)).await;
            app.hire("alice", &late.0, &late.1[0]).await.expect(200);
            // Double hires are what the audit reports (and must): not a state to leave behind.
            app.delete_table().await;
            return;
        }
    }
    panic!("five races of ten hires each hired once: the conditions were not dropped");
}

#[tokio::test]
async fn a_stopped_pipe_holds_notifications_back_until_it_runs_again() {
    let app = app_with_switch(|o| {
        o.stream = true;
        o.pipe = true;
        o.pump = true;
    })
    .await;
    let stopped = switch(&app, json!({"pipe": "stop"})).await.expect(200);
    assert_eq!(stopped["pipe"], "stop");
    let job = app.create_job("alice", json!({})).await;
    app.apply(&str_of(&job, "job_id"), "bob", 4_000).await;

    // The background pipe polls four times a second: a dozen polls find it stopped.
    let held = Instant::now() + Duration::from_secs(3);
    while Instant::now() < held {
        assert!(
            app.inbox("alice").await.is_empty(),
            "delivered while stopped"
        );
        assert_eq!(app.queue_depth(&app.queues.url).await, 0);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !app.undispatched().await.is_empty(),
        "nothing was announced"
    );

    switch(&app, json!({"pipe": "run"})).await.expect(200);
    until(
        "the application reaches alice once the pipe runs",
        Duration::from_secs(15),
        async || inbox_types(&app, "alice").await,
        |types| types == &["application_received"],
    )
    .await;
}

#[tokio::test]
async fn while_the_pipe_is_stopped_the_sweeper_delivers() {
    let app = app_with_switch(|o| {
        o.stream = true;
        o.pipe = true;
        o.pump = true;
        o.config.redrive_delay = Duration::from_secs(1);
    })
    .await;
    switch(&app, json!({"pipe": "stop"})).await.expect(200);
    let job = app.create_job("alice", json!({})).await;
    app.apply(&str_of(&job, "job_id"), "bob", 4_000).await;

    until(
        "a sweep past the redrive delay delivers the application",
        Duration::from_secs(20),
        async || {
            app.send(app.request(reqwest::Method::POST, None, "/_local/sweep"))
                .await
                .expect(200);
            inbox_types(&app, "alice").await
        },
        |types| types == &["application_received"],
    )
    .await;
    let state = switch(&app, json!({})).await.expect(200);
    assert_eq!(state["pipe"], "stop", "the pipe stayed stopped throughout");
}

/// The SQS emulator keeps its queues in memory. Paused, the stack waits for it; restarted
/// without them, the stack makes them again (same names, same URLs) and goes on.
#[tokio::test]
async fn the_stack_outlives_the_sqs_emulator_paused_and_restarted() {
    let sqs = PrivateSqs::start().await;
    let app = spawn_app_with(|o| {
        o.sqs_endpoint = sqs.endpoint.clone();
        o.stream = true;
        o.pipe = true;
        o.pump = true;
    })
    .await;
    let job_id = str_of(&app.create_job("alice", json!({})).await, "job_id");
    let received = |n: usize| vec!["application_received".to_owned(); n];
    let delivered = async |n: usize| {
        until(
            &format!("{n} applications reach alice"),
            Duration::from_secs(30),
            async || inbox_types(&app, "alice").await,
            |types| types == &received(n),
        )
        .await
    };
    app.apply(&job_id, "bob", 1_000).await;
    delivered(1).await;

    sqs.pause();
    app.apply(&job_id, "carol", 2_000).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    sqs.resume();
    delivered(2).await;

    // A client of the emulator's own, which the stack does not watch. A marker on the DLQ,
    // which nothing reads, shows whether the queues after the restart are new ones.
    let raw = aws_sdk_sqs::Client::new(&shared::app::local_sdk_config(&sqs.endpoint));
    let dlq = &app.queues.dead_letter_url;
    raw.send_message()
        .queue_url(dlq)
        .message_body("from before the restart")
        .send()
        .await
        .expect("a marker on the DLQ");
    assert_eq!(app.queue_depth(dlq).await, 1);
    sqs.restart().await;
    app.apply(&job_id, "dave", 3_000).await;
    delivered(3).await;

    assert_eq!(
        app.queue_depth(dlq).await,
        0,
        "the DLQ kept its marker: the restart lost no queue"
    );
    // Made again as the template declares them: the same URLs, each with its DLQ.
    for queues in [&app.queues, &app.index_queues] {
        let name = queues.url.rsplit('/').next().unwrap();
        let url = raw
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .expect("the queue exists again");
        assert_eq!(url.queue_url(), Some(queues.url.as_str()));
        let attributes = raw
            .get_queue_attributes()
            .queue_url(&queues.url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .expect("attributes");
        let policy = attributes
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy))
            .expect("a redrive policy");
        let dlq = queues.dead_letter_url.rsplit('/').next().unwrap();
        assert!(policy.contains(dlq), "{policy}");
    }
}
