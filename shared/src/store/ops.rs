//! The building blocks every store operation uses: attribute values, conditional puts and
//! updates for transactions, reads, and paging.

use super::keys::{self, IndexKeys, Row};
use super::transact::reason_code;
use super::{Page, PageKey, Store, StoreError};
use crate::domain::{AuditRecord, JobId};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

/// Items a filtered query reads per round at the least, so that a run of filtered-out items
/// costs one round trip, not one per item.
const READ_AHEAD: usize = 25;
/// Queries one filtered page may take.
const FILL_ROUNDS: usize = 5;

/// Where `item` stands in a Query, as a cursor can carry it.
fn position_of(item: &HashMap<String, AttributeValue>, names: &[&str]) -> Option<PageKey> {
    PageKey::from_dynamo(
        names
            .iter()
            .filter_map(|n| item.get(*n).map(|v| ((*n).to_owned(), v.clone())))
            .collect(),
    )
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Failed(Box::new(e))
}

pub(super) fn values<const N: usize>(
    pairs: [(&str, AttributeValue); N],
) -> HashMap<String, AttributeValue> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

pub(super) fn names<const N: usize>(pairs: [(&str, &str); N]) -> HashMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

pub(super) fn old_item<T: DeserializeOwned>(reason: &CancellationReason) -> Option<T> {
    reason
        .item()
        .and_then(|item| serde_dynamo::from_item(item.clone()).ok())
}

pub(super) fn failed(reason: Option<&CancellationReason>) -> bool {
    reason.is_some_and(|r| reason_code(r) == "ConditionalCheckFailed")
}

/// A cancellation that is no answer to give the caller (not the condition on the state):
/// a failure, named by its reason codes only.
pub(super) fn cancelled(what: &str, reasons: &[CancellationReason]) -> StoreError {
    StoreError::Failed(format!("{what} cancelled: {:?}", super::transact::codes(reasons)).into())
}

/// For a cancelled transaction whose first item holds the condition on the state: that item
/// as it is now (its ALL_OLD image, else `seen`) when its condition is what failed.
pub(super) fn state_now<T: DeserializeOwned + Clone>(
    what: &str,
    reasons: &[CancellationReason],
    seen: &T,
) -> Result<T, StoreError> {
    if failed(reasons.first()) {
        Ok(reasons
            .first()
            .and_then(old_item)
            .unwrap_or_else(|| seen.clone()))
    } else {
        Err(cancelled(what, reasons))
    }
}

impl Store {
    pub(super) fn put<T: Serialize>(
        &self,
        pk: String,
        sk: String,
        index: IndexKeys,
        body: &T,
        only_if_new: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let item = serde_dynamo::to_item(Row {
            pk,
            sk,
            index,
            body,
        })?;
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(item))
            .set_condition_expression(only_if_new.then(|| "attribute_not_exists(PK)".to_owned()))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Audit events live in the job's item collection, so a job's whole history, its
    /// applications' and its contracts' included, is one Query.
    pub(super) fn audit(
        &self,
        job_id: JobId,
        event: &AuditRecord,
    ) -> Result<TransactWriteItem, StoreError> {
        self.put(
            keys::job_pk(job_id),
            keys::event_sk(event.event_id),
            IndexKeys::default(),
            event,
            true,
        )
    }

    pub(super) fn update(
        &self,
        key: (String, String),
        expression: &str,
        condition: &str,
        names: HashMap<String, String>,
        values: HashMap<String, AttributeValue>,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(self.table())
            .key(keys::PK, s(key.0))
            .key(keys::SK, s(key.1))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        pk: String,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(self.table())
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .consistent_read(true)
            .send()
            .await?;
        Ok(out.item.map(serde_dynamo::from_item).transpose()?)
    }

    /// One page of `query`, newest first (every list but the audit trail).
    pub(super) async fn page<T: DeserializeOwned>(
        &self,
        query: QueryFluentBuilder,
        limit: u32,
        start: Option<PageKey>,
    ) -> Result<Page<T>, StoreError> {
        self.page_in_order(query.scan_index_forward(false), limit, start)
            .await
    }

    /// One page of `query` in the order it already asks for. A filter (open jobs past
    /// their deadline, applications no longer pending) can leave a Query's answer short of
    /// `limit`, so a filtered query reads ahead and is asked again from where it stopped
    /// until the page is full or the items run out: a short page is the last one, unless
    /// [`FILL_ROUNDS`] Queries in a row found too few, which ends the page early (with a
    /// cursor) rather than the request late.
    pub(super) async fn page_in_order<T: DeserializeOwned>(
        &self,
        query: QueryFluentBuilder,
        limit: u32,
        start: Option<PageKey>,
    ) -> Result<Page<T>, StoreError> {
        let limit = limit as usize;
        let filtered = query.get_filter_expression().is_some();
        let fetch = if filtered {
            limit.max(READ_AHEAD)
        } else {
            limit
        };
        let position = keys::position_attributes(query.get_index_name().as_deref());
        let mut items = Vec::with_capacity(limit);
        let mut start = start.map(PageKey::into_dynamo);
        for _ in 0..FILL_ROUNDS {
            let out = query
                .clone()
                .table_name(self.table())
                .limit(fetch as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await?;
            let answer = out.items.unwrap_or_default();
            let answered = answer.len();
            for (i, item) in answer.into_iter().enumerate() {
                let at = position_of(&item, position);
                items.push(serde_dynamo::from_item(item)?);
                if items.len() == limit {
                    // Full inside this answer: the next page starts after this item.
                    let more = i + 1 < answered || out.last_evaluated_key.is_some();
                    let next = if more { at } else { None };
                    return Ok(Page { items, next });
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        let next = start.and_then(PageKey::from_dynamo);
        Ok(Page { items, next })
    }
}
