//! The table's stream → the local EventBridge Pipe → the bus and its rules → notify's queue
//! → `notify`. Nothing else sends to the queue here (no sweeper runs), so every message on
//! it came through the pipe and the bus.

use aws_sdk_dynamodb::types::AttributeValue;
use local_gateway::template::Template;
use serde_json::{Value, json};
use shared::domain::{Consumer, Delivery, OutboxEvent};
use shared::handlers::notify::event_of;
use shared::store::keys;
use std::time::{Duration, Instant};
use test_kit::{Item, TestApp, dynamodb_endpoint, s, spawn_app_with, sqs_endpoint, str_of};
use test_kit::{job_with_application, job_with_application_ids, sqs_event};

async fn spawn_with_stream() -> TestApp {
    spawn_app_with(|o| o.stream = true).await
}

/// Every message on notify's queue, taken off it (received and deleted).
async fn take_all(app: &TestApp) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let messages = app
            .sqs
            .receive_message()
            .queue_url(&app.queues.url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            return bodies;
        }
        for m in messages {
            app.sqs
                .delete_message()
                .queue_url(&app.queues.url)
                .receipt_handle(m.receipt_handle.unwrap_or_default())
                .send()
                .await
                .expect("delete");
            bodies.push(m.body.unwrap_or_default());
        }
    }
}

/// The events the pipe put on the queue, taken off it, oldest id first.
async fn take_piped(app: &TestApp) -> Vec<OutboxEvent> {
    let mut events: Vec<OutboxEvent> = take_all(app)
        .await
        .iter()
        .map(|b| event_of(b).expect("a bus event notify reads"))
        .collect();
    events.sort_by_key(|e| e.event_id);
    events
}

/// Every event announced to notify in the table, oldest id first.
async fn outbox(app: &TestApp) -> Vec<OutboxEvent> {
    let mut events: Vec<OutboxEvent> = app
        .items_with_sk(&keys::outbox_sk(Consumer::Notify))
        .await
        .iter()
        .map(|i| {
            let delivery: Delivery = serde_json::from_str(&s(i, "body")).expect("a delivery");
            delivery.event
        })
        .collect();
    events.sort_by_key(|e| e.event_id);
    events
}

fn types(inbox: &[Item]) -> Vec<String> {
    let mut t: Vec<String> = inbox.iter().map(|n| s(n, "type")).collect();
    t.sort();
    t
}

#[tokio::test]
async fn a_hires_events_reach_the_queue_through_the_bus_and_notify_applies_them_once() {
    let app = spawn_with_stream().await;
    let (job_id, ids) = job_with_application_ids(&app, 1, &["bob", "carol"]).await;
    app.hire("alice", &job_id, &ids[0]).await.expect(200);
    let written = outbox(&app).await;
    let kinds: Vec<&str> = written.iter().map(OutboxEvent::type_name).collect();
    assert!(
        kinds.contains(&"hired") && kinds.contains(&"job_closed"),
        "{kinds:?}"
    );

    let sent = app.pipe.pipe_once().await.expect("the pipe forwards");
    // Every consumer's outbox items are inserts the pipe forwards; notify's reach its queue.
    let announced = app.items_with_sk(keys::OUTBOX_SK_PREFIX).await.len();
    assert_eq!(sent, announced);
    assert!(announced > written.len(), "index's too");
    let bodies: Vec<String> = take_all(&app).await;
    for body in &bodies {
        let message: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            (&message["source"], &message["detail-type"]),
            (&json!("marketplace"), &json!("outbox-event")),
            "the envelope the bus's rule delivers: {message}"
        );
        assert!(message["id"].is_string() && message["time"].is_string());
    }
    let mut piped: Vec<OutboxEvent> = bodies
        .iter()
        .map(|b| event_of(b).expect("a bus event notify reads"))
        .collect();
    piped.sort_by_key(|e| e.event_id);
    assert_eq!(piped, written);

    // Only what came through the pipe reaches notify, as one batch the way Lambda hands
    // it over.
    let batch = sqs_event(&bodies);
    let response = shared::handlers::notify(app.app.clone(), batch.clone()).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    // A redelivery changes nothing.
    shared::handlers::notify(app.app.clone(), batch).await;
    assert_eq!(types(&app.inbox("bob").await), ["hired"]);
    assert_eq!(types(&app.inbox("carol").await), ["application_rejected"]);
    assert_eq!(
        types(&app.inbox("alice").await),
        ["application_received", "application_received"]
    );
}

