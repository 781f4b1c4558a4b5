//! Every key and index attribute of the table, in one place.

use crate::domain::{
    Application, ApplicationId, Connection, ConnectionId, Consumer, Contract, ContractId,
    ContractStatus, EventId, IdempotencyKey, Item, Job, JobId, JobStatus, Notification, Source,
    UserId,
};
use crate::time::{self, Timestamp};
use serde::Serialize;

pub const PK: &str = "PK";
pub const SK: &str = "SK";

/// Jobs by owner and status; applications by freelancer.
pub const USER_INDEX: &str = "UserIndex";
/// Jobs by status, newest first: the public board.
pub const BOARD_INDEX: &str = "BoardIndex";
/// Sparse: only work the sweeper must do carries `DUEPK`/`DUESK`.
pub const DUE_INDEX: &str = "DueIndex";

/// How many index partitions each kind of due work is spread over. Due keys are written
/// with every job, funded contract and announced change, and time-ordered keys never let
/// DynamoDB split a hot partition: one takes about 1,000 writes/s, so eight take about
/// 8,000. The sweeper reads every one, which costs it eight Queries a kind.
pub const DUE_SHARDS: u8 = 8;

/// The kinds of work the sweeper finds in the due index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Open jobs by `expires_at`.
    Job,
    /// Funded contracts by `release_deadline`.
    Contract,
    /// Undispatched outbox events by when they were written (or last claimed).
    Outbox,
    /// Live connections by when their token expires.
    Connection,
}

impl Due {
    fn partition(self, shard: u8) -> String {
        let kind = match self {
            Self::Job => "JOB",
            Self::Contract => "CONTRACT",
            Self::Outbox => "OUTBOX",
            Self::Connection => "CONN",
        };
        format!("DUE#{kind}#{shard}")
    }

    /// The partition of an item's due key. Any would do, since the sweeper reads them all;
    /// the low bits of the id's last character, five random bits in a ULID, spread the
    /// writes evenly. Ids that are not ULIDs (API Gateway's connection ids, which often end
    /// in `=`) are spread by a hash of the whole id instead.
    pub fn pk(self, id: impl std::fmt::Display) -> String {
        let id = id.to_string();
        let value = match self {
            Self::Connection => id.bytes().fold(0usize, |h, b| {
                h.wrapping_mul(31).wrapping_add(usize::from(b))
            }),
            _ => random_bits(&id),
        };
        self.partition((value % usize::from(DUE_SHARDS)) as u8)
    }

    /// Every partition of this kind, starting at `first`: a sweep that runs out of time
    /// in one partition must not leave the others waiting run after run.
    pub fn partitions(self, first: u8) -> impl Iterator<Item = String> {
        (0..DUE_SHARDS).map(move |n| self.partition((first + n) % DUE_SHARDS))
    }
}

/// Where the sweeper puts an outbox event it has sent too often: in the due index, so the
/// audit and an operator find them with one Query, but in no partition a sweep reads.
pub const PARKED_OUTBOX: &str = "DUE#OUTBOX#PARKED";

/// The attributes that fix an item's place in `index` (the table itself when `None`): what
/// a Query's `ExclusiveStartKey` holds.
pub fn position_attributes(index: Option<&str>) -> &'static [&'static str] {
    match index {
        Some(USER_INDEX) => &[PK, SK, "GSI1PK", "GSI1SK"],
        Some(BOARD_INDEX) => &[PK, SK, "GSI2PK", "GSI2SK"],
        Some(DUE_INDEX) => &[PK, SK, "DUEPK", "DUESK"],
        _ => &[PK, SK],
    }
}

/// Due-index sort key: when, then which, so ties are stable.
pub fn due_at(at: Timestamp, id: impl std::fmt::Display) -> String {
    format!("{}#{id}", time::format(at))
}

/// A party's link to a contract, in their own item collection, newest first.
pub fn contract_link_sk(id: ContractId) -> String {
    format!("{CONTRACT_LINK_PREFIX}{id}")
}

pub const CONTRACT_LINK_PREFIX: &str = "CONTRACT#";

pub fn outbox_pk(id: EventId) -> String {
    format!("OUTBOX#{id}")
}

