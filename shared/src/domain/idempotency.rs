//! Safe retries: a request carrying an `Idempotency-Key` is answered once, and its answer
//! is committed in the same transaction as the change it answers for, so no crash, timeout
//! or lost answer can leave the change committed and the key looking unused.

use super::{Change, Cond, Item, Rejection, Transition, UserId, Write};
use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};

/// How long an answer is kept for a retry to find: checked in code, since DynamoDB's TTL
/// deletes expired items days late.
pub const RECORD_LIFETIME: chrono::Duration = chrono::Duration::hours(24);

/// A client's name for one request it may send more than once: 1–255 printable ASCII
/// characters (the IETF draft leaves the syntax to the server; Stripe allows 255).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: &str) -> Option<Self> {
        let printable = raw.bytes().all(|b| (b' '..=b'~').contains(&b));
        let ok = !raw.is_empty() && raw.len() <= Self::MAX_LEN && printable;
        ok.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An HTTP answer as it is kept and replayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAnswer {
    pub status: u16,
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub body: String,
}

/// What a retry with the same key finds: which request it answered (its fingerprint) and
/// the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub user_id: UserId,
    pub key: IdempotencyKey,
    /// SHA-256 of the request's method, route, path parameters and canonical body.
    pub fingerprint: String,
    #[serde(flatten)]
    pub answer: StoredAnswer,
    #[serde(with = "time::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::rfc3339")]
    pub expires_at: Timestamp,
    /// `expires_at` in epoch seconds, the attribute the table's TTL deletes by.
    pub expires_ttl: i64,
    /// The mark of the request that wrote it ([`KeyedRequest::mark`]): a write sent again
    /// after it committed finds the record it wrote, which is its own, not another's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_by: Option<String>,
}

/// The request a key names: who sent it and what it was.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedRequest {
    pub user_id: UserId,
    pub key: IdempotencyKey,
    pub fingerprint: String,
    /// This request's own mark, minted as it arrives: two requests with the same key and
    /// body are the same request to a client, but only one of them wrote a given record.
    pub mark: String,
}

impl KeyedRequest {
    /// The record of `answer` to this request, kept from `now` for [`RECORD_LIFETIME`].
    pub fn record(&self, answer: StoredAnswer, now: Timestamp) -> IdempotencyRecord {
        let expires_at = now + RECORD_LIFETIME;
        IdempotencyRecord {
            user_id: self.user_id.clone(),
            key: self.key.clone(),
            fingerprint: self.fingerprint.clone(),
            answer,
            created_at: now,
            expires_at,
            expires_ttl: expires_at.timestamp(),
            written_by: Some(self.mark.clone()),
        }
    }

    /// Whether this request wrote `record` itself, on an earlier send of the same write.
    pub fn wrote(&self, record: &IdempotencyRecord) -> bool {
        record.written_by.as_deref() == Some(self.mark.as_str())
    }

    /// A write of `record` that holds only while the key is unused: no record, or one past
    /// its lifetime that TTL has not deleted yet. Of two requests with one key, the second
    /// to commit fails here and finds the first's answer in the failed condition's image.
    pub fn write(record: IdempotencyRecord, now: Timestamp) -> Write {
        Write::replacing(
            Item::IdempotencyRecord(record),
            vec![Cond::AbsentOrExpired(now)],
        )
    }

    /// What a retry of this request is answered, given the record its key holds: `None`
    /// when the record has expired and the key runs again as new.
    pub fn replay<'r>(
        &self,
        record: &'r IdempotencyRecord,
        now: Timestamp,
    ) -> Option<Result<&'r StoredAnswer, KeyReused>> {
        if record.expires_at <= now {
            return None;
        }
        Some(if record.fingerprint == self.fingerprint {
            Ok(&record.answer)
        } else {
            Err(KeyReused)
        })
    }
}

/// The key already answered another request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyReused;

/// A transition whose change also commits the answer to the request that asked for it.
pub struct Keyed<T, R> {
    pub inner: T,
    pub request: KeyedRequest,
    /// The caller's answer as it will be sent, from the transition's answer.
    pub render: R,
}

