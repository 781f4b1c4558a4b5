//! Each consumer is acknowledged, redriven and parked on its own: a consumer that loses an
//! event gets it again from the sweeper, and the one that applied it hears nothing twice.

use serde_json::json;
use shared::domain::Consumer;
use shared::handlers::sweep::REDRIVES_BEFORE_PARKING;
use shared::store::keys;
use test_kit::{s, spawn_app_with_stream, str_of};

/// Receives and deletes whatever the queue holds, as a consumer that loses it would.
async fn lose_everything(app: &test_kit::TestApp, url: &str) {
    loop {
        let got = app
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            return;
        }
        for m in messages {
            app.sqs
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle.unwrap_or_default())
                .send()
                .await
                .unwrap();
        }
    }
}

async fn rejected(app: &test_kit::TestApp) -> usize {
    app.inbox("bob")
        .await
        .iter()
        .filter(|n| s(n, "type") == "application_rejected")
        .count()
}

#[tokio::test]
async fn a_consumer_that_loses_an_event_gets_it_again_and_the_other_nothing_twice() {
    let app = spawn_app_with_stream().await;
    let job = str_of(
        &app.create_job("alice", json!({"skills": ["rust"]})).await,
        "job_id",
    );
    app.apply(&job, "bob", 5_000).await;
    app.drain_queue().await;
    let listed = || app.get("carol", "/jobs?skill=rust");
    assert_eq!(
        listed().await.expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The cancel's job_closed is for both: notify applies it, index's copy is lost.
    app.post("alice", &format!("/jobs/{job}/cancel"), json!({}))
        .await
        .expect(200);
    app.pipe.pipe_once().await.unwrap();
    app.notify_queue().await;
    lose_everything(&app, &app.index_queues.url).await;
    assert_eq!(rejected(&app).await, 1);
    assert_eq!(
        listed().await.expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let due: Vec<String> = app
        .undispatched()
        .await
        .iter()
        .map(|i| s(i, "SK"))
        .collect();
    assert_eq!(
        due,
        [keys::outbox_sk(Consumer::Index)],
        "due for index only"
    );

    // Past the redrive delay the sweeper sends it to index's queue alone.
    let later = shared::time::now() + app.stack.config.redrive_delay * 2;
    let report = app.sweep_at(later).await;
    assert_eq!(report.redriven, 1, "{report:?}");
    assert_eq!(app.queue_depth(&app.queues.url).await, 0);
    assert_eq!(app.queue_depth(&app.index_queues.url).await, 1);
    app.index_queue().await;
    assert!(app.undispatched().await.is_empty());
    let items = app.items().await;
    assert!(
        !items
            .iter()
            .any(|i| s(i, "PK").starts_with(keys::FIND_PREFIX) && s(i, "SK").starts_with('T')),
        "the closed job left the index"
    );
    assert_eq!(rejected(&app).await, 1, "notify heard nothing twice");
    crate::assert_audit_clean(&app).await;
}

#[tokio::test]
async fn a_poison_event_parks_for_its_consumer_only() {
    let app = spawn_app_with_stream().await;
    let job = str_of(&app.create_job("alice", json!({})).await, "job_id");
    app.apply(&job, "bob", 5_000).await;
    app.drain_queue().await;
    app.post("alice", &format!("/jobs/{job}/cancel"), json!({}))
        .await
        .expect(200);
    app.pipe.pipe_once().await.unwrap();
    app.notify_queue().await;
    // index never gets to apply it: each send is lost, and the sweeper tries again.
    let mut at = shared::time::now();
    for _ in 0..=REDRIVES_BEFORE_PARKING {
        lose_everything(&app, &app.index_queues.url).await;
        at += app.stack.config.redrive_delay * 64;
        app.sweep_at(at).await;
    }
    let parked: Vec<String> = app
        .items_with_sk(keys::OUTBOX_SK_PREFIX)
        .await
        .iter()
        .filter(|i| {
            i.get("DUEPK")
                .is_some_and(|v| v.as_s().unwrap() == keys::PARKED_OUTBOX)
        })
        .map(|i| s(i, "SK"))
        .collect();
    assert_eq!(parked, [keys::outbox_sk(Consumer::Index)]);
    // notify's copy was applied once, and stays so.
    let notified = app.inbox("bob").await.len();
    assert_eq!(notified, 1);
    // A parked event is what the audit reports (and must): not a state to leave behind.
    app.delete_table().await;
}
