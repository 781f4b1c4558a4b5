//! The one commit path: any domain [`Change`] becomes one TransactWriteItems, and a failed
//! condition goes back to the domain as the item it failed on, as it is now.

use super::keys::{self, IndexKeys, Row};
use super::ops::{build_err, s};
use super::transact::{TxError, backoff, reason_code};
use super::{Store, StoreError};
use crate::deadline::CALL;
use crate::domain::{ApplicationId, Change, Cond, Item, OutboxEvent, Rejection, Transition, Write};
use crate::time::{self, Timestamp};
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How often one request rebases onto a newer item (another hire filled an opening, an
/// application moved the job's version). Each rebase follows a change that committed, so
/// the bound is the contention on one job in practice.
const REBASE_ATTEMPTS: u32 = 60;

type Image = HashMap<String, AttributeValue>;

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
    Store(StoreError),
}

#[derive(Serialize, Deserialize)]
struct GuardBody {
    application_id: ApplicationId,
}

#[derive(Serialize)]
struct LinkBody {
    contract_id: crate::domain::ContractId,
}

fn row(item: &Item) -> Result<Image, StoreError> {
    let (pk, sk) = keys::key_of(item);
    let index = IndexKeys::of(item);
    fn image<T: Serialize>(
        pk: String,
        sk: String,
        index: IndexKeys,
        body: &T,
    ) -> Result<Image, StoreError> {
        Ok(serde_dynamo::to_item(Row {
            pk,
            sk,
            index,
            body,
        })?)
    }
    match item {
        Item::Job(job) => image(pk, sk, index, job),
        Item::Application(a) => image(pk, sk, index, a),
        Item::Contract(c) => image(pk, sk, index, c),
        Item::Notification(n) => image(pk, sk, index, n),
        Item::InboxHead(head) => image(pk, sk, index, head),
        Item::ApplicantGuard { application_id, .. } => image(
            pk,
            sk,
            index,
            &GuardBody {
                application_id: *application_id,
            },
        ),
        Item::ContractLink { contract_id, .. } => image(
            pk,
            sk,
            index,
            &LinkBody {
                contract_id: *contract_id,
            },
        ),
    }
}

/// The item an image holds, read as the kind `like` is.
pub(super) fn decode(like: &Item, image: Image) -> Result<Item, StoreError> {
    Ok(match like {
        Item::Job(_) => Item::Job(serde_dynamo::from_item(image)?),
        Item::Application(_) => Item::Application(serde_dynamo::from_item(image)?),
        Item::Contract(_) => Item::Contract(serde_dynamo::from_item(image)?),
        Item::Notification(_) => Item::Notification(serde_dynamo::from_item(image)?),
        Item::InboxHead(_) => Item::InboxHead(serde_dynamo::from_item(image)?),
        Item::ApplicantGuard {
            job_id,
            freelancer_id,
            ..
        } => {
            let guard: GuardBody = serde_dynamo::from_item(image)?;
            Item::ApplicantGuard {
                job_id: *job_id,
                freelancer_id: freelancer_id.clone(),
                application_id: guard.application_id,
            }
        }
        Item::ContractLink { .. } => like.clone(),
    })
}

/// A write's condition as an expression, its names and its values.
fn condition(when: &[Cond]) -> (String, HashMap<String, String>, Image) {
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    let parts: Vec<String> = when
        .iter()
        .enumerate()
        .map(|(i, cond)| {
            let value = format!(":c{i}");
            match cond {
                Cond::Absent => "attribute_not_exists(PK)".to_owned(),
                Cond::Version(v) => {
                    names.insert("#version".to_owned(), "version".to_owned());
                    values.insert(value.clone(), AttributeValue::N(v.to_string()));
                    format!("#version = {value}")
                }
                Cond::Status(status) => {
                    names.insert("#status".to_owned(), "status".to_owned());
                    values.insert(value.clone(), s(*status));
                    format!("#status = {value}")
                }
                Cond::Before(field, at) | Cond::NotBefore(field, at) => {
                    let name = format!("#c{i}");
                    names.insert(name.clone(), (*field).to_owned());
                    values.insert(value.clone(), s(time::format(*at)));
                    let op = if matches!(cond, Cond::Before(..)) {
                        ">"
                    } else {
                        "<="
                    };
                    format!("{name} {op} {value}")
                }
                Cond::LastChangedBefore(at) => {
                    names.insert("#updated".to_owned(), "updated_at".to_owned());
                    values.insert(value.clone(), s(time::format(*at)));
                    format!("#updated < {value}")
                }
                Cond::Delivered(n) => {
                    names.insert("#delivered".to_owned(), "delivered".to_owned());
                    values.insert(value.clone(), AttributeValue::N(n.to_string()));
                    format!("#delivered = {value}")
                }
                Cond::Unread => {
                    names.insert("#read".to_owned(), "read".to_owned());
                    values.insert(value.clone(), AttributeValue::Bool(false));
                    format!("#read = {value}")
                }
            }
        })
        .collect();
    (parts.join(" AND "), names, values)
}