/// One outbox item per event and consumer, in the event's item collection: each is
/// acknowledged, redriven and parked on its own.
pub fn outbox_sk(consumer: Consumer) -> String {
    format!("{OUTBOX_SK_PREFIX}{consumer}")
}

pub const OUTBOX_SK_PREFIX: &str = "OUTBOX#";

/// A user's live connection, in their own item collection, so a push finds all of a
/// recipient's connections with one Query.
pub fn connection_sk(id: &ConnectionId) -> String {
    format!("{CONNECTION_SK_PREFIX}{id}")
}

pub const CONNECTION_SK_PREFIX: &str = "CONN#";

pub fn user_pk(user: &UserId) -> String {
    format!("USER#{user}")
}

pub fn notification_sk(id: EventId) -> String {
    format!("NOTIF#{id}")
}

pub const NOTIFICATION_SK_PREFIX: &str = "NOTIF#";

/// Only unread notifications carry this UserIndex key, so `unread=true` reads no read ones.
pub fn unread(user: &UserId) -> String {
    format!("UNREAD#{user}")
}

pub fn job_pk(id: JobId) -> String {
    format!("JOB#{id}")
}

pub const JOB_SK: &str = "JOB";

/// Applications sort right after their job (`JOB` < `JOB#APP#…`), so one Query with
/// `begins_with(SK, "JOB")` returns a job with its applications and nothing else of the
/// item collection.
pub const APPLICATION_SK_PREFIX: &str = "JOB#APP#";

pub fn application_sk(id: ApplicationId) -> String {
    format!("{APPLICATION_SK_PREFIX}{id}")
}

pub const APPLICANT_SK_PREFIX: &str = "APPLICANT#";

pub fn applicant_guard_sk(freelancer: &UserId) -> String {
    format!("{APPLICANT_SK_PREFIX}{freelancer}")
}

pub fn contract_pk(id: ContractId) -> String {
    format!("CONTRACT#{id}")
}

pub const CONTRACT_SK: &str = "CONTRACT";

pub const EVENT_SK_PREFIX: &str = "EVENT#";

pub fn event_sk(id: EventId) -> String {
    format!("{EVENT_SK_PREFIX}{id}")
}

pub fn owner_jobs(owner: &UserId, status: JobStatus) -> String {
    format!("OWNER#{owner}#JOBS#{}", status.as_str())
}

pub fn board(status: JobStatus) -> String {
    format!("JOBS#{}", status.as_str())
}

pub fn freelancer_applications(freelancer: &UserId) -> String {
    format!("FREELANCER#{freelancer}#APPS")
}

/// Newest-first order by `(created_at, id)`.
pub fn by_creation(created_at: Timestamp, id: impl std::fmt::Display) -> String {
    format!("{}#{id}", time::format(created_at))
}

/// Index attributes an item carries besides `PK`/`SK`; absent ones keep the indexes sparse.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct IndexKeys {
    #[serde(rename = "GSI1PK", skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    #[serde(rename = "GSI2PK", skip_serializing_if = "Option::is_none")]
    pub gsi2pk: Option<String>,
    #[serde(rename = "GSI2SK", skip_serializing_if = "Option::is_none")]
    pub gsi2sk: Option<String>,
    #[serde(rename = "DUEPK", skip_serializing_if = "Option::is_none")]
    pub duepk: Option<String>,
    #[serde(rename = "DUESK", skip_serializing_if = "Option::is_none")]
    pub duesk: Option<String>,
}

/// Where an item lives.
pub fn key_of(item: &Item) -> (String, String) {
    match item {
        Item::Job(job) => (job_pk(job.job_id), JOB_SK.to_owned()),
        Item::Application(a) => (job_pk(a.job_id), application_sk(a.application_id)),
        Item::ApplicantGuard {
            job_id,
            freelancer_id,
            ..
        } => (job_pk(*job_id), applicant_guard_sk(freelancer_id)),
        Item::Contract(c) => (contract_pk(c.contract_id), CONTRACT_SK.to_owned()),
        Item::ContractLink { party, contract_id } => {
            (user_pk(party), contract_link_sk(*contract_id))
        }
        Item::Notification(n) => (user_pk(&n.recipient_id), notification_sk(n.notification_id)),
        Item::InboxHead(head) => (user_pk(&head.user_id), INBOX_HEAD_SK.to_owned()),
        Item::IdempotencyRecord(r) => (
            idempotency_pk(&r.user_id, &r.key),
            IDEMPOTENCY_SK.to_owned(),
        ),
    }
}

