//! Notifications through the real outbox, the SQS emulator, `notify` and `sweep`.

use serde_json::json;
use shared::store::keys;
use std::time::{Duration, Instant};
use test_kit::{Item, TestApp, s, spawn_app, spawn_app_with, spawn_app_with_stream, str_of};
use test_kit::{freelancers, job_with_application_ids, outbox_bodies, sqs_event};

fn types(inbox: &[Item]) -> Vec<String> {
    let mut t: Vec<String> = inbox.iter().map(|n| s(n, "type")).collect();
    t.sort();
    t
}

/// Runs `sweep` as if `ahead` had passed, with a full time budget.
async fn sweep_later(app: &TestApp, ahead: Duration) -> shared::handlers::sweep::SweepReport {
    let now = shared::time::now() + chrono::Duration::from_std(ahead).unwrap();
    shared::handlers::sweep(&app.app, now, Instant::now() + Duration::from_secs(30))
        .await
        .expect("sweep")
}

#[tokio::test]
async fn a_hire_notifies_the_hired_the_rejected_and_the_owner_exactly_once() {
    let app = spawn_app_with_stream().await;
    let (job_id, applications) = job_with_application_ids(&app, 1, &freelancers("f", 4)).await;
    app.hire("alice", &job_id, &applications[0])
        .await
        .expect(200);
    app.drain_queue().await;

    assert_eq!(types(&app.inbox("f0").await), ["hired"]);
    for f in ["f1", "f2", "f3"] {
        assert_eq!(types(&app.inbox(f).await), ["application_rejected"], "{f}");
    }
    assert_eq!(
        types(&app.inbox("alice").await),
        vec!["application_received"; 4]
    );
    let statuses = app.application_statuses().await;
    assert_eq!(statuses.iter().filter(|s| *s == "rejected").count(), 3);
    assert!(
        app.undispatched().await.is_empty(),
        "every event was marked dispatched"
    );

    // Through the API: newest first, unread filter, mark read, nobody else's.
    let inbox = app.get("f0", "/me/notifications").await.expect(200);
    let notification = &inbox["items"][0];
    assert_eq!(notification["type"], "hired");
    assert_eq!(notification["read"], false);
    assert_eq!(notification["job_id"], job_id.as_str());
    let id = str_of(notification, "notification_id");
    app.post("f1", &format!("/me/notifications/{id}/read"), json!({}))
        .await
        .expect_problem(404, "NOTIFICATION_NOT_FOUND");
    let read = app
        .post("f0", &format!("/me/notifications/{id}/read"), json!({}))
        .await
        .expect(200);
    assert_eq!(read["read"], true);
    let unread = app
        .get("f0", "/me/notifications?unread=true")
        .await
        .expect(200);
    assert!(unread["items"].as_array().unwrap().is_empty());
    assert_eq!(
        app.get("f0", "/me/notifications").await.expect(200)["items"][0]["read"],
        true
    );
    app.get("f0", "/me/notifications?unread=maybe")
        .await
        .expect_problem(400, "VALIDATION_FAILED");

    let mine = app.get("f1", "/me/applications").await.expect(200);
    assert_eq!(mine["items"][0]["status"], "rejected");
    assert_eq!(mine["items"][0]["application_id"], applications[1].as_str());
}

#[tokio::test]
async fn with_the_pipe_stopped_the_sweeper_delivers_every_event_once() {
    // Nothing listens on the discard port: an SQS the handlers never call anyway.
    hire_while_the_pipe_is_stopped("http://127.0.0.1:9".into()).await;
}

#[tokio::test]
async fn with_sqs_hanging_every_request_answers_at_once_as_none_calls_it() {
    // Accepts connections and never answers: a request that sent to it would wait.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    hire_while_the_pipe_is_stopped(endpoint).await;
}

