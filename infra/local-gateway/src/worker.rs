//! What Lambda's event source mapping and EventBridge do in production, done locally: feed
//! the queue to `notify` (deleting only what succeeded) and fire `sweep` on a timer.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use shared::App;
use shared::handlers::sweep::SweepReport;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Receives one batch (long-polling up to `wait`), runs `notify` on it and deletes the
/// messages it did not report as failed. Returns how many messages were received.
pub async fn pump_once(
    app: &App,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    wait: Duration,
) -> Result<usize, String> {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait.as_secs() as i32)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .map_err(|e| shared::telemetry::error_chain(&e))?;
    let messages = received.messages.unwrap_or_default();
    if messages.is_empty() {
        return Ok(0);
    }
    let mut event = SqsEvent::default();
    for m in &messages {
        let mut record = SqsMessage::default();
        record.message_id = m.message_id.clone();
        record.receipt_handle = m.receipt_handle.clone();
        record.body = m.body.clone();
        record.event_source = Some("aws:sqs".into());
        record.aws_region = Some("us-east-1".into());
        event.records.push(record);
    }
    // The notify function's timeout in template.yaml, as Lambda would give it.
    let deadline = shared::deadline::Deadline::after(Duration::from_secs(30));
    let response = shared::handlers::notify(app.until(deadline), event).await;
    let failed: HashSet<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    let entries: Vec<_> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| !failed.contains(m.message_id.as_deref().unwrap_or_default()))
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                .build()
                .ok()
        })
        .collect();
    if !entries.is_empty() {
        sqs.delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| shared::telemetry::error_chain(&e))?;
    }
    Ok(messages.len())
}

/// Feeds the queue to `notify` until the task is aborted.
pub fn spawn_pump(app: App, sqs: aws_sdk_sqs::Client, queue_url: String) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = pump_once(&app, &sqs, &queue_url, Duration::from_secs(1)).await {
                tracing::warn!(error = %e, "queue poll failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    })
}

/// One sweep, now, with a Lambda-sized time budget.
pub async fn sweep_now(app: &App) -> Result<SweepReport, String> {
    shared::handlers::sweep(
        app,
        shared::time::now(),
        Instant::now() + Duration::from_secs(55),
    )
    .await
    .map_err(|e| shared::telemetry::error_chain(&e))
}

/// Fires `sweep` every `interval`, as the EventBridge schedule does every minute.
pub fn spawn_sweeper(app: App, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            if let Err(e) = sweep_now(&app).await {
                tracing::warn!(error = %e, "scheduled sweep failed");
            }
        }
    })
}
