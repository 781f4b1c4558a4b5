//! `make audit`: reads a whole table and reports every violation of the marketplace's
//! invariants with the ids involved. [`check`] is pure over the items read; [`read_table`]
//! reads them, read-only.

pub mod checks;
pub mod items;
pub mod kind;
pub mod reader;
pub mod report;

pub use items::Item;
pub use kind::Kind;
pub use reader::{dynamo_client, list_tables, read_table};
pub use report::{Check, Report, Violation};

use chrono::Duration;
use shared::time::Timestamp;

/// What counts as late. Both are measured against `now`, the audit's own clock.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub now: Timestamp,
    /// How long a closed job's pending applications may wait for `notify` to reject them.
    pub fanout_delay: Duration,
    /// How long an outbox event may stay due (undispatched) before the sweeper's redrive
    /// should have sent it.
    pub redrive_window: Duration,
}

impl Settings {
    pub const DEFAULT_FANOUT_DELAY_SECS: i64 = 5 * 60;
    pub const DEFAULT_REDRIVE_WINDOW_SECS: i64 = 15 * 60;

    pub fn at(now: Timestamp) -> Self {
        Self {
            now,
            fanout_delay: Duration::seconds(Self::DEFAULT_FANOUT_DELAY_SECS),
            redrive_window: Duration::seconds(Self::DEFAULT_REDRIVE_WINDOW_SECS),
        }
    }
}

/// Every violation in `items`, a whole table as read.
pub fn check(items: Vec<Item>, settings: &Settings) -> Report {
    let mut violations = Vec::new();
    let table = items::Table::load(items, &mut violations);
    checks::hiring::check(&table, &mut violations);
    checks::delivery::check(&table, settings, &mut violations);
    checks::trail::check(&table, &mut violations);
    checks::index::check(&table, &mut violations);
    checks::discovery::check(&table, settings, &mut violations);
    Report {
        items: table.counts,
        violations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared::domain::{AuditRecord, Bid, Entity, Job, JobId, JobStatus, NewJob, Step, UserId};
    use shared::store::keys::{self, IndexKeys, Row};

    fn item<T: serde::Serialize>(pk: String, sk: String, index: IndexKeys, body: &T) -> Item {
        serde_dynamo::to_item(Row {
            pk,
            sk,
            index,
            body,
        })
        .unwrap()
    }

    fn job(now: Timestamp) -> Job {
        NewJob::parse(
            json!({"title": "t", "budget_cents": 5})
                .as_object()
                .unwrap(),
            now,
        )
        .unwrap()
        .into_job(JobId::generate(), UserId::parse("owner").unwrap(), now)
    }

    fn record(
        job: &Job,
        entity: Entity,
        id: String,
        from: Option<&'static str>,
        to: &'static str,
        at: Timestamp,
    ) -> Item {
        let step = Step::new(entity, id, "x", from, to);
        let r = AuditRecord::trail(&job.owner_id, at, [step]).remove(0);
        item(
            keys::job_pk(job.job_id),
            keys::event_sk(r.event_id),
            IndexKeys::default(),
            &r,
        )
    }

    /// A job, one pending application and their first records, `at` apart.
    fn table(job: &Job, at: [Timestamp; 2]) -> Vec<Item> {
        let bid = Bid::parse(json!({"bid_cents": 5}).as_object().unwrap()).unwrap();
        let a = bid.into_application(job.job_id, UserId::parse("f").unwrap(), at[1]);
        let index = IndexKeys {
            gsi1pk: Some(keys::freelancer_applications(&a.freelancer_id)),
            gsi1sk: Some(keys::by_creation(a.created_at, a.application_id)),
            ..IndexKeys::default()
        };
        let application_sk = keys::application_sk(a.application_id);
        vec![
            item(
                keys::job_pk(job.job_id),
                keys::JOB_SK.into(),
                IndexKeys::for_job(job),
                job,
            ),
            item(keys::job_pk(job.job_id), application_sk, index, &a),
            record(
                job,
                Entity::Job,
                job.job_id.to_string(),
                None,
                "open",
                at[0],
            ),
            record(
                job,
                Entity::Application,
                a.application_id.to_string(),
                None,
                "pending",
                at[1],
            ),
        ]
    }

    /// Applying does not condition on the job, so an application may list after its job
    /// closed; it must not stay pending past the fan-out delay.
    #[test]
    fn an_application_listed_after_its_job_closed_must_not_stay_pending() {
        let t0 = shared::time::now();
        let mut j = job(t0);
        j.status = JobStatus::Cancelled;
        let mut items = table(&j, [t0, t0 + Duration::seconds(2)]);
        let cancel = Duration::seconds(1);
        items.push(record(
            &j,
            Entity::Job,
            j.job_id.to_string(),
            Some("open"),
            "cancelled",
            t0 + cancel,
        ));
        let soon = check(items.clone(), &Settings::at(t0 + Duration::seconds(3)));
        assert!(soon.is_clean(), "{soon}");
        let late = check(items, &Settings::at(t0 + Duration::minutes(6)));
        let checks: Vec<Check> = late.violations.iter().map(|v| v.check).collect();
        assert_eq!(checks, [Check::PendingAfterClose], "{late}");
    }

    #[test]
    fn a_deadline_moved_back_by_hand_counts_from_the_jobs_last_write() {
        let t0 = shared::time::now();
        let mut j = job(t0);
        j.expires_at = t0 - Duration::days(365);
        let items = table(&j, [t0, t0]);
        assert!(check(items.clone(), &Settings::at(t0 + Duration::minutes(4))).is_clean());
        let late = check(items, &Settings::at(t0 + Duration::minutes(6)));
        let checks: Vec<Check> = late.violations.iter().map(|v| v.check).collect();
        assert_eq!(checks, [Check::PendingAfterClose], "{late}");
    }
}