/// Applies and hires with the handlers' SQS failing and no pipe (the table has no stream
/// to read): the requests answer at once, as none calls SQS; then the sweeper and `notify`
/// deliver each notification exactly once, and a sweep afterwards finds nothing to resend.
async fn hire_while_the_pipe_is_stopped(sqs_endpoint: String) {
    let app = spawn_app_with(|o| o.handler_sqs_endpoint = Some(sqs_endpoint)).await;
    let started = Instant::now();
    let (job_id, applications) = job_with_application_ids(&app, 1, &freelancers("f", 3)).await;
    let hired = app
        .hire("alice", &job_id, &applications[0])
        .await
        .expect(200);
    assert_eq!(hired["job"]["status"], "filled");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a job, three applications and a hire took {:?}",
        started.elapsed()
    );

    assert!(app.inbox("f0").await.is_empty(), "nothing delivered yet");
    assert_eq!(app.queue_depth(&app.queues.url).await, 0);
    // The job posted (index's), three application_received, hired (notify's), job closed
    // (one for each): all still due.
    assert_eq!(app.undispatched().await.len(), 7);

    // Not yet due: the sweeper leaves them to the pipe for a redrive delay.
    assert_eq!(sweep_later(&app, Duration::ZERO).await.redriven, 0);
    let report = sweep_later(&app, Duration::from_secs(120)).await;
    assert_eq!(report.redriven, 7);
    app.notify_queue().await;
    app.index_queue().await;
    assert!(
        app.undispatched().await.is_empty(),
        "each event acknowledged once notify applied it"
    );

    assert_eq!(types(&app.inbox("f0").await), ["hired"]);
    assert_eq!(types(&app.inbox("f1").await), ["application_rejected"]);
    assert_eq!(types(&app.inbox("f2").await), ["application_rejected"]);
    assert_eq!(
        types(&app.inbox("alice").await),
        vec!["application_received"; 3]
    );
    // A second sweep finds nothing.
    assert_eq!(
        sweep_later(&app, Duration::from_secs(240)).await.redriven,
        0
    );
}

#[tokio::test]
async fn redelivered_messages_and_replayed_batches_notify_once() {
    let app = spawn_app_with_stream().await;
    let (job_id, applications) = job_with_application_ids(&app, 1, &freelancers("f", 3)).await;
    app.hire("alice", &job_id, &applications[0])
        .await
        .expect(200);
    let bodies = outbox_bodies(&app).await;
    assert_eq!(bodies.len(), 5, "three applications, hired, closed");

    // The same message twice in one batch, then the whole batch again after a "crash"
    // that applied only its first half.
    let doubled: Vec<String> = bodies.iter().flat_map(|b| [b.clone(), b.clone()]).collect();
    let half = shared::handlers::notify(app.app.clone(), sqs_event(&bodies[..2])).await;
    assert!(half.batch_item_failures.is_empty());
    let full = shared::handlers::notify(app.app.clone(), sqs_event(&doubled)).await;
    assert!(full.batch_item_failures.is_empty());
    let again = shared::handlers::notify(app.app.clone(), sqs_event(&bodies)).await;
    assert!(again.batch_item_failures.is_empty());
    // And the real queue delivers its own copies too.
    app.drain_queue().await;

    assert_eq!(types(&app.inbox("f0").await), ["hired"]);
    assert_eq!(types(&app.inbox("f1").await), ["application_rejected"]);
    assert_eq!(types(&app.inbox("f2").await), ["application_rejected"]);
    assert_eq!(
        types(&app.inbox("alice").await),
        vec!["application_received"; 3]
    );
    let rejections = app
        .items_with_sk(keys::EVENT_SK_PREFIX)
        .await
        .iter()
        .filter(|e| s(e, "action") == "rejected")
        .count();
    assert_eq!(rejections, 2, "each rejection happened once");
}

