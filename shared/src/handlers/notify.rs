//! `notify`: the SQS consumer. Applies each event idempotently and reports only the
//! messages that failed, so one poison message neither blocks nor replays the others.

use crate::App;
use crate::domain::OutboxEvent;
use crate::store::StoreError;
use crate::telemetry::error_chain;
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

pub async fn apply_event(app: &App, body: &str) -> Result<Applied, NotifyError> {
    let event: OutboxEvent =
        serde_json::from_str(body).map_err(|e| NotifyError::Malformed(e.to_string()))?;
    let mut applied = Applied::default();
    for notification in event.direct_notifications() {
        if app.store.deliver(&notification).await? {
            applied.delivered += 1;
        }
    }
    if let Some((job_id, _)) = event.closed_job() {
        applied.rejected = app.store.reject_pending(job_id, &event).await?;
    }
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
