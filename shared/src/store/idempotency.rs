//! The records of requests sent with an `Idempotency-Key`: read in the request's one read,
//! written in its one write (with the change, or alone for a refusal).

use super::keys;
use super::{Store, StoreError};
use crate::domain::{IdempotencyRecord, KeepRefusal, KeyedRequest};
use crate::time::Timestamp;
use std::sync::{Arc, OnceLock};

/// A keyed request and what its read found under its key.
#[derive(Debug)]
pub struct KeyedRead {
    pub request: KeyedRequest,
    found: OnceLock<Option<IdempotencyRecord>>,
}

impl KeyedRead {
    pub(super) fn key(&self) -> (String, String) {
        (
            keys::idempotency_pk(&self.request.user_id, &self.request.key),
            keys::IDEMPOTENCY_SK.to_owned(),
        )
    }

    /// Whether the record is still to be read: it rides along the first read only.
    pub(super) fn pending(&self) -> bool {
        self.found.get().is_none()
    }

    pub(super) fn found(&self, record: Option<IdempotencyRecord>) {
        // Only the first read's answer counts; a later one is never asked for.
        let _ = self.found.set(record);
    }
}

impl Store {
    /// This store, serving `request`: its first read, whichever entities it reads, also
    /// fetches the key's record in the same BatchGetItem.
    pub fn keyed(&self, request: KeyedRequest) -> Self {
        Self {
            keyed: Some(Arc::new(KeyedRead {
                request,
                found: OnceLock::new(),
            })),
            ..self.clone()
        }
    }

    pub fn keyed_request(&self) -> Option<&KeyedRequest> {
        self.keyed.as_deref().map(|k| &k.request)
    }

    /// The record the request's read found under its key, if any (expired or not).
    pub fn recorded(&self) -> Option<&IdempotencyRecord> {
        self.keyed.as_deref()?.found.get()?.as_ref()
    }

    /// The record under the request's key, when no read has fetched it yet: for a request
    /// refused before it read anything, whose retry must still replay what an earlier send
    /// of it committed.
    pub async fn read_record(&self) -> Result<Option<&IdempotencyRecord>, StoreError> {
        let Some(keyed) = self.keyed.as_deref() else {
            return Ok(None);
        };
        if keyed.pending() {
            let (pk, sk) = keyed.key();
            let record = self.get_raw(pk, &sk).await?;
            keyed.found(record.map(serde_dynamo::from_item).transpose()?);
        }
        Ok(self.recorded())
    }

    /// Keeps `record`, the answer to a refused request, on the condition that the key is
    /// unused at `now`: `Ok(None)` once kept, or the record the key already holds (a
    /// duplicate committed first). Committed as every change is, by [`Store::run_at`].
    pub async fn remember(
        &self,
        record: IdempotencyRecord,
        now: Timestamp,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        match self.run_at(KeepRefusal { record }, now).await {
            Ok(_) => Ok(None),
            Err(StoreError::KeyTaken(existing)) => Ok(Some(*existing)),
            Err(e) => Err(e),
        }
    }
}