#[tokio::test]
async fn a_malformed_message_fails_alone_and_ends_in_the_dead_letter_queue() {
    let app = spawn_app_with_stream().await;
    let (job_id, applications) = job_with_application_ids(&app, 1, &freelancers("f", 2)).await;
    app.drain_queue().await;
    app.post("alice", &format!("/jobs/{job_id}/cancel"), json!({}))
        .await
        .expect(200);
    let cancel_event = outbox_bodies(&app)
        .await
        .into_iter()
        .find(|b| b.contains("job_closed"))
        .unwrap();

    let batch = sqs_event(&[
        "{not an event".to_owned(),
        cancel_event.clone(),
        json!({"type": "unknown"}).to_string(),
    ]);
    let response = shared::handlers::notify(app.app.clone(), batch).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m0", "m2"]);
    assert_eq!(types(&app.inbox("f0").await), ["application_rejected"]);
    assert_eq!(types(&app.inbox("f1").await), ["application_rejected"]);
    let _ = applications;

    // Through the queue: the poison message is received max_receive_count times, then moved.
    app.sqs
        .send_message()
        .queue_url(&app.queues.url)
        .message_body("{not an event")
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.queue_depth(&app.queues.dead_letter_url).await == 0 {
        assert!(
            Instant::now() < deadline,
            "poison message never reached the DLQ"
        );
        local_gateway::worker::pump_once(
            &app.app,
            shared::domain::Consumer::Notify,
            &app.sqs,
            &app.queues.url,
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    }
    assert_eq!(app.queue_depth(&app.queues.dead_letter_url).await, 1);
    assert_eq!(app.queue_depth(&app.queues.url).await, 0);
}

#[tokio::test]
async fn two_sweeps_at_once_deliver_every_event_once() {
    // No stream: only the sweepers send.
    let app = spawn_app().await;
    let mut jobs = Vec::new();
    for _ in 0..4 {
        jobs.push(job_with_application_ids(&app, 1, &freelancers("f", 3)).await);
    }
    for (job_id, applications) in &jobs {
        app.hire("alice", job_id, &applications[0])
            .await
            .expect(200);
    }
    let due = app.undispatched().await.len();
    // Per job: posted (index), three applications and hired (notify), closed (both).
    assert_eq!(due, 4 * 7);

    let (a, b) = tokio::join!(
        sweep_later(&app, Duration::from_secs(120)),
        sweep_later(&app, Duration::from_secs(120))
    );
    assert_eq!(
        a.redriven + b.redriven,
        due,
        "every event sent once: {a:?} {b:?}"
    );
    app.notify_queue().await;
    app.index_queue().await;
    assert!(app.undispatched().await.is_empty());
    for i in 0..3 {
        let inbox = app.inbox(&format!("f{i}")).await;
        let expected = if i == 0 {
            "hired"
        } else {
            "application_rejected"
        };
        assert_eq!(types(&inbox), vec![expected; 4], "f{i}");
    }
    assert_eq!(app.inbox("alice").await.len(), 12);
}

#[tokio::test]
async fn a_job_with_three_hundred_applicants_rejects_and_notifies_every_other_one() {
    let app = spawn_app_with_stream().await;
    let (job_id, ids) = job_with_application_ids(&app, 1, &freelancers("f", 300)).await;
    app.hire("alice", &job_id, &ids[0]).await.expect(200);
    app.drain_queue().await;

    let applications = app.items_with_sk(keys::APPLICATION_SK_PREFIX).await;
    let rejected = applications
        .iter()
        .filter(|a| s(a, "status") == "rejected")
        .count();
    assert_eq!(rejected, 299);
    let notified = app
        .items()
        .await
        .iter()
        .filter(|i| {
            s(i, "SK").starts_with(keys::NOTIFICATION_SK_PREFIX)
                && s(i, "type") == "application_rejected"
        })
        .count();
    assert_eq!(notified, 299);
    assert_eq!(types(&app.inbox("f0").await), ["hired"]);
}

/// The body of the outbox event announcing `application_id`'s arrival.
async fn received_body(app: &TestApp, application_id: &str) -> String {
    outbox_bodies(app)
        .await
        .into_iter()
        .find(|b| b.contains(application_id) && b.contains("application_received"))
        .expect("the application's announcement")
}

fn positions(page: &serde_json::Value) -> Vec<u64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["position"].as_u64().unwrap())
        .collect()
}

/// An older event delivered late (a slow fan-out, a redrive) takes the next position, so a
/// client that catches up from the last position it saw gets it and never skips it.
#[tokio::test]
async fn the_inbox_lists_in_delivery_order_and_catches_up_from_a_position() {
    let app = spawn_app_with_stream().await;
    let mut applications = Vec::new();
    for _ in 0..3 {
        let job_id = str_of(&app.create_job("alice", json!({})).await, "job_id");
        applications.push(str_of(
            &app.apply(&job_id, "bob", 500).await,
            "application_id",
        ));
    }
    // Delivered newest event first: the oldest arrives last.
    for application_id in applications.iter().rev() {
        let body = received_body(&app, application_id).await;
        shared::handlers::notify(app.app.clone(), sqs_event(&[body])).await;
    }

    let inbox = app.get("alice", "/me/notifications").await.expect(200);
    assert_eq!(positions(&inbox), [3, 2, 1], "newest delivered first");
    assert_eq!(
        inbox["items"][0]["application_id"], applications[0],
        "the oldest event, delivered last"
    );
    let caught_up = app
        .get("alice", "/me/notifications?after=1")
        .await
        .expect(200);
    assert_eq!(
        positions(&caught_up),
        [2, 3],
        "oldest first after a position"
    );
    assert_eq!(caught_up["items"][1]["application_id"], applications[0]);
    assert_eq!(caught_up["next_cursor"], serde_json::Value::Null);
    let none = app
        .get("alice", "/me/notifications?after=3")
        .await
        .expect(200);
    assert!(positions(&none).is_empty());

    // Delivered again: nothing new, nothing moves.
    let again = received_body(&app, &applications[0]).await;
    shared::handlers::notify(app.app.clone(), sqs_event(&[again])).await;
    let inbox = app.get("alice", "/me/notifications").await.expect(200);
    assert_eq!(positions(&inbox), [3, 2, 1]);

    for bad in [
        "after=-1",
        "after=x",
        "after=1&unread=true",
        "after=1&cursor=abc",
    ] {
        app.get("alice", &format!("/me/notifications?{bad}"))
            .await
            .expect_problem(400, "VALIDATION_FAILED");
    }
}

