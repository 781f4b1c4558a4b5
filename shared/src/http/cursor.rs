//! Opaque, tamper-evident list cursors: the page key and the listing it belongs to,
//! signed with HMAC-SHA256. A cursor altered, forged or used on another listing is
//! `INVALID_CURSOR`.

use super::{ApiError, ListQuery, list};
use crate::store::{Page, PageKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(pub String);

#[derive(Clone)]
pub struct CursorCodec {
    key: Arc<[u8]>,
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec(..)")
    }
}

#[derive(Serialize, Deserialize)]
struct Payload {
    /// Which listing, e.g. `jobs:open:owner=u1`; a cursor only continues its own.
    scope: String,
    key: PageKey,
}

impl CursorCodec {
    pub fn new(secret: &[u8]) -> Self {
        Self { key: secret.into() }
    }

    fn mac(&self, data: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(data);
        mac
    }

    pub fn encode(&self, scope: &str, key: PageKey) -> Cursor {
        let payload = serde_json::to_vec(&Payload {
            scope: scope.to_owned(),
            key,
        })
        .unwrap_or_default();
        let tag = self.mac(&payload).finalize().into_bytes();
        Cursor(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        ))
    }

    pub fn decode(&self, scope: &str, raw: &str) -> Result<PageKey, ApiError> {
        let (payload, tag) = raw.split_once('.').ok_or(ApiError::InvalidCursor)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| ApiError::InvalidCursor)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| ApiError::InvalidCursor)?;
        self.mac(&payload)
            .verify_slice(&tag)
            .map_err(|_| ApiError::InvalidCursor)?;
        let payload: Payload =
            serde_json::from_slice(&payload).map_err(|_| ApiError::InvalidCursor)?;
        if payload.scope != scope {
            return Err(ApiError::InvalidCursor);
        }
        Ok(payload.key)
    }

    /// Decodes an optional raw cursor.
    fn start(&self, scope: &str, raw: Option<&str>) -> Result<Option<PageKey>, ApiError> {
        raw.map(|r| self.decode(scope, r)).transpose()
    }

    fn next(&self, scope: &str, key: Option<PageKey>) -> Option<Cursor> {
        key.map(|k| self.encode(scope, k))
    }
}

/// One page of one listing: where it starts, and how its answer continues. Every list
/// endpoint pages through this, so a cursor means the same everywhere.
pub struct Listing<'a> {
    codec: &'a CursorCodec,
    scope: String,
    pub limit: u32,
    pub start: Option<PageKey>,
}

impl CursorCodec {
    /// The page `query` asks of the listing `scope` (e.g. `jobs:open:owner=u1`). A cursor
    /// altered, forged or from another listing is refused here, before anything is read:
    /// validation comes before existence.
    pub fn listing(&self, scope: String, query: ListQuery) -> Result<Listing<'_>, ApiError> {
        let start = self.start(&scope, query.cursor.as_deref())?;
        Ok(Listing {
            codec: self,
            scope,
            limit: query.limit,
            start,
        })
    }
}

impl Listing<'_> {
    /// `{"items", "next_cursor"}` for `page`, its cursor bound to this listing.
    pub fn answer<T: Serialize>(&self, page: Page<T>) -> Response<Body> {
        list(&page.items, self.codec.next(&self.scope, page.next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PageKey {
        serde_json::from_value(serde_json::json!({"PK": "JOB#1", "SK": "JOB"})).unwrap()
    }

    #[test]
    fn a_cursor_round_trips_within_its_scope_only() {
        let codec = CursorCodec::new(b"secret");
        let cursor = codec.encode("jobs:open", key());
        assert_eq!(codec.decode("jobs:open", &cursor.0).unwrap(), key());
        assert!(codec.decode("jobs:filled", &cursor.0).is_err());
        assert!(
            CursorCodec::new(b"other")
                .decode("jobs:open", &cursor.0)
                .is_err()
        );
    }

    #[test]
    fn a_tampered_cursor_is_refused() {
        let codec = CursorCodec::new(b"secret");
        let cursor = codec.encode("jobs:open", key()).0;
        let (payload, tag) = cursor.split_once('.').unwrap();
        let mut forged: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        forged["key"]["PK"] = "JOB#2".into();
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert!(
            codec
                .decode("jobs:open", &format!("{forged}.{tag}"))
                .is_err()
        );
        assert!(codec.decode("jobs:open", "garbage").is_err());
        assert!(codec.decode("jobs:open", "").is_err());
    }
}
