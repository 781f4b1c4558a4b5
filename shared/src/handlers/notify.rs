//! `notify`: the SQS consumer. Applies each event idempotently and reports only the
//! messages that failed, so one poison message neither blocks nor replays the others.

use crate::App;
use crate::domain::{Notification, OutboxEvent, UserId};
use crate::metrics;
use crate::store::StoreError;
use crate::telemetry::error_chain;
use aws_lambda_events::event::dynamodb::EventRecord as StreamRecord;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("message is not an event: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The outbox event a message carries. EventBridge Pipes sends the table stream's record of
/// the outbox item's insert, whose new image holds the event's JSON as `body`; the sweeper
/// re-sends that JSON itself.
pub fn event_of(message: &str) -> Result<OutboxEvent, NotifyError> {
    let malformed = |e: &dyn std::fmt::Display| NotifyError::Malformed(e.to_string());
    let value: serde_json::Value = serde_json::from_str(message).map_err(|e| malformed(&e))?;
    let event = if value.get("dynamodb").is_some() {
        let record: StreamRecord = serde_json::from_value(value).map_err(|e| malformed(&e))?;
        match record.change.new_image.get("body") {
            Some(serde_dynamo::AttributeValue::S(body)) => serde_json::from_str(body),
            _ => return Err(malformed(&"a stream record without an outbox body")),
        }
    } else {
        serde_json::from_value(value)
    };
    event.map_err(|e| malformed(&e))
}

/// What is left of an event once its direct notifications are delivered: the fan-out of a
/// closed job, then the acknowledgement, last, so that a failure anywhere before leaves the
/// event due and the sweeper sends it again.
async fn finish(app: &App, event: &OutboxEvent) -> Result<usize, NotifyError> {
    let rejected = match event.closed_job() {
        Some((job_id, _)) => app.store.reject_pending(job_id, event).await?,
        None => 0,
    };
    app.store
        .acknowledge(event.event_id, crate::time::now())
        .await?;
    tracing::info!(
        event_id = %event.event_id,
        event_type = event.type_name(),
        rejected,
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
            let sent = notifications.len();
            async move { (events, sent, app.store.deliver(notifications).await) }
        }))
        .await;
    for (events, sent, delivered) in deliveries {
        match delivered {
            Ok(new) => {
                tracing::info!(new, "notifications delivered");
                metrics::count("NotificationsApplied", new);
                metrics::count("DuplicatesSkipped", sent.saturating_sub(new));
            }
            Err(e) => {
                let e = NotifyError::from(e);
                for i in events {
                    failed.entry(i).or_insert_with(|| clone_error(&e));
                }
            }
        }
    }
    let finished = futures::future::join_all(messages.iter().enumerate().map(|(i, (_, event))| {
        let app = &app;
        let skip = failed.contains_key(&i);
        async move {
            match event {
                Ok(event) if !skip => Some((i, finish(app, event).await)),
                _ => None,
            }
        }
    }))
    .await;
    for (i, outcome) in finished.into_iter().flatten() {
        match outcome {
            Ok(rejected) => metrics::count("FanOutRejections", rejected),
            Err(e) => {
                failed.insert(i, e);
            }
        }
    }
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
    fn a_message_is_the_pipes_stream_record_or_the_sweepers_event() {
        let event = event();
        let body = serde_json::to_string(&event).unwrap();
        let record = json!({
            "eventID": "1",
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "Keys": {"PK": {"S": format!("OUTBOX#{}", event.event_id)}, "SK": {"S": "OUTBOX"}},
                "NewImage": {
                    "PK": {"S": format!("OUTBOX#{}", event.event_id)},
                    "SK": {"S": "OUTBOX"},
                    "body": {"S": body}
                },
                "SequenceNumber": "100",
                "SizeBytes": 26,
                "StreamViewType": "NEW_AND_OLD_IMAGES"
            },
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026"
        });
        assert_eq!(event_of(&record.to_string()).unwrap(), event);
        assert_eq!(event_of(&body).unwrap(), event);
        let without_body = record.to_string().replace("\"body\"", "\"other\"");
        assert!(matches!(
            event_of(&without_body),
            Err(NotifyError::Malformed(_))
        ));
        assert!(matches!(event_of("{}"), Err(NotifyError::Malformed(_))));
    }
}
