//! A job's own transitions: posted, cancelled by its owner, expired by the sweeper.

use crate::domain::audit::Step;
use crate::domain::change::adopt;
use crate::domain::{
    AuditRecord, Change, CloseReason, Cond, EventKind, Item, Job, JobStatus, OutboxEvent,
    Rejection, Transition, UserId, Write, stamp_after,
};
use crate::time::Timestamp;

/// The job as it is after a change of its state at `stamp`.
fn job_after(job: &Job, status: JobStatus, stamp: Timestamp) -> Job {
    let mut after = job.clone();
    after.status = status;
    after.version += 1;
    after.updated_at = stamp;
    after
}

/// What a change of an open job's state (a hire, a cancel) needs: its state is as read
/// (`version`), it is still open at `now`, and no change of its state stamped at `stamp`
/// or later committed first. Such a change moves `updated_at` to its stamp, taken after the
/// job's last change, so the job's changes list in the order they committed and
/// `updated_at` never goes back. Applications are not in it: they never write the job.
pub(crate) fn while_open(job: &Job, now: Timestamp, stamp: Timestamp) -> Vec<Cond> {
    vec![
        Cond::Version(job.version),
        Cond::Status(JobStatus::Open.as_str()),
        Cond::Before("expires_at", now),
        Cond::LastChangedBefore(stamp),
    ]
}

/// The stamp of a change of the job's state at `now`: after its last change.
pub(crate) fn state_stamp(job: &Job, now: Timestamp) -> Timestamp {
    stamp_after(now, job.updated_at)
}

/// `POST /jobs`: a new job, open.
#[derive(Debug, Clone)]
pub struct CreateJob {
    pub job: Job,
}

impl Transition for CreateJob {
    type Answer = Job;

    fn change(&self, now: Timestamp) -> Result<Change<Job>, Rejection> {
        let job = &self.job;
        Ok(Change::new(job.job_id, job.clone())
            .write(Write::new(Item::Job(job.clone())))
            .record(AuditRecord::trail(
                &job.owner_id,
                job.created_at,
                [Step::job(job.job_id, "created", None, job.status)],
            ))
            .announce([OutboxEvent::new(
                EventKind::JobPosted {
                    job_id: job.job_id,
                    owner_id: job.owner_id.clone(),
                },
                // Announced when it is written, which is when its redrive clock starts: a
                // job imported with an earlier `created_at` (the demo data) is not overdue.
                now,
            )]))
    }

    /// Only an id that collided can fail: take a fresh one.
    fn rebase(&mut self, _index: usize, _current: Item) -> Result<(), Rejection> {
        self.job.job_id = crate::domain::JobId::at(self.job.created_at);
        Ok(())
    }
}

/// `POST /jobs/{id}/cancel`: `open → cancelled`, by the owner.
#[derive(Debug, Clone)]
pub struct CancelJob {
    pub job: Job,
    pub caller: UserId,
}

impl Transition for CancelJob {
    type Answer = Job;

    fn change(&self, now: Timestamp) -> Result<Change<Job>, Rejection> {
        let job = &self.job;
        job.check_owner_may_change(&self.caller, now)?;
        let stamp = state_stamp(job, now);
        let after = job_after(job, JobStatus::Cancelled, stamp);
        Ok(Change::new(job.job_id, after.clone())
            .write(Write::replacing(
                Item::Job(after),
                while_open(job, now, stamp),
            ))
            .record(AuditRecord::trail(
                &self.caller,
                stamp,
                [Step::job(
                    job.job_id,
                    "cancelled",
                    Some(JobStatus::Open),
                    JobStatus::Cancelled,
                )],
            ))
            .announce([OutboxEvent::new(
                EventKind::JobClosed {
                    job_id: job.job_id,
                    reason: CloseReason::Cancelled,
                },
                stamp,
            )]))
    }

    /// The job moved since it was read (a hire): cancel what it is now, so the answer is the
    /// job as the table holds it.
    fn rebase(&mut self, _index: usize, current: Item) -> Result<(), Rejection> {
        adopt_job(&mut self.job, current)
    }
}

/// The sweeper's `open → expired` once `expires_at` has passed.
#[derive(Debug, Clone)]
pub struct ExpireJob {
    pub job: Job,
}

impl Transition for ExpireJob {
    type Answer = Job;

    fn change(&self, now: Timestamp) -> Result<Change<Job>, Rejection> {
        let job = &self.job;
        if job.status != JobStatus::Open || job.expires_at > now {
            return Err(Rejection::JobNotOpen(job.status));
        }
        let stamp = state_stamp(job, now);
        let after = job_after(job, JobStatus::Expired, stamp);
        let when = vec![
            Cond::Version(job.version),
            Cond::Status(JobStatus::Open.as_str()),
            Cond::NotBefore("expires_at", now),
            Cond::LastChangedBefore(stamp),
        ];
        Ok(Change::new(job.job_id, after.clone())
            .write(Write::replacing(Item::Job(after), when))
            .record(AuditRecord::trail(
                &UserId::system(),
                stamp,
                [Step::job(
                    job.job_id,
                    "expired",
                    Some(JobStatus::Open),
                    JobStatus::Expired,
                )],
            ))
            .announce([
                OutboxEvent::new(
                    EventKind::JobClosed {
                        job_id: job.job_id,
                        reason: CloseReason::Expired,
                    },
                    stamp,
                ),
                OutboxEvent::new(
                    EventKind::JobExpired {
                        job_id: job.job_id,
                        owner_id: job.owner_id.clone(),
                    },
                    stamp,
                ),
            ]))
    }

