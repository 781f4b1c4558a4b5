//! The table as read: every item sorted into its kind and parsed as the project's own type,
//! its keys checked against the key builders that wrote them.

use crate::kind::Kind;
use crate::report::{Check, Violation};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;
use shared::domain::{
    Application, ApplicationId, AuditRecord, Connection, Contract, ContractId, Delivery, EventId,
    Findable, IdempotencyRecord, InboxHead, Job, JobId, Notification, OutboxEvent, UserId,
};
use shared::store::OutboxRow;
use shared::store::keys::{self, IndexKeys};
use std::collections::{BTreeMap, HashMap};

pub type Item = HashMap<String, AttributeValue>;

/// A parsed item with the index attributes it carries.
#[derive(Debug)]
pub struct Stored<T> {
    pub value: T,
    pub index: IndexKeys,
}

/// The one-application guard's body (the store writes it as a JSON literal, with no type).
#[derive(Debug, Deserialize)]
pub struct Guard {
    pub application_id: ApplicationId,
}

/// A party's contract link's body (the store's type for it is private).
#[derive(Debug, Deserialize)]
pub struct Link {
    pub contract_id: ContractId,
}

#[derive(Debug, Default)]
pub struct Table {
    pub counts: BTreeMap<Kind, usize>,
    pub jobs: BTreeMap<JobId, Stored<Job>>,
    pub applications: BTreeMap<(JobId, ApplicationId), Stored<Application>>,
    /// Job, guard key and the guard.
    pub guards: Vec<(JobId, String, Guard)>,
    /// Each job's audit trail in SK order, the order `GET /jobs/{id}/events` lists it.
    pub trails: BTreeMap<JobId, Vec<AuditRecord>>,
    pub contracts: BTreeMap<ContractId, Stored<Contract>>,
    pub links: Vec<(UserId, Link)>,
    pub notifications: Vec<Stored<Notification>>,
    pub inbox_heads: Vec<InboxHead>,
    pub outbox: Vec<Stored<(OutboxRow, OutboxEvent)>>,
    /// Discovery items by their key, with what they hold of their job.
    pub discovery: BTreeMap<(String, String), Findable>,
    /// Jobs whose discovery state holds a tombstone.
    pub tombstones: Vec<JobId>,
    /// Suggestion counts by word.
    pub suggest: BTreeMap<String, i64>,
}

/// A suggestion counter's body.
#[derive(Debug, Deserialize)]
struct Count {
    word: String,
    #[serde(default)]
    jobs: i64,
}

/// A discovery state's body.
#[derive(Debug, Deserialize)]
struct FindState {
    job_id: JobId,
    #[serde(default)]
    closed: bool,
}

/// Key prefixes, taken from the key builders themselves so that they are spelled once, in
/// `keys.rs`.
struct Prefixes {
    job: String,
    contract: String,
    user: String,
    outbox: String,
    guard: String,
    event: String,
}

impl Prefixes {
    fn new() -> Self {
        let job = JobId::generate();
        let contract = ContractId::generate();
        let event = EventId::generate();
        let user = UserId::system();
        let cut = |key: String, id: &dyn std::fmt::Display| {
            key.strip_suffix(&id.to_string()).unwrap_or(&key).to_owned()
        };
        Self {
            job: cut(keys::job_pk(job), &job),
            contract: cut(keys::contract_pk(contract), &contract),
            user: cut(keys::user_pk(&user), &user),
            outbox: cut(keys::outbox_pk(event), &event),
            guard: cut(keys::applicant_guard_sk(&user), &user),
            event: cut(keys::event_sk(event), &event),
        }
    }
}

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// The index attributes an item carries, by the names `keys.rs` gives each index.
fn index_of(item: &Item) -> IndexKeys {
    let pair = |index: &str| {
        let names = keys::position_attributes(Some(index));
        (text(item, names[2]), text(item, names[3]))
    };
    let (gsi1pk, gsi1sk) = pair(keys::USER_INDEX);
    let (gsi2pk, gsi2sk) = pair(keys::BOARD_INDEX);
    let (duepk, duesk) = pair(keys::DUE_INDEX);
    IndexKeys {
        gsi1pk,
        gsi1sk,
        gsi2pk,
        gsi2sk,
        duepk,
        duesk,
    }
}