/// Deliveries racing for one inbox each take their own position: 1 to n, none twice.
#[tokio::test]
async fn concurrent_deliveries_to_one_inbox_take_gapless_positions() {
    let app = spawn_app_with_stream().await;
    let job_id = str_of(&app.create_job("alice", json!({})).await, "job_id");
    let applicants = freelancers("f", 20);
    for name in &applicants {
        app.apply(&job_id, name, 700).await;
    }
    let bodies = outbox_bodies(&app).await;
    futures::future::join_all(
        bodies
            .iter()
            .map(|b| shared::handlers::notify(app.app.clone(), sqs_event(std::slice::from_ref(b)))),
    )
    .await;

    let inbox = app
        .get("alice", "/me/notifications?after=0&limit=100")
        .await
        .expect(200);
    assert_eq!(positions(&inbox), (1..=20).collect::<Vec<u64>>());
}

#[tokio::test]
async fn the_local_pollers_work_a_backlog_several_batches_at_once_and_deliver_each_event_once() {
    use local_gateway::concurrency::Concurrency;
    use local_gateway::worker::{QueueConsumer, Scaling, spawn_pollers};
    let app = spawn_app().await;
    // Nothing consumes the queue yet: 120 application_received events wait in it, put there
    // as the sweeper sends them (the pipe is not what this test is about); the job posted
    // went to index's queue.
    job_with_application_ids(&app, 1, &freelancers("f", 120)).await;
    let rows: Vec<shared::store::OutboxRow> = app
        .items_with_sk(shared::store::keys::OUTBOX_SK_PREFIX)
        .await
        .into_iter()
        .map(|item| serde_dynamo::from_item(item).expect("an outbox row"))
        .collect();
    let deadline = shared::deadline::Deadline::after(Duration::from_secs(10));
    assert_eq!(app.app.publisher.send(&rows, deadline).await.len(), 121);
    assert_eq!(app.queue_depth(&app.queues.url).await, 120);

    let (pollers, stats) = spawn_pollers(
        QueueConsumer {
            app: app.app.clone(),
            consumer: shared::domain::Consumer::Notify,
            sqs: app.sqs.clone(),
            queue_url: app.queues.url.clone(),
            concurrency: Concurrency::default(),
        },
        Scaling::LOCAL,
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.queue_depth(&app.queues.url).await > 0 || app.inbox("alice").await.len() < 120 {
        assert!(
            Instant::now() < deadline,
            "the backlog was not worked off: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stats.peak_in_flight() > 1, "one batch at a time: {stats:?}");
    assert!(
        stats.peak_pollers() > Scaling::LOCAL.min,
        "full receives add pollers: {stats:?}"
    );
    assert_eq!(app.inbox("alice").await.len(), 120);
    assert_eq!(app.queue_depth(&app.queues.dead_letter_url).await, 0);
    pollers.abort();
}

/// The normal flow, as `make dev` runs it: the pipe reads the stream in the background and
/// the pollers feed `notify`. A hire's notifications arrive well inside the redrive delay,
/// every event is acknowledged, and a sweep after the delay re-sends nothing: the safety net
/// is not what delivered them, so it cannot hide a broken pipe.
#[tokio::test]
async fn in_the_normal_flow_the_pipe_delivers_and_the_sweeper_resends_nothing() {
    let app = spawn_app_with(|o| {
        o.stream = true;
        o.pipe = true;
        o.pump = true;
    })
    .await;
    let (job_id, applications) = job_with_application_ids(&app, 1, &freelancers("f", 3)).await;
    let hired_at = Instant::now();
    app.hire("alice", &job_id, &applications[0])
        .await
        .expect(200);
    while types(&app.inbox("f0").await) != ["hired"] {
        assert!(
            hired_at.elapsed() < Duration::from_secs(10),
            "no hired notice"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let hire_to_inbox = hired_at.elapsed();
    assert!(
        hire_to_inbox * 10 < app.app.redrive_delay,
        "hire to inbox took {hire_to_inbox:?}, the redrive delay is {:?}",
        app.app.redrive_delay
    );
    while !app.undispatched().await.is_empty() {
        assert!(
            hired_at.elapsed() < Duration::from_secs(20),
            "not all applied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let report = sweep_later(&app, app.app.redrive_delay * 2).await;
    assert_eq!(report.redriven, 0, "{report:?}");
    assert_eq!(types(&app.inbox("f1").await), ["application_rejected"]);
    assert_eq!(types(&app.inbox("f2").await), ["application_rejected"]);
    assert_eq!(
        types(&app.inbox("alice").await),
        vec!["application_received"; 3]
    );
}
