//! Every key and index attribute of the table, in one place.

use crate::domain::{ApplicationId, ContractId, EventId, Job, JobId, JobStatus, UserId};
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
pub const DUE_OUTBOX: &str = "DUE#OUTBOX";
/// Open jobs by `expires_at`.
pub const DUE_JOB: &str = "DUE#JOB";
/// Funded contracts by `release_deadline`.
pub const DUE_CONTRACT: &str = "DUE#CONTRACT";

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

pub const OUTBOX_SK: &str = "OUTBOX";

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

pub fn applicant_guard_sk(freelancer: &UserId) -> String {
    format!("APPLICANT#{freelancer}")
}

pub fn contract_pk(id: ContractId) -> String {
    format!("CONTRACT#{id}")
}

pub const CONTRACT_SK: &str = "CONTRACT";

pub fn event_sk(id: EventId) -> String {
    format!("EVENT#{id}")
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
#[derive(Debug, Default, Serialize)]
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

impl IndexKeys {
    pub fn for_job(job: &Job) -> Self {
        let sort = by_creation(job.created_at, job.job_id);
        Self {
            gsi1pk: Some(owner_jobs(&job.owner_id, job.status)),
            gsi1sk: Some(sort.clone()),
            gsi2pk: Some(board(job.status)),
            gsi2sk: Some(sort),
            duepk: (job.status == JobStatus::Open).then(|| DUE_JOB.to_owned()),
            duesk: (job.status == JobStatus::Open).then(|| due_at(job.expires_at, job.job_id)),
        }
    }
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