/// Why an item is not what its key says; never its content, which may be personal.
type Unreadable = &'static str;

fn parse<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, Unreadable> {
    serde_dynamo::from_item(item.clone()).map_err(|_| "does not parse")
}

fn keyed(ok: bool) -> Result<(), Unreadable> {
    ok.then_some(()).ok_or("keys disagree with its ids")
}

impl Table {
    /// Sorts and parses `items`; what cannot be read is a violation, reported by key only.
    pub fn load(items: Vec<Item>, violations: &mut Vec<Violation>) -> Self {
        let prefixes = Prefixes::new();
        let mut table = Self::default();
        let mut events: BTreeMap<JobId, Vec<(String, AuditRecord)>> = BTreeMap::new();
        for item in items {
            let (pk, sk) = (
                text(&item, keys::PK).unwrap_or_default(),
                text(&item, keys::SK).unwrap_or_default(),
            );
            let (kind, outcome) = table.add(&prefixes, &item, &pk, &sk, &mut events);
            *table.counts.entry(kind).or_default() += 1;
            if let Err(why) = outcome {
                violations.push(Violation::new(
                    Check::Unreadable,
                    [("pk", pk), ("sk", sk)],
                    format!("{}: {why}", kind.as_str()),
                ));
            }
        }
        for (job, mut records) in events {
            records.sort_by(|a, b| a.0.cmp(&b.0));
            table
                .trails
                .insert(job, records.into_iter().map(|(_, r)| r).collect());
        }
        table
    }

