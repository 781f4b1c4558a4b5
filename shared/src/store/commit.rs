//! The one commit path: any domain [`Change`] becomes one TransactWriteItems, and a failed
//! condition goes back to the domain as the item it failed on, as it is now.

use super::items::{Image, decode};
use super::keys::{self, IndexKeys};
use super::transact::{TxError, backoff, reason_code};
use super::{Store, StoreError};
use crate::deadline::CALL;
use crate::domain::{Change, IdempotencyRecord, Item, OutboxEvent, Rejection, Transition};
use crate::time::{self, Timestamp};
use aws_sdk_dynamodb::types::{CancellationReason, TransactWriteItem};

/// How often one request rebases onto a newer item (another hire filled an opening, an
/// application moved the job's clock). Each rebase follows a change that committed, so
/// the bound is the contention on one job in practice.
const REBASE_ATTEMPTS: u32 = 60;

/// How many calls one settling read gets, each with the SDK's own attempts: the read that
/// tells a caller its change committed is worth another try while the deadline has room.
const SETTLING_READ_CALLS: u32 = 3;

/// A committed change: the caller's answer and what it announced.
#[derive(Debug)]
pub struct Committed<A> {
    pub answer: A,
    pub announced: Vec<OutboxEvent>,
}

impl<A> From<Change<A>> for Committed<A> {
    fn from(change: Change<A>) -> Self {
        Self {
            answer: change.answer,
            announced: change.announce,
        }
    }
}

/// Why one attempt did not commit.
enum Attempt {
    /// Write `index`'s condition failed; the item as it is now.
    Failed(usize, Item),
    /// It may or may not have committed.
    Unknown(StoreError),
    /// Other transactions kept it from committing.
    Starved(StoreError),
    /// The extra item's condition failed: the item as it is now.
    KeyTaken(Item),
    /// A transaction writing the extra item at this moment kept it from committing.
    InUse,
    Store(StoreError),
}

