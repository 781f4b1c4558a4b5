//! The discovery indexes' items, as the `index` consumer writes them: a job's items in each
//! of its skills' and words' partitions (by time and by budget), in the budget board, and
//! its suggestion counts.
//!
//! A job's items are written in batches of one transaction each, and every batch conditions
//! on the job's discovery state (`FIND#JOB#<id>`), never on the job item (that would
//! conflict with hires and applications on AWS). The state holds which batches are written
//! and, once the job left `open`, a tombstone: a batch is written at most once and never
//! after the tombstone, and closing removes exactly the batches written, each once. So a
//! replayed, late or out-of-order event never puts a closed job back and never counts a
//! word twice, even when a close lands between two batches of a post.

use super::keys;
use super::ops::{build_err, s};
use super::transact::{TxError, codes, reason_code};
use super::{Store, StoreError};
use crate::domain::{Findable, Job, JobId, Source};
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use std::collections::HashMap;

/// Writes per transaction besides the state's own update: DynamoDB takes 100 at most.
const BATCH: usize = 90;

/// One write of a job's discovery items.
#[derive(Debug, Clone, PartialEq)]
enum IndexWrite {
    Entry { pk: String, sk: String },
    Count { word: String },
}

/// What applying an event did to a job's discovery items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexed {
    /// Every batch is written (now or before).
    Findable { batches: usize },
    /// The job had closed: nothing is (or stays) findable.
    Closed { removed: usize },
}

/// Every write of a job's discovery items, in an order that depends on the job alone, so a
/// batch is the same writes whenever it is computed.
fn writes(job: &Job) -> (Findable, Vec<IndexWrite>) {
    let f = Findable::of(job);
    let shard = keys::find_shard(job.job_id);
    let by_time = keys::find_by_time(f.created_at, f.job_id);
    let by_budget = keys::find_by_budget(
        f.currency.as_str(),
        f.budget_cents.get(),
        f.created_at,
        f.job_id,
    );
    let mut out = vec![IndexWrite::Entry {
        pk: keys::find_partition(&Source::All, shard),
        sk: by_budget.clone(),
    }];
    let sources = f
        .skills
        .iter()
        .cloned()
        .map(Source::Skill)
        .chain(f.words.iter().cloned().map(Source::Word));
    for source in sources {
        let pk = keys::find_partition(&source, shard);
        out.push(IndexWrite::Entry {
            pk: pk.clone(),
            sk: by_time.clone(),
        });
        out.push(IndexWrite::Entry {
            pk,
            sk: by_budget.clone(),
        });
    }
    out.extend(
        Findable::suggestible(job)
            .into_iter()
            .map(|word| IndexWrite::Count { word }),
    );
    (f, out)
}

/// The discovery items an open job has once indexed, by key: for the audit.
pub fn discovery_keys(job: &Job) -> Vec<(String, String)> {
    writes(job)
        .1
        .into_iter()
        .filter_map(|w| match w {
            IndexWrite::Entry { pk, sk } => Some((pk, sk)),
            IndexWrite::Count { .. } => None,
        })
        .collect()
}

fn number(n: usize) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn number_set(n: usize) -> AttributeValue {
    AttributeValue::Ns(vec![n.to_string()])
}

impl Store {
    /// Makes an open job findable: writes each batch not yet written, unless the job's
    /// tombstone is there (then nothing, and [`Indexed::Closed`]).
    pub async fn index_job(&self, job: &Job) -> Result<Indexed, StoreError> {
        let (findable, all) = writes(job);
        let body = serde_dynamo::to_item(&findable)?;
        let batches: Vec<&[IndexWrite]> = all.chunks(BATCH).collect();
        for (n, batch) in batches.iter().enumerate() {
            let state = Update::builder()
                .table_name(self.table())
                .key(keys::PK, s(keys::find_state_pk(job.job_id)))
                .key(keys::SK, s(keys::FIND_STATE_SK))
                .update_expression("ADD batches :n SET job_id = :id")
                .condition_expression("attribute_not_exists(closed) AND NOT contains(batches, :k)")
                .expression_attribute_values(":n", number_set(n))
                .expression_attribute_values(":k", number(n))
                .expression_attribute_values(":id", s(job.job_id.to_string()))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(build_err)?;
            let mut items = vec![TransactWriteItem::builder().update(state).build()];
            for write in batch.iter() {
                items.push(self.index_write(write, Some(&body), 1)?);
            }
            match self.transact(items).await {
                Ok(()) => {}
                Err(TxError::Cancelled(reasons))
                    if reasons
                        .first()
                        .is_some_and(|r| reason_code(r) == "ConditionalCheckFailed") =>
                {
                    let closed = reasons[0]
                        .item()
                        .is_some_and(|old| old.contains_key("closed"));
                    if closed {
                        return Ok(Indexed::Closed { removed: 0 });
                    }
                    // This batch was written before: a redelivery.
                }
                Err(e) => return Err(tx_error(e)),
            }
        }
        Ok(Indexed::Findable {
            batches: batches.len(),
        })
    }

