//! `index`: the SQS consumer that keeps the discovery indexes in step with jobs. A posted
//! job becomes findable, a job that left `open` stops being findable, each idempotently
//! (see `store::findex`); then the event is acknowledged for this consumer alone, so a
//! failure here delays indexing and never a notification.

use crate::App;
use crate::domain::{Consumer, EventKind, JobStatus, OutboxEvent};
use crate::metrics;
use crate::store::{Indexed, StoreError};
use crate::telemetry::error_chain;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("message is not an event: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The outbox event a message to `index` carries.
pub fn event_of(message: &str) -> Result<OutboxEvent, IndexError> {
    crate::bus::delivery_of(message, Consumer::Index)
        .map(|delivery| delivery.event)
        .map_err(|e| IndexError::Malformed(e.to_string()))
}

/// Applies one event: what the job is now decides, so a late post of a closed job only
/// leaves its tombstone.
async fn apply(app: &App, event: &OutboxEvent) -> Result<(), IndexError> {
    let now = crate::time::now();
    let job_id = match &event.kind {
        EventKind::JobPosted { job_id, .. } | EventKind::JobClosed { job_id, .. } => *job_id,
        // Routed here by mistake: nothing of it is indexed.
        _ => {
            return Ok(app
                .store
                .acknowledge(event.event_id, Consumer::Index, now)
                .await?);
        }
    };
    let job = app.store.job(job_id).await?;
    let posted = matches!(event.kind, EventKind::JobPosted { .. });
    let outcome = match &job {
        Some(job) if posted && job.status_at(now) == JobStatus::Open => {
            app.store.index_job(job).await?
        }
        job => app.store.unindex_job(job_id, job.as_ref()).await?,
    };
    match outcome {
        Indexed::Findable { batches } => {
            metrics::count("JobsIndexed", 1);
            tracing::info!(event_id = %event.event_id, %job_id, batches, "job findable");
        }
        Indexed::Closed { removed } => {
            metrics::count("JobsUnindexed", 1);
            tracing::info!(event_id = %event.event_id, %job_id, removed, "job not findable");
        }
    }
    app.store
        .acknowledge(event.event_id, Consumer::Index, crate::time::now())
        .await?;
    Ok(())
}

/// Applies a batch, its events at once, and reports only the messages that failed.
pub async fn index(app: App, batch: SqsEvent) -> SqsBatchResponse {
    let outcomes = futures::future::join_all(batch.records.into_iter().map(|record| {
        let app = &app;
        async move {
            let id = record.message_id.unwrap_or_default();
            let body = record.body.unwrap_or_default();
            let outcome = match event_of(&body) {
                Ok(event) => apply(app, &event).await,
                Err(e) => Err(e),
            };
            (id, outcome)
        }
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    for (id, outcome) in outcomes {
        if let Err(error) = outcome {
            tracing::warn!(message_id = %id, error = %error_chain(&error), "event failed; SQS will retry it");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}