/// A second pipe over the same table and queue with a position of its own.
fn fresh_pipe(app: &TestApp) -> local_gateway::pipe::Pipe {
    local_gateway::pipe::Pipe::new(
        app.dynamo.clone(),
        aws_sdk_dynamodbstreams::Client::new(&shared::app::local_sdk_config(&dynamodb_endpoint())),
        app.sqs.clone(),
        &app.table,
        [
            (app.queues.id.clone(), app.queues.url.clone()),
            (app.index_queues.id.clone(), app.index_queues.url.clone()),
        ]
        .into(),
        local_gateway::pipe::PipeSettings::from_template(&Template::load_default().unwrap())
            .unwrap(),
    )
}

#[tokio::test]
async fn records_that_are_not_outbox_inserts_are_not_forwarded() {
    let app = spawn_with_stream().await;
    // A job, an application, its guard, audit records and two outbox events (posted, for
    // index; received, for notify); acknowledging them is an outbox MODIFY each.
    let (job_id, application_id) = job_with_application(&app).await;
    assert_eq!(app.pipe_and_drain().await, 2);

    // More of everything but outbox inserts: a notification written and then read, a
    // withdrawal, an outbox item changed and removed.
    let inbox = app.inbox("alice").await;
    assert_eq!(types(&inbox), ["application_received"]);
    let notification = s(&inbox[0], "SK")
        .trim_start_matches(keys::NOTIFICATION_SK_PREFIX)
        .to_owned();
    app.post(
        "alice",
        &format!("/me/notifications/{notification}/read"),
        json!({}),
    )
    .await
    .expect(200);
    app.post(
        "bob",
        &format!("/jobs/{job_id}/applications/{application_id}/withdraw"),
        json!({}),
    )
    .await
    .expect(200);
    let [event] = &outbox(&app).await[..] else {
        panic!("one outbox event for notify")
    };
    let key = |pk: String| {
        [
            ("PK".to_owned(), AttributeValue::S(pk)),
            (
                "SK".to_owned(),
                AttributeValue::S(keys::outbox_sk(Consumer::Notify)),
            ),
        ]
        .into_iter()
        .collect::<std::collections::HashMap<_, _>>()
    };
    let pk = keys::outbox_pk(event.event_id);
    app.dynamo
        .update_item()
        .table_name(&app.table)
        .set_key(Some(key(pk.clone())))
        .update_expression("SET touched = :t")
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .send()
        .await
        .expect("outbox item modified");
    app.dynamo
        .delete_item()
        .table_name(&app.table)
        .set_key(Some(key(pk)))
        .send()
        .await
        .expect("outbox item removed");
    take_all(&app).await;

    assert_eq!(app.pipe.pipe_once().await.expect("the pipe forwards"), 0);
    assert_eq!(take_piped(&app).await, []);
    // A pipe reading the whole stream again sends the inserts and nothing else: the job's
    // announcement (to index) and the application's (to notify), whose item is gone since.
    assert_eq!(fresh_pipe(&app).pipe_once().await.expect("forwards"), 2);
    let piped = take_piped(&app).await;
    assert_eq!(piped.len(), 1);
    assert_eq!(&piped[0], event);
    // A removed outbox item is not a state the API writes.
    app.delete_table().await;
}

