//! `notify`: the SQS consumer. Applies each event idempotently and reports only the
//! messages that failed, so one poison message neither blocks nor replays the others.

use crate::App;
use crate::domain::{Consumer, Notification, OutboxEvent, UserId};
use crate::metrics;
use crate::store::StoreError;
use crate::telemetry::error_chain;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("message is not an event: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The outbox event a message carries: the bus's envelope whether the rule delivered it or
/// the sweeper re-sent it, addressed to `notify`.
pub fn event_of(message: &str) -> Result<OutboxEvent, NotifyError> {
    crate::bus::delivery_of(message, Consumer::Notify)
        .map(|delivery| delivery.event)
        .map_err(|e| NotifyError::Malformed(e.to_string()))
}

/// What is left of an event once its direct notifications are delivered: the fan-out of a
/// closed job, or the rejection of an application that arrived after its job closed; then
/// the acknowledgement, last, so that a failure anywhere before leaves the event due and
/// the sweeper sends it again. Answers the rejections it delivered, to be pushed.
async fn finish(app: &App, event: &OutboxEvent) -> Result<Vec<Notification>, NotifyError> {
    let rejected = match event.closed_job() {
        Some((job_id, _)) => app.store.reject_pending(job_id, event).await?,
        None => app
            .store
            .reject_if_late(event, crate::time::now())
            .await?
            .into_iter()
            .collect(),
    };
    app.store
        .acknowledge(event.event_id, Consumer::Notify, crate::time::now())
        .await?;
    tracing::info!(
        event_id = %event.event_id,
        event_type = event.type_name(),
        rejected = rejected.len(),
        "event applied"
    );
    Ok(rejected)
}

/// Applies a batch, each event idempotently, and reports only the messages that failed.
///
/// The direct notifications of the whole batch are delivered one write per recipient (each
/// write takes the next positions of that inbox at once), so events for one user do not
/// race each other for their inbox's positions. Then each event's fan-out and
/// acknowledgement run at once: a batch takes as long as its slowest fan-out, not the sum,
/// which keeps a batch of big fan-outs inside the function's timeout.
///
/// Everything delivered is pushed to its recipient's live connections once its write has
/// committed, beside the acknowledgements: a push that fails or hangs delays neither, and
/// never fails a message (the inbox holds what it carried).
pub async fn notify(app: App, batch: SqsEvent) -> SqsBatchResponse {
    let messages: Vec<(String, Result<OutboxEvent, NotifyError>)> = batch
        .records
        .into_iter()
        .map(|record| {
            let body = record.body.unwrap_or_default();
            (record.message_id.unwrap_or_default(), event_of(&body))
        })
        .collect();
    let mut failed: BTreeMap<usize, NotifyError> = BTreeMap::new();
    let mut by_recipient: HashMap<UserId, (Vec<usize>, Vec<Notification>)> = HashMap::new();
    for (i, (_, event)) in messages.iter().enumerate() {
        for n in event.iter().flat_map(OutboxEvent::direct_notifications) {
            let (events, notifications) = by_recipient.entry(n.recipient_id.clone()).or_default();
            events.push(i);
            notifications.push(n);
        }
    }
    let deliveries =
        futures::future::join_all(by_recipient.into_values().map(|(events, notifications)| {
            let app = &app;
            async move { (events, app.store.deliver(notifications).await) }
        }))
        .await;
    let mut delivered = Vec::new();
    for (events, outcome) in deliveries {
        match outcome {
            Ok(done) => {
                tracing::info!(new = done.new.len(), "notifications delivered");
                metrics::count("NotificationsApplied", done.new.len());
                metrics::count("DuplicatesSkipped", done.again.len());
                delivered.extend(done.new);
                delivered.extend(done.again);
            }
            Err(e) => {
                let e = NotifyError::from(e);
                for i in events {
                    failed.entry(i).or_insert_with(|| clone_error(&e));
                }
            }
        }
    }
    let finishing =
        futures::future::join_all(messages.iter().enumerate().map(|(i, (_, event))| {
            let app = &app;
            let skip = failed.contains_key(&i);
            async move {
                match event {
                    Ok(event) if !skip => Some((i, finish(app, event).await)),
                    _ => None,
                }
            }
        }));
    let (finished, _) = futures::future::join(
        finishing,
        crate::sockets::push(&app.store, &app.sockets, &delivered),
    )
    .await;
    let mut rejections = Vec::new();
    for (i, outcome) in finished.into_iter().flatten() {
        match outcome {
            Ok(rejected) => {
                metrics::count("FanOutRejections", rejected.len());
                rejections.extend(rejected);
            }
            Err(e) => {
                failed.insert(i, e);
            }
        }
    }
    crate::sockets::push(&app.store, &app.sockets, &rejections).await;
    let mut response = SqsBatchResponse::default();
    for (i, (id, event)) in messages.into_iter().enumerate() {
        let error = match event {
            Err(e) => e,
            Ok(_) => match failed.remove(&i) {
                Some(e) => e,
                None => continue,
            },
        };
        tracing::warn!(message_id = %id, error = %error_chain(&error), "event failed; SQS will retry it");
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}

/// An error shared by every event of a failed delivery, by its message: a store error is
/// not `Clone`, and only its text is logged.
fn clone_error(e: &NotifyError) -> NotifyError {
    NotifyError::Store(StoreError::Failed(error_chain(e).into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CloseReason, EventKind, JobId};
    use serde_json::json;

    fn event() -> OutboxEvent {
        OutboxEvent::new(
            EventKind::JobClosed {
                job_id: JobId::generate(),
                reason: CloseReason::Cancelled,
            },
            crate::time::parse("2026-01-01T00:00:00.000Z").unwrap(),
        )
    }

    #[test]
    fn a_message_is_the_envelope_of_a_delivery_to_notify() {
        let event = event();
        let delivery = event.deliveries().next().unwrap();
        let detail = serde_json::to_value(&delivery).unwrap();
        let message = serde_json::to_string(&crate::bus::envelope(detail, event.created_at));
        assert_eq!(event_of(&message.unwrap()).unwrap(), event);
        // The event alone, or a stream record, is not what the bus delivers.
        let bare = serde_json::to_string(&event).unwrap();
        assert!(matches!(event_of(&bare), Err(NotifyError::Malformed(_))));
        let record =
            json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"body": {"S": bare}}}});
        assert!(matches!(
            event_of(&record.to_string()),
            Err(NotifyError::Malformed(_))
        ));
        assert!(matches!(event_of("{}"), Err(NotifyError::Malformed(_))));
    }
}