    fn add(
        &mut self,
        p: &Prefixes,
        item: &Item,
        pk: &str,
        sk: &str,
        events: &mut BTreeMap<JobId, Vec<(String, AuditRecord)>>,
    ) -> (Kind, Result<(), Unreadable>) {
        let index = index_of(item);
        if let Some(job_id) = pk.strip_prefix(&p.job) {
            let job_id = JobId::parse(job_id);
            if sk == keys::JOB_SK {
                return (Kind::Job, self.add_job(item, pk, index));
            }
            if sk.starts_with(keys::APPLICATION_SK_PREFIX) {
                return (Kind::Application, self.add_application(item, pk, sk, index));
            }
            if sk.starts_with(&p.guard) {
                let outcome = job_id.ok_or("not a job id").and_then(|job| {
                    self.guards.push((job, sk.to_owned(), parse(item)?));
                    Ok(())
                });
                return (Kind::Guard, outcome);
            }
            if sk.starts_with(&p.event) {
                let outcome = job_id.ok_or("not a job id").and_then(|job| {
                    let record: AuditRecord = parse(item)?;
                    keyed(sk == keys::event_sk(record.event_id))?;
                    events.entry(job).or_default().push((sk.to_owned(), record));
                    Ok(())
                });
                return (Kind::AuditRecord, outcome);
            }
        }
        if pk.starts_with(&p.contract) && sk == keys::CONTRACT_SK {
            let outcome = parse::<Contract>(item).and_then(|c| {
                keyed(pk == keys::contract_pk(c.contract_id))?;
                self.contracts
                    .insert(c.contract_id, Stored { value: c, index });
                Ok(())
            });
            return (Kind::Contract, outcome);
        }
        if let Some(user) = pk.strip_prefix(&p.user) {
            if sk.starts_with(keys::CONTRACT_LINK_PREFIX) {
                let outcome = UserId::parse(user).ok_or("not a user id").and_then(|user| {
                    let link: Link = parse(item)?;
                    keyed(sk == keys::contract_link_sk(link.contract_id))?;
                    self.links.push((user, link));
                    Ok(())
                });
                return (Kind::ContractLink, outcome);
            }
            if sk.starts_with(keys::CONNECTION_SK_PREFIX) {
                let outcome = parse::<Connection>(item).and_then(|c| {
                    keyed(
                        pk == keys::user_pk(&c.user_id)
                            && sk == keys::connection_sk(&c.connection_id),
                    )?;
                    // The sweeper finds it by its expiry, and TTL deletes it by the same instant.
                    keyed(index == IndexKeys::for_connection(&c))?;
                    (c.expires_ttl == c.expires_at.timestamp())
                        .then_some(())
                        .ok_or("its TTL is not its expiry")
                });
                return (Kind::Connection, outcome);
            }
            if sk == keys::INBOX_HEAD_SK {
                let outcome = parse::<InboxHead>(item).and_then(|head| {
                    keyed(pk == keys::user_pk(&head.user_id))?;
                    self.inbox_heads.push(head);
                    Ok(())
                });
                return (Kind::InboxHead, outcome);
            }
            if sk.starts_with(keys::NOTIFICATION_SK_PREFIX) {
                let outcome = parse::<Notification>(item).and_then(|n| {
                    keyed(
                        pk == keys::user_pk(&n.recipient_id)
                            && sk == keys::notification_sk(n.notification_id),
                    )?;
                    self.notifications.push(Stored { value: n, index });
                    Ok(())
                });
                return (Kind::Notification, outcome);
            }
        }
        if pk.starts_with(&p.outbox) && sk.starts_with(keys::OUTBOX_SK_PREFIX) {
            let outcome = parse::<OutboxRow>(item).and_then(|row| {
                let delivery: Delivery =
                    serde_json::from_str(&row.body).map_err(|_| "body is not a delivery")?;
                keyed(
                    pk == keys::outbox_pk(row.event_id)
                        && sk == keys::outbox_sk(row.consumer)
                        && delivery.event.event_id == row.event_id
                        && delivery.consumer == row.consumer,
                )?;
                self.outbox.push(Stored {
                    value: (row, delivery.event),
                    index,
                });
                Ok(())
            });
            return (Kind::Outbox, outcome);
        }
        if pk.starts_with(keys::FIND_PREFIX) && sk == keys::FIND_STATE_SK {
            let outcome = parse::<FindState>(item).and_then(|state| {
                keyed(pk == keys::find_state_pk(state.job_id))?;
                if state.closed {
                    self.tombstones.push(state.job_id);
                }
                Ok(())
            });
            return (Kind::DiscoveryState, outcome);
        }
        if pk.starts_with(keys::FIND_PREFIX) {
            let outcome = parse::<Findable>(item).map(|f| {
                self.discovery.insert((pk.to_owned(), sk.to_owned()), f);
            });
            return (Kind::Discovery, outcome);
        }
        if pk.starts_with(keys::SUGGEST_PREFIX) {
            let outcome = parse::<Count>(item).and_then(|c| {
                keyed(pk == keys::suggest_pk(&c.word) && sk == keys::suggest_sk(&c.word))?;
                self.suggest.insert(c.word, c.jobs);
                Ok(())
            });
            return (Kind::SuggestCount, outcome);
        }
        if pk.starts_with(keys::IDEMPOTENCY_PREFIX) && sk == keys::IDEMPOTENCY_SK {
            let outcome = parse::<IdempotencyRecord>(item).and_then(|r| {
                keyed(pk == keys::idempotency_pk(&r.user_id, &r.key))?;
                // TTL deletes by `expires_ttl`, the code judges by `expires_at`: one instant.
                (r.expires_ttl == r.expires_at.timestamp())
                    .then_some(())
                    .ok_or("its TTL is not its expiry")?;
                Ok(())
            });
            return (Kind::IdempotencyRecord, outcome);
        }
        (Kind::Unknown, Err("no item of the data model has this key"))
    }

    fn add_job(&mut self, item: &Item, pk: &str, index: IndexKeys) -> Result<(), Unreadable> {
        let job: Job = parse(item)?;
        keyed(pk == keys::job_pk(job.job_id))?;
        self.jobs.insert(job.job_id, Stored { value: job, index });
        Ok(())
    }

    fn add_application(
        &mut self,
        item: &Item,
        pk: &str,
        sk: &str,
        index: IndexKeys,
    ) -> Result<(), Unreadable> {
        let a: Application = parse(item)?;
        keyed(pk == keys::job_pk(a.job_id) && sk == keys::application_sk(a.application_id))?;
        self.applications
            .insert((a.job_id, a.application_id), Stored { value: a, index });
        Ok(())
    }
}
