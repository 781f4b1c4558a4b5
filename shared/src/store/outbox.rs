//! The transactional outbox: events written with the change they announce, one item per
//! event and consumer ([`Delivery`]). An item stays in the sparse due index until its
//! consumer has applied the event (its acknowledgement takes the due keys away); the sweeper
//! re-sends what is still due to that consumer only, with backoff, and parks an item that
//! was sent too often.

use super::keys::{self, IndexKeys};
use super::{Store, StoreError};
use crate::domain::{Consumer, Delivery, EventId};
use crate::time::{self, Timestamp};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use serde::{Deserialize, Serialize};

/// An outbox item: one event for one consumer, its body the exact JSON of the [`Delivery`]
/// that becomes the `detail` of the event on the bus.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxRow {
    pub event_id: EventId,
    pub consumer: Consumer,
    pub body: String,
    #[serde(with = "time::rfc3339")]
    pub created_at: Timestamp,
    /// Due-index sort key as read, so a claim can be conditioned on it.
    #[serde(rename = "DUESK", default, skip_serializing)]
    pub due: Option<String>,
    /// How often the sweeper has sent it again.
    #[serde(default)]
    pub attempts: u32,
    /// The last sweeper's claim on it, so a claim whose answer was lost knows itself.
    #[serde(default, skip_serializing)]
    pub claim: Option<String>,
}

impl OutboxRow {
    pub fn of(delivery: &Delivery) -> Result<Self, StoreError> {
        let event = &delivery.event;
        Ok(Self {
            event_id: event.event_id,
            consumer: delivery.consumer,
            body: serde_json::to_string(delivery).map_err(|e| StoreError::Failed(e.into()))?,
            created_at: event.created_at,
            due: None,
            attempts: 0,
            claim: None,
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
    pub(crate) fn outbox_put(&self, delivery: &Delivery) -> Result<TransactWriteItem, StoreError> {
        let row = OutboxRow::of(delivery)?;
        let event = &delivery.event;
        self.put(
            keys::outbox_pk(event.event_id),
            keys::outbox_sk(delivery.consumer),
            IndexKeys {
                duepk: Some(keys::Due::Outbox.pk(event.event_id)),
                duesk: Some(keys::due_at(event.created_at, event.event_id)),
                ..IndexKeys::default()
            },
            &row,
            true,
        )
    }

    /// `consumer` has applied the event: its item leaves the due index, and the table
    /// forgets it after [`APPLIED_TTL_DAYS`]. Harmless when repeated; other consumers' items
    /// of the event stay as they are.
    pub async fn acknowledge(
        &self,
        id: EventId,
        consumer: Consumer,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let forget_at = (now + chrono::Duration::days(APPLIED_TTL_DAYS)).timestamp();
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .key(keys::PK, AttributeValue::S(keys::outbox_pk(id)))
            .key(keys::SK, AttributeValue::S(keys::outbox_sk(consumer)))
            .update_expression(
                "REMOVE DUEPK, DUESK SET applied_at = if_not_exists(applied_at, :now), \
                 expires_ttl = :ttl",
            )
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":now", AttributeValue::S(time::format(now)))
            .expression_attribute_values(":ttl", AttributeValue::N(forget_at.to_string()))
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

    /// Claims a due event for one sweeper: counts the attempt, stamps the claim with `at`
    /// (when it is made) and moves the event's due time to `due_again`, on condition that
    /// nobody moved it since it was read. Of two sweepers, one wins. A claim whose answer
    /// was lost is sent once more; finding its own claim there, it is ours.
    pub async fn claim_outbox(
        &self,
        row: &OutboxRow,
        at: Timestamp,
        due_again: Timestamp,
    ) -> Result<bool, StoreError> {
        let update = "SET DUESK = :next, attempts = :attempts, claimed_at = :at";
        let values = [
            (
                ":next",
                AttributeValue::S(keys::due_at(due_again, row.event_id)),
            ),
            (
                ":attempts",
                AttributeValue::N((row.attempts + 1).to_string()),
            ),
            (":at", AttributeValue::S(time::format(at))),
        ];
        self.move_due(row, update, values).await
    }

    /// Takes an event the sweeper has sent too often out of its due partitions and into the
    /// parked one, where the audit and an operator find it and no sweep sends it again.
    pub async fn park_outbox(&self, row: &OutboxRow, at: Timestamp) -> Result<bool, StoreError> {
        let values = [
            (":parked", AttributeValue::S(keys::PARKED_OUTBOX.to_owned())),
            (":next", AttributeValue::S(keys::due_at(at, row.event_id))),
            (":at", AttributeValue::S(time::format(at))),
        ];
        self.move_due(
            row,
            "SET DUEPK = :parked, DUESK = :next, parked_at = :at",
            values,
        )
        .await
    }

    /// One conditional move of a due event, on its due key as read, stamped with a claim of
    /// its own; sent twice when the first answer is lost. A failed condition that finds this
    /// claim on the event means the first send committed: the move is ours.
    async fn move_due<const N: usize>(
        &self,
        row: &OutboxRow,
        update: &str,
        values: [(&str, AttributeValue); N],
    ) -> Result<bool, StoreError> {
        let Some(seen) = &row.due else {
            return Ok(false);
        };
        let claim = ulid::Ulid::generate().to_string();
        let update = format!("{update}, #claim = :claim");
        let mut sends = 0;
        loop {
            sends += 1;
            let mut request = self
                .client
                .update_item()
                .table_name(self.table())
                .key(keys::PK, AttributeValue::S(keys::outbox_pk(row.event_id)))
                .key(keys::SK, AttributeValue::S(keys::outbox_sk(row.consumer)))
                .update_expression(&update)
                .condition_expression("DUESK = :seen")
                .expression_attribute_names("#claim", "claim")
                .expression_attribute_values(":seen", AttributeValue::S(seen.clone()))
                .expression_attribute_values(":claim", AttributeValue::S(claim.clone()))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            for (name, value) in values.clone() {
                request = request.expression_attribute_values(name, value);
            }
            match request.send().await {
                Ok(_) => return Ok(true),
                Err(e) => {
                    let old_claim = e.as_service_error().and_then(|e| match e {
                        UpdateItemError::ConditionalCheckFailedException(failed) => {
                            Some(failed.item().and_then(|i| i.get("claim")).cloned())
                        }
                        _ => None,
                    });
                    match old_claim {
                        Some(found) => {
                            let ours = found.as_ref().and_then(|v| v.as_s().ok()) == Some(&claim);
                            return Ok(ours);
                        }
                        None => {
                            let error = StoreError::from(e);
                            if sends >= 2 || !matches!(error, StoreError::Unavailable(_)) {
                                return Err(error);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// How long an applied event is kept before DynamoDB's TTL deletes it: long enough to look
/// into a report of a notification that went wrong.
pub const APPLIED_TTL_DAYS: i64 = 7;