    /// Takes a job out of every discovery index for good: the tombstone first, so no batch
    /// of a post is written after it, then each batch the state says is written, each
    /// removed once. `job` is `None` for a job that does not exist (a tombstone only).
    pub async fn unindex_job(&self, id: JobId, job: Option<&Job>) -> Result<Indexed, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(self.table())
            .key(keys::PK, s(keys::find_state_pk(id)))
            .key(keys::SK, s(keys::FIND_STATE_SK))
            .update_expression("SET closed = :t, job_id = :id")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":id", s(id.to_string()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await?;
        let written: Vec<usize> = out
            .attributes
            .and_then(|a| a.get("batches").and_then(|b| b.as_ns().ok()).cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        let Some(job) = job else {
            return Ok(Indexed::Closed { removed: 0 });
        };
        let (_, all) = writes(job);
        let batches: Vec<&[IndexWrite]> = all.chunks(BATCH).collect();
        let mut removed = 0;
        for n in written {
            let Some(batch) = batches.get(n) else {
                continue;
            };
            let state = Update::builder()
                .table_name(self.table())
                .key(keys::PK, s(keys::find_state_pk(id)))
                .key(keys::SK, s(keys::FIND_STATE_SK))
                .update_expression("DELETE batches :n")
                .condition_expression("contains(batches, :k)")
                .expression_attribute_values(":n", number_set(n))
                .expression_attribute_values(":k", number(n))
                .build()
                .map_err(build_err)?;
            let mut items = vec![TransactWriteItem::builder().update(state).build()];
            for write in batch.iter() {
                items.push(self.index_write(write, None, -1)?);
            }
            match self.transact(items).await {
                Ok(()) => removed += 1,
                // Removed before: a redelivery, or a close running beside this one.
                Err(TxError::Cancelled(reasons))
                    if reasons
                        .first()
                        .is_some_and(|r| reason_code(r) == "ConditionalCheckFailed") => {}
                Err(e) => return Err(tx_error(e)),
            }
        }
        Ok(Indexed::Closed { removed })
    }

    /// One write: an entry put (with `body`) or deleted (without), or a suggestion count
    /// moved by `step`.
    fn index_write(
        &self,
        write: &IndexWrite,
        body: Option<&HashMap<String, AttributeValue>>,
        step: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        Ok(match (write, body) {
            (IndexWrite::Entry { pk, sk }, Some(body)) => {
                let mut item = body.clone();
                item.insert(keys::PK.to_owned(), s(pk.clone()));
                item.insert(keys::SK.to_owned(), s(sk.clone()));
                let put = Put::builder()
                    .table_name(self.table())
                    .set_item(Some(item))
                    .build()
                    .map_err(build_err)?;
                TransactWriteItem::builder().put(put).build()
            }
            (IndexWrite::Entry { pk, sk }, None) => {
                let delete = Delete::builder()
                    .table_name(self.table())
                    .key(keys::PK, s(pk.clone()))
                    .key(keys::SK, s(sk.clone()))
                    .build()
                    .map_err(build_err)?;
                TransactWriteItem::builder().delete(delete).build()
            }
            (IndexWrite::Count { word }, _) => {
                let update = Update::builder()
                    .table_name(self.table())
                    .key(keys::PK, s(keys::suggest_pk(word)))
                    .key(keys::SK, s(keys::suggest_sk(word)))
                    .update_expression("ADD jobs :step SET word = :w")
                    .expression_attribute_values(":step", AttributeValue::N(step.to_string()))
                    .expression_attribute_values(":w", s(word.clone()))
                    .build()
                    .map_err(build_err)?;
                TransactWriteItem::builder().update(update).build()
            }
        })
    }
}

fn tx_error(e: TxError) -> StoreError {
    match e {
        TxError::Unknown(e) | TxError::Store(e) | TxError::Starved(e, _) => e,
        TxError::Cancelled(reasons) => {
            StoreError::Failed(format!("index batch cancelled: {:?}", codes(&reasons)).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NewJob, UserId};

    fn job(skills: usize, words: usize) -> Job {
        let now = crate::time::now();
        let body = serde_json::json!({
            "title": "Logo design",
            "description": (0..words).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" "),
            "skills": (0..skills).map(|i| format!("s{i}")).collect::<Vec<_>>(),
            "budget_cents": 100
        });
        NewJob::parse(body.as_object().unwrap(), now)
            .unwrap()
            .into_job(JobId::generate(), UserId::parse("o").unwrap(), now)
    }

    #[test]
    fn a_job_is_written_in_the_same_batches_every_time() {
        let j = job(10, 100);
        let (f, first) = writes(&j);
        assert_eq!(writes(&j).1, first);
        // The budget board, two per skill and word, one count per suggestible word.
        let counts = first
            .iter()
            .filter(|w| matches!(w, IndexWrite::Count { .. }))
            .count();
        assert_eq!(first.len(), 1 + 2 * (10 + f.words.len()) + counts);
        assert!(first.chunks(BATCH).count() <= 2, "{}", first.len());
        let small = job(0, 0);
        assert_eq!(writes(&small).1.chunks(BATCH).count(), 1);
    }
}