/// A user's key for one request: its own partition, so any number of keys spread out.
/// User ids hold no `#`, so the user and the key cannot run into each other.
pub fn idempotency_pk(user: &UserId, key: &IdempotencyKey) -> String {
    format!("IDEMPOTENCY#{user}#{}", key.as_str())
}

pub const IDEMPOTENCY_PREFIX: &str = "IDEMPOTENCY#";
pub const IDEMPOTENCY_SK: &str = "IDEMPOTENCY";

/// A user's inbox head: how many notifications they have been delivered.
pub const INBOX_HEAD_SK: &str = "INBOX";

/// A user's inbox in delivery order (BoardIndex).
pub fn inbox(user: &UserId) -> String {
    format!("INBOX#{user}")
}

/// A position in an inbox, fixed-width so string order is number order.
pub fn inbox_position(position: u64) -> String {
    format!("{position:020}")
}

impl IndexKeys {
    /// The index keys an item carries in its current state; a key it should not carry is
    /// absent, which takes the item out of that index.
    pub fn of(item: &Item) -> Self {
        match item {
            Item::Job(job) => Self::for_job(job),
            Item::Application(a) => Self::for_application(a),
            Item::Contract(c) => Self::for_contract(c),
            Item::Notification(n) => Self::for_notification(n),
            Item::ApplicantGuard { .. }
            | Item::ContractLink { .. }
            | Item::InboxHead(_)
            | Item::IdempotencyRecord(_) => Self::default(),
        }
    }

    pub fn for_application(a: &Application) -> Self {
        Self {
            gsi1pk: Some(freelancer_applications(&a.freelancer_id)),
            gsi1sk: Some(by_creation(a.created_at, a.application_id)),
            ..Self::default()
        }
    }

    /// Only funded contracts are due (to expire at their release deadline).
    pub fn for_contract(c: &Contract) -> Self {
        match (c.status, c.release_deadline) {
            (ContractStatus::Funded, Some(deadline)) => Self {
                duepk: Some(Due::Contract.pk(c.contract_id)),
                duesk: Some(due_at(deadline, c.contract_id)),
                ..Self::default()
            },
            _ => Self::default(),
        }
    }

    /// Every notification is in its recipient's inbox in delivery order (BoardIndex); only
    /// unread ones carry a UserIndex key, so `unread=true` reads no read ones.
    pub fn for_notification(n: &Notification) -> Self {
        let position = inbox_position(n.position);
        Self {
            gsi1pk: (!n.read).then(|| unread(&n.recipient_id)),
            gsi1sk: (!n.read).then(|| position.clone()),
            gsi2pk: Some(inbox(&n.recipient_id)),
            gsi2sk: Some(position),
            ..Self::default()
        }
    }

    /// A connection is due to be closed when its token expires.
    pub fn for_connection(c: &Connection) -> Self {
        Self {
            duepk: Some(Due::Connection.pk(&c.connection_id)),
            duesk: Some(due_at(c.expires_at, &c.connection_id)),
            ..Self::default()
        }
    }

    pub fn for_job(job: &Job) -> Self {
        let sort = by_creation(job.created_at, job.job_id);
        Self {
            gsi1pk: Some(owner_jobs(&job.owner_id, job.status)),
            gsi1sk: Some(sort.clone()),
            gsi2pk: Some(board(job.status)),
            gsi2sk: Some(sort),
            duepk: (job.status == JobStatus::Open).then(|| Due::Job.pk(job.job_id)),
            duesk: (job.status == JobStatus::Open).then(|| due_at(job.expires_at, job.job_id)),
        }
    }
}

/// How many partitions each discovery index (a skill's, a word's, the budget board) is
/// spread over. Posting a job writes two items (by time, by budget) to each of its words'
/// and skills' partitions and closing it deletes them; time- and budget-ordered keys never
/// let DynamoDB split a hot partition, so a word in nearly every job (one partition takes
/// about 1,000 writes/s, 500 jobs/s) is spread over four: about 2,000 posts a second of
/// jobs sharing one word. A search reads every shard of its partition and merges them.
pub const FIND_SHARDS: u8 = 4;

