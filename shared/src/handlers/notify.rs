//! `notify`: the SQS consumer. Applies each event idempotently and reports only the
//! messages that failed, so one poison message neither blocks nor replays the others.

use crate::App;
use crate::domain::OutboxEvent;
use crate::store::StoreError;
use crate::telemetry::error_chain;
use aws_lambda_events::event::dynamodb::EventRecord as StreamRecord;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("message is not an event: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one event did: notifications that are new now (a redelivery makes none).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub delivered: usize,
    pub rejected: usize,
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

pub async fn apply_event(app: &App, body: &str) -> Result<Applied, NotifyError> {
    let event = event_of(body)?;
    let mut applied = Applied::default();
    for notification in event.direct_notifications() {
        if app.store.deliver(&notification).await? {
            applied.delivered += 1;
        }
    }
    if let Some((job_id, _)) = event.closed_job() {
        applied.rejected = app.store.reject_pending(job_id, &event).await?;
    }
    // Last: an event is acknowledged only once every write that applies it is done, so
    // a failure before here leaves it due and the sweeper sends it again.
    app.store
        .acknowledge(event.event_id, crate::time::now())
        .await?;
    tracing::info!(
        event_id = %event.event_id,
        event_type = event.type_name(),
        delivered = applied.delivered,
        rejected = applied.rejected,
        "event applied"
    );
    Ok(applied)
}

/// Applies a batch. Its events are independent and each is idempotent, so they run at once:
/// a batch takes as long as its slowest event (a large fan-out), not the sum of them, which
/// keeps a batch of big fan-outs inside the function's timeout.
pub async fn notify(app: App, batch: SqsEvent) -> SqsBatchResponse {
    let outcomes = futures::future::join_all(batch.records.into_iter().map(|record| {
        let app = &app;
        async move {
            let id = record.message_id.unwrap_or_default();
            let body = record.body.unwrap_or_default();
            match apply_event(app, &body).await {
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(message_id = %id, error = %error_chain(&e), "event failed; SQS will retry it");
                    Some(id)
                }
            }
        }
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    for id in outcomes.into_iter().flatten() {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
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