impl Store {
    /// Every item of `change`, in the order a cancellation reports them: the extra item
    /// (first, so that whatever else fails with it, its failure is seen), its writes, then
    /// its audit records and outbox events (new ids both).
    fn transact_items<A>(&self, change: &Change<A>) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut items = Vec::new();
        for write in change.idempotency_record.iter().chain(&change.writes) {
            items.push(self.write_item(write)?);
        }
        for record in &change.audit {
            let trail = change.trail.ok_or_else(|| {
                StoreError::Failed("audit records of a change with no trail".into())
            })?;
            items.push(self.put(
                keys::job_pk(trail),
                keys::event_sk(record.event_id),
                IndexKeys::default(),
                record,
                true,
            )?);
        }
        for delivery in change.announce.iter().flat_map(OutboxEvent::deliveries) {
            items.push(self.outbox_put(&delivery)?);
        }
        Ok(items)
    }

    async fn attempt<A>(&self, change: &Change<A>) -> Result<(), Attempt> {
        let items = self.transact_items(change).map_err(Attempt::Store)?;
        // The idempotency record is the transaction's first item when there is one.
        let record_failed = |reasons: &[CancellationReason], code: &str| {
            change.idempotency_record.is_some()
                && reasons.first().is_some_and(|r| reason_code(r) == code)
        };
        let reasons = match self.transact(items).await {
            Ok(()) => return Ok(()),
            Err(TxError::Unknown(e)) => return Err(Attempt::Unknown(e)),
            Err(TxError::Starved(_, reasons)) if record_failed(&reasons, "TransactionConflict") => {
                return Err(Attempt::InUse);
            }
            Err(TxError::Starved(e, _)) => return Err(Attempt::Starved(e)),
            Err(TxError::Store(e)) => return Err(Attempt::Store(e)),
            Err(TxError::Cancelled(reasons)) => reasons,
        };
        let current = |index: usize, like: &Item| {
            let image = old_image(&reasons[index]).ok_or_else(|| {
                StoreError::Failed("a condition failed without the item's old image".into())
            })?;
            decode(like, image)
        };
        if let Some(keeping) = change.idempotency_record.as_ref()
            && record_failed(&reasons, "ConditionalCheckFailed")
        {
            return Err(Attempt::KeyTaken(
                current(0, &keeping.item).map_err(Attempt::Store)?,
            ));
        }
        let offset = usize::from(change.idempotency_record.is_some());
        let failed = reasons
            .iter()
            .skip(offset)
            .position(|r| reason_code(r) == "ConditionalCheckFailed");
        match failed {
            Some(index) if index < change.writes.len() => {
                let now =
                    current(offset + index, &change.writes[index].item).map_err(Attempt::Store)?;
                Err(Attempt::Failed(index, now))
            }
            // A new audit record's or event's id collided, or a reason that is no answer.
            _ => Err(Attempt::Store(StoreError::Failed(
                format!(
                    "transaction cancelled: {:?}",
                    super::transact::codes(&reasons)
                )
                .into(),
            ))),
        }
    }

    /// Runs a transition to the end: asks it for its change, commits that, and on a failed
    /// condition lets it rebase onto the item as it is now and try again (bounded), or
    /// answers its refusal. An outcome left unknown is settled by reading back.
    pub async fn run<T: Transition>(
        &self,
        transition: T,
    ) -> Result<Committed<T::Answer>, StoreError> {
        self.run_with(transition, time::now).await
    }

    /// [`Store::run`] as of `now`, for every attempt: the sweeper's time, which its tests
    /// move ahead.
    pub async fn run_at<T: Transition>(
        &self,
        transition: T,
        now: Timestamp,
    ) -> Result<Committed<T::Answer>, StoreError> {
        self.run_with(transition, move || now).await
    }

    async fn run_with<T: Transition>(
        &self,
        mut transition: T,
        clock: impl Fn() -> Timestamp,
    ) -> Result<Committed<T::Answer>, StoreError> {
        for attempt in 1..=REBASE_ATTEMPTS {
            let change = transition.change(clock())?;
            if change.is_empty() {
                return Ok(change.into());
            }
            match self.attempt(&change).await {
                Ok(()) => return Ok(change.into()),
                Err(Attempt::Failed(index, current)) => {
                    transition.rebase(index, current)?;
                    tracing::debug!(attempt, index, "condition failed on a newer item; rebased");
                    // The ceiling grows as for conflicts: a popular job's owner has as many
                    // deliveries contending for the inbox head as `notify` has batches in
                    // flight, and a short ceiling kept them colliding until they gave up.
                    backoff(attempt).await;
                }
                Err(Attempt::Unknown(e)) => {
                    return self.settle(transition, change, e, clock(), true).await;
                }
                // Nothing committed, and whatever kept it from committing may have decided
                // the answer: another hire that filled the job is a 409, not a 503.
                Err(Attempt::Starved(e)) => {
                    return self.settle(transition, change, e, clock(), false).await;
                }
                Err(Attempt::KeyTaken(current)) => return Err(taken(current)),
                Err(Attempt::InUse) => return Err(StoreError::KeyInUse),
                Err(Attempt::Store(e)) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(
            "the change kept losing to concurrent ones".into(),
        ))
    }

    /// A change whose outcome stayed unknown after its retries, settled by reading back
    /// what it wrote: its first item first, then its first audit record, which exists
    /// exactly when the change committed (for a change known not to have committed, only
    /// its first item is read). In that order, a change that commits between the
    /// two reads is found committed; the other order would find it neither committed nor
    /// possible. Not committed: the domain judges the item as it is now, so a hire that lost
    /// to another hire hears 409 as every loser does. A read that fails is made again
    /// ([`Store::read_back`]) while the deadline leaves room for it and the reads after it.
    /// Anything else, a read failing to the end among it, is 503: nothing is ever answered
    /// from a guess.
    async fn settle<T: Transition>(
        &self,
        mut transition: T,
        change: Change<T::Answer>,
        error: StoreError,
        now: Timestamp,
        may_have_committed: bool,
    ) -> Result<Committed<T::Answer>, StoreError> {
        let unavailable = |e: StoreError| {
            tracing::warn!(error = %crate::telemetry::error_chain(&e), "could not settle an unknown outcome");
            error_of(e)
        };
        let marker = change
            .trail
            .zip(change.audit.first())
            .filter(|_| may_have_committed);
        let reads =
            1 + u32::from(marker.is_some()) + u32::from(change.idempotency_record.is_some());
        // What can settle it soonest: a keyed change's record alone answers whether it
        // committed, so only that read needs to fit; otherwise every read does.
        let first_answer = if change.idempotency_record.is_some() {
            1
        } else {
            reads
        };
        if !self.deadline().allows(CALL * first_answer) {
            return Err(error_of(error));
        }
        // A keyed change's record answers first: it exists once this change or a duplicate
        // of it committed. This change's own, as written, says it committed; another is
        // the duplicate's answer.
        if let Some(keeping) = &change.idempotency_record {
            let (pk, sk) = keys::key_of(&keeping.item);
            let found = match self.read_back(pk, &sk, first_answer).await {
                Ok(image) => image.map(|i| decode(&keeping.item, i)).transpose()?,
                Err(e) => return Err(unavailable(e)),
            };
            match found {
                Some(record) if record == keeping.item => return Ok(change.into()),
                Some(record) => return Err(taken(record)),
                None => {}
            }
        }
        let Some(first) = change.writes.first() else {
            return Err(error_of(error));
        };
        let (pk, sk) = keys::key_of(&first.item);
        // With the marker still to read, a failed read of the first item leaves it to the
        // marker to find the change committed: only "not committed" needs the item.
        let current = match self
            .read_back(pk, &sk, 1 + u32::from(marker.is_some()))
            .await
        {
            Err(e) if marker.is_none() => return Err(unavailable(e)),
            read => read,
        };
        if let Some((trail, marker)) = marker {
            match self
                .read_back(keys::job_pk(trail), &keys::event_sk(marker.event_id), 1)
                .await
            {
                Ok(Some(_)) => return Ok(change.into()),
                Ok(None) => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        let Some(current) = current.map_err(unavailable)? else {
            return Err(error_of(error));
        };
        transition.rebase(0, decode(&first.item, current)?)?;
        match transition.change(now) {
            Ok(next) if next.is_empty() => Ok(next.into()),
            Ok(_) => Err(error_of(error)),
            Err(rejection) => Err(refused(rejection)),
        }
    }
}

impl Store {
    /// One settling read, made only while the deadline has room for it and the rest of the
    /// `reads` left to settle (this one included), and made again when it fails for want
    /// of an answer (a timeout, throttling, a 5xx), [`SETTLING_READ_CALLS`] calls at most.
    ///
    /// Under overload this is what keeps a committed change from being answered 503: a
    /// transaction that committed behind a queue longer than its call budget is settled by
    /// reads that queue behind the same backlog, and the first call can run out its budget
    /// where the next one, seconds later, is answered (BENCHMARKS.md, "Under overload" in
    /// "1,000 concurrent hire attempts on one job"). A read changes nothing, so making it
    /// again is always safe.
    async fn read_back(
        &self,
        pk: String,
        sk: &str,
        reads: u32,
    ) -> Result<Option<Image>, StoreError> {
        let mut calls = 0;
        loop {
            if !self.deadline().allows(CALL * reads) {
                return Err(StoreError::Unavailable("no time left to read back".into()));
            }
            calls += 1;
            match self.get_raw(pk.clone(), sk).await {
                Err(StoreError::Unavailable(e)) if calls < SETTLING_READ_CALLS => {
                    tracing::debug!(calls, error = %crate::telemetry::error_chain(&*e), "a settling read failed; reading again");
                    backoff(calls).await;
                }
                result => return result,
            }
        }
    }
}

fn old_image(reason: &CancellationReason) -> Option<Image> {
    reason.item().cloned()
}

/// An unknown outcome is worth retrying later: 503.
fn error_of(e: StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(_) => e,
        other => StoreError::Unavailable(Box::new(other)),
    }
}

/// The extra item a failed condition found: the record a duplicate committed.
fn taken(current: Item) -> StoreError {
    match IdempotencyRecord::try_from(current) {
        Ok(record) => StoreError::KeyTaken(Box::new(record)),
        Err(_) => StoreError::Failed("the extra item is not an idempotency record".into()),
    }
}

fn refused(rejection: Rejection) -> StoreError {
    StoreError::Rejected(rejection)
}
