//! What a transition returns: every item it writes with the condition each write needs, the
//! audit records and the announcements it implies. The store commits a [`Change`] in one
//! place and knows nothing of the rules that made it.

use super::{
    Application, ApplicationId, AuditRecord, Contract, ContractId, IdempotencyRecord, InboxHead,
    Job, JobId, Notification, OutboxEvent, Rejection, UserId,
};
use crate::time::Timestamp;

/// An item as the domain knows it; the store gives each its keys and index keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Job(Job),
    Application(Application),
    /// One per job and freelancer: what makes a second application impossible.
    ApplicantGuard {
        job_id: JobId,
        freelancer_id: UserId,
        application_id: ApplicationId,
    },
    Contract(Contract),
    /// A party's pointer to a contract, so each side lists its contracts with one Query.
    ContractLink {
        party: UserId,
        contract_id: ContractId,
    },
    Notification(Notification),
    InboxHead(InboxHead),
    /// The answer to a request sent with an `Idempotency-Key`.
    IdempotencyRecord(IdempotencyRecord),
}

/// Takes `current` into `slot` when it is an item of the slot's kind: what a transition
/// rebases onto. Returns whether it was.
pub(crate) fn adopt<T: TryFrom<Item>>(slot: &mut T, current: Item) -> bool {
    match T::try_from(current) {
        Ok(current) => {
            *slot = current;
            true
        }
        Err(_) => false,
    }
}

macro_rules! item_kinds {
    ($($kind:ident),*) => {$(
        impl TryFrom<Item> for $kind {
            type Error = Item;
            fn try_from(item: Item) -> Result<Self, Item> {
                match item {
                    Item::$kind(inner) => Ok(inner),
                    other => Err(other),
                }
            }
        }
    )*};
}

item_kinds!(
    Job,
    Application,
    Contract,
    Notification,
    InboxHead,
    IdempotencyRecord
);

/// One part of a write's condition; a write holds only if every part does.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// The item does not exist yet.
    Absent,
    /// Nobody changed the item since it was read.
    Version(u64),
    /// The item is in this state.
    Status(&'static str),
    /// The deadline in this field has not passed at this instant (`field > at`).
    Before(&'static str, Timestamp),
    /// The deadline in this field has passed at this instant (`field <= at`).
    NotBefore(&'static str, Timestamp),
    /// The item last changed before this instant (`updated_at < at`): no change stamped
    /// later committed first, so stamps follow commit order.
    LastChangedBefore(Timestamp),
    /// A notification not yet marked read.
    Unread,
    /// An inbox whose last position is still this one.
    Delivered(u64),
    /// The item does not exist, or its `expires_at` has passed at this instant.
    AbsentOrExpired(Timestamp),
}

/// An item after the change, written only if its condition holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub item: Item,
    pub when: Vec<Cond>,
    /// Only the condition, on the item as it is: nothing is written.
    pub condition_only: bool,
}

impl Write {
    pub fn new(item: Item) -> Self {
        Self::replacing(item, vec![Cond::Absent])
    }

    pub fn replacing(item: Item, when: Vec<Cond>) -> Self {
        Self {
            item,
            when,
            condition_only: false,
        }
    }

    /// A condition on `item` that the change needs to hold, writing nothing to it.
    pub fn checking(item: Item, when: Vec<Cond>) -> Self {
        Self {
            item,
            when,
            condition_only: true,
        }
    }
}

/// Everything one transition writes, committed together or not at all.
#[derive(Debug, Clone, PartialEq)]
pub struct Change<A> {
    /// The items it changes, the one whose condition decides the transition first.
    pub writes: Vec<Write>,
    /// The job whose trail the audit records join; none for a change that records nothing
    /// (the answer to a refused request, kept alone).
    pub trail: Option<JobId>,
    pub audit: Vec<AuditRecord>,
    pub announce: Vec<OutboxEvent>,
    /// The record of the request that asked for the change, when it was sent with an
    /// `Idempotency-Key`, written with it. Its condition failing ends the run: the store
    /// hands the record back as it is, and no rebase can change what it answers.
    pub idempotency_record: Option<Write>,
    /// What the caller is answered once the change is committed.
    pub answer: A,
}

impl<A> Change<A> {
    pub fn new(trail: JobId, answer: A) -> Self {
        Self {
            trail: Some(trail),
            ..Self::untracked(answer)
        }
    }

    /// A change of no job: it writes no audit record.
    pub fn untracked(answer: A) -> Self {
        Self {
            writes: Vec::new(),
            trail: None,
            audit: Vec::new(),
            announce: Vec::new(),
            idempotency_record: None,
            answer,
        }
    }

    /// A change that writes nothing: the state already is what was asked for.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
            && self.audit.is_empty()
            && self.announce.is_empty()
            && self.idempotency_record.is_none()
    }

    pub fn write(mut self, write: Write) -> Self {
        self.writes.push(write);
        self
    }

    pub fn record(mut self, records: impl IntoIterator<Item = AuditRecord>) -> Self {
        self.audit.extend(records);
        self
    }

    pub fn announce(mut self, events: impl IntoIterator<Item = OutboxEvent>) -> Self {
        self.announce.extend(events);
        self
    }

    /// The same change answering `f` of its answer.
    pub fn map_answer<B>(self, f: impl FnOnce(A) -> B) -> Change<B> {
        Change {
            writes: self.writes,
            trail: self.trail,
            audit: self.audit,
            announce: self.announce,
            idempotency_record: self.idempotency_record,
            answer: f(self.answer),
        }
    }

    pub fn with_idempotency_record(mut self, write: Write) -> Self {
        self.idempotency_record = Some(write);
        self
    }
}

/// A state change owned by the domain. The store asks it for its [`Change`], commits it,
/// and hands back a failed condition with the item as it is now; the transition then either
/// rebases onto it (and is asked for its change again) or names the refusal.
pub trait Transition {
    type Answer;

    /// The change at `now`, or why it may not happen.
    fn change(&self, now: Timestamp) -> Result<Change<Self::Answer>, Rejection>;

    /// The condition of write `index` failed and `current` is that item now: `Ok` to try
    /// again from it, or the refusal to answer.
    fn rebase(&mut self, index: usize, current: Item) -> Result<(), Rejection>;
}

/// The instant a change is stamped with: `now`, but always after the last change of the
/// item it follows, so a trail lists in the order its changes committed and no item's
/// timestamps go backwards, even where clocks of two functions disagree.
pub fn stamp_after(now: Timestamp, last: Timestamp) -> Timestamp {
    now.max(last + chrono::Duration::milliseconds(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time;

    #[test]
    fn a_stamp_follows_the_last_change_even_when_the_clock_is_behind() {
        let now = time::parse("2026-01-01T00:00:00.000Z").unwrap();
        let last = now + chrono::Duration::milliseconds(5);
        assert_eq!(
            stamp_after(now, last),
            last + chrono::Duration::milliseconds(1)
        );
        assert_eq!(stamp_after(last, now), last);
    }
}
