//! The transactional outbox: events written with the change they announce, then sent to
//! SQS; until marked dispatched they stay in the sparse due index for the sweeper.

use super::keys::{self, IndexKeys};
use super::{Store, StoreError};
use crate::domain::{EventId, OutboxEvent};
use crate::time::{self, Timestamp};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use serde::{Deserialize, Serialize};

/// An outbox item: the event as the exact JSON that goes on the queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxRow {
    pub event_id: EventId,
    pub body: String,
    #[serde(with = "time::rfc3339")]
    pub created_at: Timestamp,
    /// Due-index sort key as read, so a claim can be conditioned on it.
    #[serde(rename = "DUESK", default, skip_serializing)]
    pub due: Option<String>,
}

impl OutboxRow {
    pub fn of(event: &OutboxEvent) -> Result<Self, StoreError> {
        Ok(Self {
            event_id: event.event_id,
            body: serde_json::to_string(event).map_err(|e| StoreError::Failed(e.into()))?,
            created_at: event.created_at,
            due: None,
        })
    }
}

/// One page of due work.
#[derive(Debug)]
pub struct DuePage<T> {
    pub items: Vec<T>,
    pub next: Option<super::PageKey>,
    /// Items DynamoDB read for this page: what the sweep costs.
    pub read: usize,
    /// Due items that do not parse: logged by key and passed over, so one bad item never
    /// stops the work behind it.
    pub unreadable: usize,
}

impl Store {
    pub(crate) fn outbox_put(&self, event: &OutboxEvent) -> Result<TransactWriteItem, StoreError> {
        let row = OutboxRow::of(event)?;
        self.put(
            keys::outbox_pk(event.event_id),
            keys::OUTBOX_SK.to_owned(),
            IndexKeys {
                duepk: Some(keys::Due::Outbox.pk(event.event_id)),
                duesk: Some(keys::due_at(event.created_at, event.event_id)),
                ..IndexKeys::default()
            },
            &row,
            true,
        )
    }

    /// Takes a sent event out of the due index. Harmless if already taken out.
    pub async fn mark_dispatched(&self, id: EventId, now: Timestamp) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .key(keys::PK, AttributeValue::S(keys::outbox_pk(id)))
            .key(keys::SK, AttributeValue::S(keys::OUTBOX_SK.to_owned()))
            .update_expression("REMOVE DUEPK, DUESK SET dispatched_at = :now")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":now", AttributeValue::S(time::format(now)))
            .send()
            .await;
        super::error::unless_condition_failed(result)?;
        Ok(())
    }

    /// Items of one partition of due work (see [`keys::Due::partitions`]) whose time is
    /// before `before`, oldest first: one Query of the sparse due index, so the cost follows
    /// what is due, not the size of the table.
    pub async fn due<T: serde::de::DeserializeOwned>(
        &self,
        partition: &str,
        before: Timestamp,
        limit: u32,
        start: Option<super::PageKey>,
    ) -> Result<DuePage<T>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(self.table())
            .index_name(keys::DUE_INDEX)
            .key_condition_expression("DUEPK = :due AND DUESK < :before")
            .expression_attribute_values(":due", AttributeValue::S(partition.to_owned()))
            .expression_attribute_values(":before", AttributeValue::S(time::format(before)))
            .limit(limit as i32)
            .set_exclusive_start_key(start.map(super::PageKey::into_dynamo))
            .send()
            .await?;
        let mut page = DuePage {
            items: Vec::new(),
            next: out.last_evaluated_key.and_then(super::PageKey::from_dynamo),
            read: out.scanned_count as usize,
            unreadable: 0,
        };
        for item in out.items.unwrap_or_default() {
            let key = item.get(keys::PK).and_then(|v| v.as_s().ok()).cloned();
            match serde_dynamo::from_item(item) {
                Ok(parsed) => page.items.push(parsed),
                Err(_) => {
                    // By key only: the item's attributes may hold personal text.
                    tracing::error!(
                        key = key.as_deref().unwrap_or("?"),
                        "due item unreadable; passed over"
                    );
                    page.unreadable += 1;
                }
            }
        }
        Ok(page)
    }

    /// Claims a due event for one sweeper: moves its due time to `now`, on condition that
    /// nobody moved it since it was read. Of two sweepers, one wins; the event is due again
    /// after another redrive delay if the winner fails to send it.
    pub async fn claim_outbox(&self, row: &OutboxRow, now: Timestamp) -> Result<bool, StoreError> {
        let Some(seen) = &row.due else {
            return Ok(false);
        };
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .key(keys::PK, AttributeValue::S(keys::outbox_pk(row.event_id)))
            .key(keys::SK, AttributeValue::S(keys::OUTBOX_SK.to_owned()))
            .update_expression("SET DUESK = :claimed")
            .condition_expression("DUESK = :seen")
            .expression_attribute_values(":seen", AttributeValue::S(seen.clone()))
            .expression_attribute_values(
                ":claimed",
                AttributeValue::S(keys::due_at(now, row.event_id)),
            )
            .send()
            .await;
        Ok(super::error::unless_condition_failed(result)?.is_some())
    }
}
