//! The sweeper's way to the queue: sends outbox events again that `notify` has not applied
//! (the table's stream and its pipe send them first). A failure here is logged, and the
//! event stays due for the next sweep.

use crate::deadline::{Deadline, RESERVE};
use crate::domain::EventId;
use crate::store::OutboxRow;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

/// SendMessageBatch takes at most ten entries.
const SQS_BATCH: usize = 10;

/// The most one send may take. The change is committed before anything is sent, so an SQS
/// that hangs must not hold the answer past the function's timeout (a committed hire that
/// answers 5xx is retried by its client into a 409): what is not sent in time stays due and
/// the sweeper sends it.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The queue and a client for it; only a function told `QUEUE_URL` (the sweeper) has one.
#[derive(Clone, Debug)]
pub struct Publisher {
    queue: Option<(aws_sdk_sqs::Client, String)>,
}

impl Publisher {
    pub fn new(sqs: Option<aws_sdk_sqs::Client>, queue_url: Option<String>) -> Self {
        Self {
            queue: sqs.zip(queue_url),
        }
    }

    /// Sends each row's body; returns the ids SQS accepted. Errors are logged, not raised:
    /// whatever was not sent stays due in the outbox.
    pub async fn send(&self, rows: &[OutboxRow], deadline: Deadline) -> Vec<EventId> {
        let Some((sqs, queue_url)) = &self.queue else {
            tracing::warn!(
                events = rows.len(),
                "no QUEUE_URL: events left due for the next sweep"
            );
            return Vec::new();
        };
        let mut sent = Vec::new();
        for chunk in rows.chunks(SQS_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, row)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&row.body)
                        .build()
                        .ok()
                })
                .collect::<Vec<_>>();
            let send = sqs
                .send_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send();
            // Never past the invocation's deadline: what is not sent stays due.
            let limit = SEND_TIMEOUT.min(deadline.remaining().saturating_sub(RESERVE));
            match tokio::time::timeout(limit, send).await {
                Err(_) => {
                    // SQS is not answering: the rest would only wait as long again.
                    tracing::warn!(
                        events = rows.len() - sent.len(),
                        "SQS send timed out; left for the sweeper"
                    );
                    break;
                }
                Ok(Ok(out)) => {
                    for ok in out.successful() {
                        if let Some(row) = ok.id().parse::<usize>().ok().and_then(|i| chunk.get(i))
                        {
                            sent.push(row.event_id);
                        }
                    }
                    for failed in out.failed() {
                        tracing::warn!(
                            code = failed.code(),
                            "SQS refused an event; left for the sweeper"
                        );
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %crate::telemetry::error_chain(&e), events = chunk.len(), "SQS send failed; left for the sweeper");
                }
            }
        }
        sent
    }
}
