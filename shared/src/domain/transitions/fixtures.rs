//! Entities for the transitions' unit tests.

use crate::domain::{
    Application, Bid, Change, Cond, Item, Job, JobId, NewJob, Rejection, Transition, UserId,
};
use crate::time::{self, Timestamp};
use serde_json::json;

pub fn t0() -> Timestamp {
    time::parse("2026-01-01T00:00:00.000Z").unwrap()
}

pub fn ms(n: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(n)
}

pub fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

/// An open job of `owner` with `openings`, posted at [`t0`], due in a day.
pub fn job(openings: u32) -> Job {
    let body = json!({"title": "Logo", "budget_cents": 5_000, "openings": openings});
    NewJob::parse(body.as_object().unwrap(), t0())
        .unwrap()
        .into_job(JobId::at(t0()), user("owner"), t0())
}

pub fn application(job: &Job, freelancer: &str) -> Application {
    Bid::parse(json!({"bid_cents": 4_000}).as_object().unwrap())
        .unwrap()
        .into_application(job.job_id, user(freelancer), job.updated_at + ms(1))
}

/// The change, which must be allowed.
#[track_caller]
pub fn change<T: Transition>(t: &T, now: Timestamp) -> Change<T::Answer> {
    match t.change(now) {
        Ok(change) => change,
        Err(rejection) => panic!("refused: {rejection:?}"),
    }
}

#[track_caller]
pub fn refused<T: Transition>(t: &T, now: Timestamp) -> Rejection
where
    T::Answer: std::fmt::Debug,
{
    t.change(now).expect_err("allowed")
}

/// The job a change writes, with its condition.
#[track_caller]
pub fn job_write<A>(change: &Change<A>, index: usize) -> (Job, Vec<Cond>) {
    match &change.writes[index].item {
        Item::Job(job) => (job.clone(), change.writes[index].when.clone()),
        other => panic!("write {index} is not a job: {other:?}"),
    }
}

/// `(entity_id, action, from, to)` of each audit record, in order.
pub fn trail<A>(change: &Change<A>) -> Vec<(String, String, Option<String>, String)> {
    change
        .audit
        .iter()
        .map(|r| {
            (
                r.entity_id.clone(),
                r.action.clone(),
                r.from_status.clone(),
                r.to_status.clone(),
            )
        })
        .collect()
}

pub fn announced<A>(change: &Change<A>) -> Vec<&'static str> {
    change.announce.iter().map(|e| e.type_name()).collect()
}
