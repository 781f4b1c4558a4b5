//! The building blocks every store operation uses: attribute values, conditional puts and
//! updates for transactions, reads, and paging.

use super::keys::{self, IndexKeys, Row};
use super::{Page, PageKey, Store, StoreError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem};
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

pub(super) fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Failed(Box::new(e))
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

    /// One item, read consistently (with the key's record, for a keyed request's first
    /// read).
    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        pk: String,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
        let image = if self.keyed.as_ref().is_some_and(|k| k.pending()) {
            let key = (pk, sk.to_owned());
            self.get_many(vec![key.clone()]).await?.remove(&key)
        } else {
            self.get_raw(pk, sk).await?
        };
        Ok(image.map(serde_dynamo::from_item).transpose()?)
    }

    /// One item as stored, read consistently.
    pub(super) async fn get_raw(
        &self,
        pk: String,
        sk: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(self.table())
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .consistent_read(true)
            .send()
            .await?;
        Ok(out.item)
    }

    /// Items by key in one consistent BatchGetItem (at most 100 keys, a record included), by their key; a
    /// keyed request's first read also fetches the key's record, kept apart.
    /// Keys DynamoDB leaves unprocessed are asked for again; if they stay unprocessed the
    /// answer is 503, never a result with holes.
    pub(super) async fn get_many(
        &self,
        mut wanted: Vec<(String, String)>,
    ) -> Result<HashMap<(String, String), HashMap<String, AttributeValue>>, StoreError> {
        let keyed = self.keyed.as_deref().filter(|k| k.pending());
        let record_key = keyed.map(|k| k.key());
        wanted.extend(record_key.clone());
        let mut found = self.get_all(wanted).await?;
        if let (Some(keyed), Some(key)) = (keyed, record_key) {
            let record = found
                .remove(&key)
                .map(serde_dynamo::from_item)
                .transpose()?;
            keyed.found(record);
        }
        Ok(found)
    }

    pub(super) async fn get_all(
        &self,
        wanted: Vec<(String, String)>,
    ) -> Result<HashMap<(String, String), HashMap<String, AttributeValue>>, StoreError> {
        let mut request = KeysAndAttributes::builder().consistent_read(true);
        for (pk, sk) in &wanted {
            request = request.keys(HashMap::from([
                (keys::PK.to_owned(), s(pk.clone())),
                (keys::SK.to_owned(), s(sk.clone())),
            ]));
        }
        let mut request =
            HashMap::from([(self.table().to_owned(), request.build().map_err(build_err)?)]);
        let mut found = HashMap::new();
        for attempt in 0..5 {
            let out = self
                .client
                .batch_get_item()
                .set_request_items(Some(request))
                .send()
                .await?;
            for item in out.responses.unwrap_or_default().into_values().flatten() {
                let key = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
                if let (Some(pk), Some(sk)) = (key(keys::PK), key(keys::SK)) {
                    found.insert((pk, sk), item);
                }
            }
            match out.unprocessed_keys.filter(|u| !u.is_empty()) {
                Some(rest) => {
                    request = rest;
                    super::transact::backoff(attempt).await;
                }
                None => return Ok(found),
            }
        }
        Err(StoreError::Unavailable(
            "keys still unprocessed after retries".into(),
        ))
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
