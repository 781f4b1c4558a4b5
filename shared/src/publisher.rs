//! The sweeper's way to the consumers' queues: sends again, to each consumer only, the
//! events it has not applied (the table's stream, its pipe and the bus's rules deliver them
//! first), in the envelope its rule delivers ([`crate::bus`]). A failure here is logged, and
//! the event stays due for the next sweep.

use crate::deadline::{Deadline, RESERVE};
use crate::domain::{Consumer, EventId};
use crate::store::OutboxRow;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use std::collections::BTreeMap;

/// SendMessageBatch takes at most ten entries.
const SQS_BATCH: usize = 10;

/// The most one send may take. The change is committed before anything is sent, so an SQS
/// that hangs must not hold the answer past the function's timeout (a committed hire that
/// answers 5xx is retried by its client into a 409): what is not sent in time stays due and
/// the sweeper sends it.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The consumers' queues and a client for them; only a function told them (the sweeper)
/// has any.
#[derive(Clone, Debug)]
pub struct Publisher {
    sqs: Option<aws_sdk_sqs::Client>,
    queues: BTreeMap<Consumer, String>,
}

impl Publisher {
    pub fn new(sqs: Option<aws_sdk_sqs::Client>, queues: BTreeMap<Consumer, String>) -> Self {
        Self { sqs, queues }
    }

    /// Sends each row to its consumer's queue; returns the ids SQS accepted. Errors are
    /// logged, not raised: whatever was not sent stays due in the outbox.
    pub async fn send(&self, rows: &[OutboxRow], deadline: Deadline) -> Vec<EventId> {
        let mut by_consumer: BTreeMap<Consumer, Vec<&OutboxRow>> = BTreeMap::new();
        for row in rows {
            by_consumer.entry(row.consumer).or_default().push(row);
        }
        let mut sent = Vec::new();
        for (consumer, rows) in by_consumer {
            match (&self.sqs, self.queues.get(&consumer)) {
                (Some(sqs), Some(queue_url)) => {
                    if !self
                        .send_to(sqs, queue_url, &rows, deadline, &mut sent)
                        .await
                    {
                        break;
                    }
                }
                _ => tracing::warn!(
                    %consumer,
                    events = rows.len(),
                    "no queue for the consumer: events left due for the next sweep"
                ),
            }
        }
        sent
    }

    /// Sends `rows` to one queue, adding what SQS accepted to `sent`; false when SQS stopped
    /// answering in time, so nothing more is tried this run.
    async fn send_to(
        &self,
        sqs: &aws_sdk_sqs::Client,
        queue_url: &str,
        rows: &[&OutboxRow],
        deadline: Deadline,
        sent: &mut Vec<EventId>,
    ) -> bool {
        for chunk in rows.chunks(SQS_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, row)| {
                    // A body that is no JSON is sent as a string: judging it is the
                    // consumer's, which fails it until the sweeper parks it.
                    let detail = serde_json::from_str(&row.body)
                        .unwrap_or_else(|_| serde_json::Value::String(row.body.clone()));
                    let message = crate::bus::envelope(detail, crate::time::now());
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(serde_json::to_string(&message).ok()?)
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
                    tracing::warn!("SQS send timed out; what is unsent is left for the sweeper");
                    return false;
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
        true
    }
}