    fn rebase(&mut self, _index: usize, current: Item) -> Result<(), Rejection> {
        adopt_job(&mut self.job, current)
    }
}

/// Takes the job as a failed condition returned it; the next `change` decides on it.
pub(crate) fn adopt_job(job: &mut Job, current: Item) -> Result<(), Rejection> {
    if adopt(job, current) {
        Ok(())
    } else {
        Err(Rejection::JobNotOpen(job.status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::transitions::fixtures::*;

    #[test]
    fn a_new_job_is_written_only_if_its_id_is_new_its_trail_starts_open_and_it_is_announced() {
        let job = job(1);
        let now = job.created_at + ms(250);
        let change = change(&CreateJob { job: job.clone() }, now);
        assert_eq!(change.writes, [Write::new(Item::Job(job.clone()))]);
        assert_eq!(
            trail(&change),
            [(
                job.job_id.to_string(),
                "created".into(),
                None,
                "open".into()
            )]
        );
        assert_eq!(announced(&change), ["job_posted"]);
        assert_eq!(change.announce[0].created_at, now);
        assert_eq!(change.answer, job);
    }

    #[test]
    fn cancel_is_the_owners_on_an_open_job_and_closes_it_on_the_version_read() {
        let job = job(3);
        let now = t0() + ms(10);
        let cancel = |caller: &str| CancelJob {
            job: job.clone(),
            caller: user(caller),
        };
        assert_eq!(refused(&cancel("stranger"), now), Rejection::NotJobOwner);
        let change = change(&cancel("owner"), now);
        let (after, when) = job_write(&change, 0);
        assert_eq!(
            (after.status, after.version, after.updated_at),
            (JobStatus::Cancelled, job.version + 1, now)
        );
        assert_eq!(
            when,
            [
                Cond::Version(job.version),
                Cond::Status("open"),
                Cond::Before("expires_at", now),
                Cond::LastChangedBefore(now),
            ]
        );
        assert_eq!(
            trail(&change),
            [(
                job.job_id.to_string(),
                "cancelled".into(),
                Some("open".into()),
                "cancelled".into()
            )]
        );
        assert_eq!(announced(&change), ["job_closed"]);
        assert_eq!(change.answer, after);
    }

    #[test]
    fn a_cancel_that_lost_to_a_hire_cancels_the_job_as_the_hire_left_it() {
        let job = job(3);
        let mut cancel = CancelJob {
            job: job.clone(),
            caller: user("owner"),
        };
        let mut hired = job.clone();
        hired.hired_count = 1;
        hired.version += 1;
        hired.updated_at = t0() + ms(50);
        cancel.rebase(0, Item::Job(hired.clone())).unwrap();
        let change = change(&cancel, t0() + ms(20));
        let (after, when) = job_write(&change, 0);
        assert_eq!((after.hired_count, after.version), (1, hired.version + 1));
        assert_eq!(when[0], Cond::Version(hired.version));
        // The clock is behind the hire's stamp: the cancel still lists after it.
        assert_eq!(after.updated_at, t0() + ms(51));

        let mut filled = hired;
        filled.status = JobStatus::Filled;
        cancel.rebase(0, Item::Job(filled)).unwrap();
        assert_eq!(
            refused(&cancel, t0() + ms(60)),
            Rejection::JobNotOpen(JobStatus::Filled)
        );
    }

    #[test]
    fn a_job_past_its_deadline_cannot_be_cancelled_but_is_expired_by_the_system() {
        let job = job(1);
        let late = job.expires_at + ms(1);
        let cancel = CancelJob {
            job: job.clone(),
            caller: user("owner"),
        };
        assert_eq!(
            refused(&cancel, late),
            Rejection::JobNotOpen(JobStatus::Expired)
        );
        let expire = ExpireJob { job: job.clone() };
        assert_eq!(
            refused(&expire, job.expires_at - ms(1)),
            Rejection::JobNotOpen(JobStatus::Open)
        );
        let change = change(&expire, late);
        let (after, when) = job_write(&change, 0);
        assert_eq!(after.status, JobStatus::Expired);
        assert_eq!(
            when,
            [
                Cond::Version(job.version),
                Cond::Status("open"),
                Cond::NotBefore("expires_at", late),
                Cond::LastChangedBefore(late),
            ]
        );
        assert_eq!(change.audit[0].actor_id, UserId::system());
        assert_eq!(announced(&change), ["job_closed", "job_expired"]);
    }
}