impl<T, R> Transition for Keyed<T, R>
where
    T: Transition,
    R: Fn(&T::Answer) -> StoredAnswer,
{
    type Answer = T::Answer;

    fn change(&self, now: Timestamp) -> Result<Change<T::Answer>, Rejection> {
        let change = self.inner.change(now)?;
        // Nothing to write, nothing to answer twice: a retry finds the state as asked.
        if change.is_empty() {
            return Ok(change);
        }
        let record = self.request.record((self.render)(&change.answer), now);
        Ok(change.with_idempotency_record(KeyedRequest::write(record, now)))
    }

    fn rebase(&mut self, index: usize, current: Item) -> Result<(), Rejection> {
        self.inner.rebase(index, current)
    }
}

/// Keeping the answer to a refused request (a 403, 404 or 409 about the state it found):
/// the record alone, committed on the condition that the key is unused, so a retry is
/// refused the same way even after the state has moved on.
#[derive(Debug, Clone)]
pub struct KeepRefusal {
    pub record: IdempotencyRecord,
}

impl Transition for KeepRefusal {
    type Answer = ();

    fn change(&self, now: Timestamp) -> Result<Change<()>, Rejection> {
        Ok(Change::untracked(())
            .with_idempotency_record(KeyedRequest::write(self.record.clone(), now)))
    }

    /// Never asked: a failed condition on the record ends the run with the record found.
    fn rebase(&mut self, _index: usize, _current: Item) -> Result<(), Rejection> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::transitions::CreateJob;
    use crate::domain::transitions::fixtures::{job, t0};

    fn request(fingerprint: &str) -> KeyedRequest {
        KeyedRequest {
            user_id: UserId::parse("alice").unwrap(),
            key: IdempotencyKey::parse("k-1").unwrap(),
            fingerprint: fingerprint.to_owned(),
            mark: format!("mark-{fingerprint}"),
        }
    }

    fn answer(status: u16) -> StoredAnswer {
        StoredAnswer {
            status,
            content_type: "application/json".into(),
            location: None,
            body: "{}".into(),
        }
    }

    #[test]
    fn a_key_is_one_to_255_printable_ascii_characters() {
        assert!(IdempotencyKey::parse("a").is_some());
        assert!(IdempotencyKey::parse("8e0b2c6e-1f0e 4c1b~!").is_some());
        assert!(IdempotencyKey::parse(&"x".repeat(255)).is_some());
        assert!(IdempotencyKey::parse(&"x".repeat(256)).is_none());
        assert!(IdempotencyKey::parse("").is_none());
        assert!(IdempotencyKey::parse("tab\there").is_none());
        assert!(IdempotencyKey::parse("naïve").is_none());
    }

    #[test]
    fn the_same_request_replays_another_is_refused_and_an_expired_record_is_no_record() {
        let now = t0();
        let record = request("f1").record(answer(201), now);
        let later = now + chrono::Duration::hours(1);
        assert_eq!(request("f1").replay(&record, later), Some(Ok(&answer(201))));
        assert_eq!(request("f2").replay(&record, later), Some(Err(KeyReused)));
        assert_eq!(request("f1").replay(&record, record.expires_at), None);
        assert_eq!(record.expires_ttl, record.expires_at.timestamp());
    }

    #[test]
    fn a_keyed_change_writes_its_answer_on_the_condition_that_the_key_is_unused() {
        let now = t0();
        let keyed = Keyed {
            inner: CreateJob { job: job(1) },
            request: request("f1"),
            render: |job: &crate::domain::Job| StoredAnswer {
                location: Some(format!("/jobs/{}", job.job_id)),
                ..answer(201)
            },
        };
        let change = keyed.change(now).unwrap();
        let record_write = change
            .idempotency_record
            .expect("the record rides in the change");
        assert_eq!(record_write.when, vec![Cond::AbsentOrExpired(now)]);
        let Item::IdempotencyRecord(record) = record_write.item else {
            panic!("not a record: {:?}", record_write.item)
        };
        assert_eq!(record.answer.status, 201);
        assert_eq!(
            record.answer.location,
            Some(format!("/jobs/{}", change.answer.job_id))
        );
        assert_eq!(record.expires_at, now + RECORD_LIFETIME);
    }

    #[test]
    fn a_refusal_is_kept_as_its_record_alone_on_the_key_being_unused() {
        let now = t0();
        let record = request("f1").record(answer(409), now);
        let change = KeepRefusal {
            record: record.clone(),
        }
        .change(now)
        .unwrap();
        assert!(!change.is_empty(), "a change that writes the record");
        assert!(change.writes.is_empty() && change.audit.is_empty() && change.announce.is_empty());
        assert_eq!(change.trail, None);
        assert_eq!(
            change.idempotency_record,
            Some(KeyedRequest::write(record, now))
        );
    }
}