impl Store {
    fn put_write(&self, write: &Write) -> Result<TransactWriteItem, StoreError> {
        let (expression, names, values) = condition(&write.when);
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(row(&write.item)?))
            .condition_expression(expression)
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Every item of `change`, in the order whose index a failed condition reports: its
    /// writes, the extra item, then its audit records and outbox events (new ids both).
    fn transact_items<A>(&self, change: &Change<A>) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut items = Vec::new();
        for write in change.writes.iter().chain(&change.extra) {
            items.push(self.put_write(write)?);
        }
        for record in &change.audit {
            items.push(self.put(
                keys::job_pk(change.trail),
                keys::event_sk(record.event_id),
                IndexKeys::default(),
                record,
                true,
            )?);
        }
        for event in &change.announce {
            items.push(self.outbox_put(event)?);
        }
        Ok(items)
    }

    async fn attempt<A>(&self, change: &Change<A>) -> Result<(), Attempt> {
        let items = self.transact_items(change).map_err(Attempt::Store)?;
        let reasons = match self.transact(items).await {
            Ok(()) => return Ok(()),
            Err(TxError::Unknown(e)) => return Err(Attempt::Unknown(e)),
            // Unknown too, but reading it back would wait on DynamoDB as long again: 503,
            // which the client may retry.
            Err(TxError::TimedOut(e)) => return Err(Attempt::Store(error_of(e))),
            Err(TxError::Starved(e)) => return Err(Attempt::Starved(e)),
            Err(TxError::Store(e)) => return Err(Attempt::Store(e)),
            Err(TxError::Cancelled(reasons)) => reasons,
        };
        let writes: Vec<&Write> = change.writes.iter().chain(&change.extra).collect();
        let failed = reasons
            .iter()
            .position(|r| reason_code(r) == "ConditionalCheckFailed");
        match failed {
            Some(index) if index < writes.len() => {
                let image = old_image(&reasons[index]).ok_or_else(|| {
                    Attempt::Store(StoreError::Failed(
                        "a condition failed without the item's old image".into(),
                    ))
                })?;
                let current = decode(&writes[index].item, image).map_err(Attempt::Store)?;
                Err(Attempt::Failed(index, current))
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
                    backoff(attempt.min(3)).await;
                }
                Err(Attempt::Unknown(e)) => {
                    return self.settle(transition, change, e, clock(), true).await;
                }
                // Nothing committed, and whatever kept it from committing may have decided
                // the answer: another hire that filled the job is a 409, not a 503.
                Err(Attempt::Starved(e)) => {
                    return self.settle(transition, change, e, clock(), false).await;
                }
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
    /// to another hire hears 409 as every loser does. Anything else, a failed read among it,
    /// is 503: nothing is ever answered from a guess.
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
        let marker = change.audit.first().filter(|_| may_have_committed);
        let reads = if marker.is_some() { 2 } else { 1 };
        if !self.deadline().allows(CALL * reads) {
            return Err(error_of(error));
        }
        let Some(first) = change.writes.first() else {
            return Err(error_of(error));
        };
        let (pk, sk) = keys::key_of(&first.item);
        let current = match self.get_raw(pk, &sk).await {
            Ok(image) => image,
            Err(e) => return Err(unavailable(e)),
        };
        if let Some(marker) = marker {
            match self
                .get_raw(keys::job_pk(change.trail), &keys::event_sk(marker.event_id))
                .await
            {
                Ok(Some(_)) => return Ok(change.into()),
                Ok(None) => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        let Some(current) = current else {
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

fn refused(rejection: Rejection) -> StoreError {
    StoreError::Rejected(rejection)
}