/// The shard of a job's discovery items: as the due index's, from the ULID's random bits.
pub fn find_shard(job: JobId) -> u8 {
    (random_bits(&job.to_string()) % usize::from(FIND_SHARDS)) as u8
}

/// The value of a ULID's last character: five of its random bits.
fn random_bits(ulid: &str) -> usize {
    const CROCKFORD: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    ulid.chars()
        .last()
        .and_then(|c| CROCKFORD.find(c))
        .unwrap_or_default()
}

/// `#` delimits keys, and `%` escapes: a skill such as `c#` is `c%23` in a key.
pub fn key_part(raw: &str) -> String {
    raw.replace('%', "%25").replace('#', "%23")
}

/// Every discovery item's and state's partition starts so; every suggestion count's so.
pub const FIND_PREFIX: &str = "FIND#";
pub const SUGGEST_PREFIX: &str = "SUGGEST#";

/// The partition of one shard of a discovery index.
pub fn find_partition(source: &Source, shard: u8) -> String {
    match source {
        Source::Skill(skill) => format!("{FIND_PREFIX}SKILL#{}#{shard}", key_part(skill.as_str())),
        Source::Word(word) => format!("{FIND_PREFIX}WORD#{}#{shard}", key_part(word)),
        // The board and an owner's jobs are served by the job items themselves; by budget
        // the whole board is a discovery index of its own.
        Source::All | Source::Board | Source::Owner => format!("{FIND_PREFIX}ALL#{shard}"),
    }
}

pub const FIND_TIME_PREFIX: &str = "T#";
pub const FIND_BUDGET_PREFIX: &str = "B#";

/// A discovery item ordered by creation, then id.
pub fn find_by_time(created_at: Timestamp, job: JobId) -> String {
    format!("{FIND_TIME_PREFIX}{}", by_creation(created_at, job))
}

/// The budget part of a discovery item's key: budgets compare within one currency, as
/// fixed-width numbers (up to `Cents::MAX`, ten digits).
pub fn find_budget(currency: &str, cents: i64) -> String {
    format!("{}{cents:010}#", find_budget_prefix(currency))
}

/// Every budget of one currency.
pub fn find_budget_prefix(currency: &str) -> String {
    format!("{FIND_BUDGET_PREFIX}{currency}#")
}

/// A discovery item ordered by budget, then creation, then id.
pub fn find_by_budget(currency: &str, cents: i64, created_at: Timestamp, job: JobId) -> String {
    format!(
        "{}{}",
        find_budget(currency, cents),
        by_creation(created_at, job)
    )
}

/// A job's discovery state: which of its index batches are written, and whether it closed
/// (a tombstone that every later index write conditions on).
pub fn find_state_pk(job: JobId) -> String {
    format!("{FIND_PREFIX}JOB#{job}")
}

pub const FIND_STATE_SK: &str = "STATE";

/// Suggestions: one counter item per word, partitioned by the word's first three
/// characters, so a prefix's candidates are one Query.
pub fn suggest_pk(prefix: &str) -> String {
    let first: String = prefix.chars().take(3).collect();
    format!("{SUGGEST_PREFIX}{}", key_part(&first))
}

pub fn suggest_sk(word: &str) -> String {
    key_part(word)
}

/// An item as written: its keys plus the domain value's own fields.
#[derive(Serialize)]
pub struct Row<'a, T> {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(flatten)]
    pub index: IndexKeys,
    #[serde(flatten)]
    pub body: &'a T,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn due_keys_spread_over_exactly_the_partitions_the_sweeper_reads() {
        let read: BTreeSet<String> = Due::Outbox.partitions(5).collect();
        assert_eq!(read.len(), usize::from(DUE_SHARDS));
        let mut written = std::collections::BTreeMap::<String, usize>::new();
        for _ in 0..8_000 {
            *written
                .entry(Due::Outbox.pk(EventId::generate()))
                .or_default() += 1;
        }
        assert_eq!(written.keys().cloned().collect::<BTreeSet<_>>(), read);
        // Even: about 1,000 each (a skewed mapping gives one partition over 1,250).
        assert!(
            written.values().all(|&n| (800..1_200).contains(&n)),
            "{written:?}"
        );
        assert!(Due::Job.pk(JobId::generate()).starts_with("DUE#JOB#"));
    }
}