#[tokio::test]
async fn the_pipe_resumes_where_it_stopped_sending_nothing_twice_and_skipping_nothing() {
    let app = spawn_with_stream().await;
    let job_id = str_of(&app.create_job("alice", json!({})).await, "job_id");
    assert_eq!(app.pipe.pipe_once().await.unwrap(), 1);
    let bob = str_of(&app.apply(&job_id, "bob", 1_000).await, "application_id");
    assert_eq!(app.pipe.pipe_once().await.unwrap(), 1);
    app.apply(&job_id, "carol", 1_100).await;
    assert_eq!(app.pipe.pipe_once().await.unwrap(), 1);
    assert_eq!(app.pipe.pipe_once().await.unwrap(), 0);

    // While SQS cannot be reached the pipe fails and keeps its place.
    let unreachable =
        aws_sdk_sqs::Client::new(&shared::app::local_sdk_config("http://127.0.0.1:9"));
    let down = app.pipe.with_sqs(unreachable);
    app.apply(&job_id, "dave", 1_200).await;
    app.hire("alice", &job_id, &bob).await.expect(200);
    assert!(down.pipe_once().await.is_err());
    assert!(down.pipe_once().await.is_err());
    // dave's application, the hire, and the job's close for notify and for index.
    assert_eq!(app.pipe.pipe_once().await.unwrap(), 4);
    assert_eq!(app.pipe.pipe_once().await.unwrap(), 0);

    let piped = take_piped(&app).await;
    assert_eq!(piped, outbox(&app).await);
    assert_eq!(piped.len(), 5);
}

#[tokio::test]
async fn the_stack_runs_the_pipe_in_the_background_when_asked() {
    let app = spawn_app_with(|o| {
        o.stream = true;
        o.pipe = true;
    })
    .await;
    let (job_id, application_id) = job_with_application(&app).await;
    app.hire("alice", &job_id, &application_id)
        .await
        .expect(200);
    let written = outbox(&app).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut piped = Vec::new();
    while piped.len() < written.len() && Instant::now() < deadline {
        piped.extend(take_piped(&app).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    piped.sort_by_key(|e| e.event_id);
    assert_eq!(piped, written);
}

#[tokio::test]
async fn a_table_kept_from_before_the_stream_gains_it_at_start() {
    let spec = "      StreamSpecification:\n        StreamViewType: NEW_AND_OLD_IMAGES\n";
    table_kept_from_an_older_template(&spec.replace("NEW_AND_OLD_IMAGES", "KEYS_ONLY")).await;
    table_kept_from_an_older_template("").await;
}

/// Starts a stack on a table made by a template whose stream was `older` instead: the
/// stream must be the template's, and the pipe must read it.
async fn table_kept_from_an_older_template(older: &str) {
    let table = format!("test-{}", ulid::Ulid::generate().to_string().to_lowercase());
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml"),
    )
    .unwrap();
    let spec = "      StreamSpecification:\n        StreamViewType: NEW_AND_OLD_IMAGES\n";
    assert!(text.contains(spec));
    let before = Template::parse(&text.replace(spec, older)).unwrap();
    let clients = shared::app::Clients::local(&dynamodb_endpoint(), &sqs_endpoint());
    local_gateway::resources::ensure_table(&clients.dynamo, &table, &before)
        .await
        .unwrap();
    let view = |t: Option<aws_sdk_dynamodb::types::TableDescription>| {
        t.and_then(|t| t.stream_specification)
            .filter(|s| s.stream_enabled)
            .and_then(|s| s.stream_view_type)
            .map(|v| v.as_str().to_owned())
    };
    let describe = || clients.dynamo.describe_table().table_name(&table).send();
    assert_ne!(
        view(describe().await.unwrap().table).as_deref(),
        Some("NEW_AND_OLD_IMAGES")
    );

    let app = spawn_app_with(|o| {
        o.stream = true;
        o.config.table_name = table.clone();
    })
    .await;
    assert_eq!(
        view(describe().await.unwrap().table).as_deref(),
        Some("NEW_AND_OLD_IMAGES")
    );
    job_with_application(&app).await;
    assert_eq!(app.pipe_and_drain().await, 2);
    assert_eq!(types(&app.inbox("alice").await), ["application_received"]);
}

#[tokio::test]
async fn without_the_stream_the_pipe_has_nothing_to_read_and_says_so() {
    let app = test_kit::spawn_app().await;
    job_with_application(&app).await;
    let error = app.pipe.pipe_once().await.unwrap_err();
    assert!(
        matches!(error, local_gateway::pipe::PipeError::NoStream(_)),
        "{error}"
    );
}
