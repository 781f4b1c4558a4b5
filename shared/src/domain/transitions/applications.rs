//! An application's transitions: applied, withdrawn by its applicant, rejected when its job
//! closes. (Hired is the hire's: see `hire.rs`.)

use super::inbox::delivery;
use super::jobs::adopt_job;
use crate::domain::JobStatus;
use crate::domain::audit::Step;
use crate::domain::change::adopt;
use crate::domain::{
    Application, ApplicationStatus, AuditRecord, Bid, Change, Cond, EventKind, InboxHead, Item,
    Job, OutboxEvent, Rejection, Transition, UserId, Write, stamp_after,
};
use crate::time::Timestamp;

fn application_after(
    application: &Application,
    status: ApplicationStatus,
    stamp: Timestamp,
) -> Application {
    let mut after = application.clone();
    after.status = status;
    after.updated_at = stamp;
    after
}

/// The write that takes an application out of `pending`: only if it still is.
fn leaves_pending(after: Application) -> Write {
    Write::replacing(
        Item::Application(after),
        vec![Cond::Status(ApplicationStatus::Pending.as_str())],
    )
}

/// `pending → to` by `actor` at `stamp`: every way out of `pending` but the hire.
fn leave_pending(
    application: &Application,
    to: ApplicationStatus,
    action: &'static str,
    actor: &UserId,
    stamp: Timestamp,
) -> Change<Application> {
    let after = application_after(application, to, stamp);
    Change::new(application.job_id, after.clone())
        .write(leaves_pending(after))
        .record(AuditRecord::trail(
            actor,
            stamp,
            [Step::application(
                application.application_id,
                action,
                Some(ApplicationStatus::Pending),
                to,
            )],
        ))
}

/// The job's part in an application stamped `stamp`: still open, in the state it was read
/// in, and its latest-application stamp at `stamp` or later, so that a cancel, a hire or an
/// expiry that commits after this application is stamped after it. The stamp is raised only
/// when it is lower; when another application already raised it past ours, the job is only
/// checked, and applications do not make each other retry.
fn job_for_application(job: &Job, now: Timestamp, stamp: Timestamp) -> Write {
    let open = [
        Cond::Version(job.version),
        Cond::Status(JobStatus::Open.as_str()),
        Cond::Before("expires_at", now),
    ];
    if job.last_application_at.is_some_and(|at| at >= stamp) {
        let when = [open.as_slice(), &[Cond::LastApplicationFrom(stamp)]].concat();
        Write::checking(Item::Job(job.clone()), when)
    } else {
        let mut after = job.clone();
        after.last_application_at = Some(stamp);
        let when = [open.as_slice(), &[Cond::LastApplicationBefore(stamp)]].concat();
        Write::replacing(Item::Job(after), when)
    }
}

/// `POST /jobs/{id}/applications`: a pending application on an open job, at most one per
/// freelancer however many requests race (the guard item).
#[derive(Debug, Clone)]
pub struct Apply {
    pub job: Job,
    pub freelancer: UserId,
    pub bid: Bid,
}

impl Apply {
    /// Write 0 is the job; write 1 the guard.
    const GUARD: usize = 1;
}

impl Transition for Apply {
    type Answer = Application;

    fn change(&self, now: Timestamp) -> Result<Change<Application>, Rejection> {
        let job = &self.job;
        job.check_may_apply(&self.freelancer, now)?;
        // After the job's last change of state; its order among other applications does not
        // matter, so racing applications need not wait for each other.
        let stamp = stamp_after(now, job.updated_at);
        let application =
            self.bid
                .clone()
                .into_application(job.job_id, self.freelancer.clone(), stamp);
        Ok(Change::new(job.job_id, application.clone())
            .write(job_for_application(job, now, stamp))
            .write(Write::new(Item::ApplicantGuard {
                job_id: job.job_id,
                freelancer_id: self.freelancer.clone(),
                application_id: application.application_id,
            }))
            .write(Write::new(Item::Application(application.clone())))
            .record(AuditRecord::trail(
                &self.freelancer,
                stamp,
                [Step::application(
                    application.application_id,
                    "applied",
                    None,
                    application.status,
                )],
            ))
            .announce([OutboxEvent::new(
                EventKind::ApplicationReceived {
                    job_id: job.job_id,
                    application_id: application.application_id,
                    owner_id: job.owner_id.clone(),
                },
                stamp,
            )]))
    }

    fn rebase(&mut self, index: usize, current: Item) -> Result<(), Rejection> {
        match index {
            0 => adopt_job(&mut self.job, current),
            Self::GUARD => Err(Rejection::AlreadyApplied),
            // A new application's id collided: the next change mints another.
            _ => Ok(()),
        }
    }
}

/// Takes the application as a failed condition returned it.
fn adopt_application(application: &mut Application, current: Item) -> Result<(), Rejection> {
    if adopt(application, current) {
        Ok(())
    } else {
        Err(Rejection::ApplicationNotPending(application.status))
    }
}

/// `POST .../withdraw`: `pending → withdrawn`, by the applicant.
#[derive(Debug, Clone)]
pub struct Withdraw {
    pub application: Application,
    pub caller: UserId,
}

impl Transition for Withdraw {
    type Answer = Application;

    fn change(&self, now: Timestamp) -> Result<Change<Application>, Rejection> {
        let application = &self.application;
        application.check_may_withdraw(&self.caller)?;
        let stamp = stamp_after(now, application.updated_at);
        Ok(leave_pending(
            application,
            ApplicationStatus::Withdrawn,
            "withdrawn",
            &self.caller,
            stamp,
        ))
    }

    fn rebase(&mut self, _index: usize, current: Item) -> Result<(), Rejection> {
        adopt_application(&mut self.application, current)
    }
}

/// A closed job's pending application, rejected by the system with its applicant's
/// notification, delivered at the next position of their inbox, in the same write.
#[derive(Debug, Clone)]
pub struct Reject {
    pub application: Application,
    /// The job's closing (a `job_closed` event).
    pub closed: OutboxEvent,
    /// The applicant's inbox head as read.
    pub head: Option<InboxHead>,
}

impl Reject {
    /// Write 0 is the application; write 1 the inbox head.
    const HEAD: usize = 1;
}

impl Transition for Reject {
    type Answer = Application;

    fn change(&self, now: Timestamp) -> Result<Change<Application>, Rejection> {
        let application = &self.application;
        application.check_pending()?;
        let notification = self
            .closed
            .rejection_for(&application.freelancer_id, application.application_id)
            .ok_or(Rejection::ApplicationNotPending(application.status))?;
        // After the change that caused it, so the trail reads the close before its rejections.
        let stamp = stamp_after(now, self.closed.created_at.max(application.updated_at));
        let delivered = delivery(&[notification], self.head.as_ref());
        Ok(delivered.into_iter().fold(
            leave_pending(
                application,
                ApplicationStatus::Rejected,
                "rejected",
                &UserId::system(),
                stamp,
            ),
            Change::write,
        ))
    }

    fn rebase(&mut self, index: usize, current: Item) -> Result<(), Rejection> {
        match index {
            0 => adopt_application(&mut self.application, current),
            Self::HEAD => {
                let mut head = self.head.clone().unwrap_or(InboxHead {
                    user_id: self.application.freelancer_id.clone(),
                    delivered: 0,
                });
                adopt(&mut head, current);
                self.head = Some(head);
                Ok(())
            }
            // The applicant already has this notification: delivered before.
            _ => Err(Rejection::ApplicationNotPending(
                ApplicationStatus::Rejected,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::transitions::fixtures::*;
    use crate::domain::{CloseReason, JobStatus, NotificationType};
    use serde_json::json;

    fn bid() -> Bid {
        Bid::parse(json!({"bid_cents": 4_000}).as_object().unwrap()).unwrap()
    }

    fn apply(job: &Job, who: &str) -> Apply {
        Apply {
            job: job.clone(),
            freelancer: user(who),
            bid: bid(),
        }
    }

    #[test]
    fn applying_raises_the_jobs_application_stamp_on_its_state_and_writes_a_guard_and_the_application()
     {
        let job = job(1);
        let now = t0() + ms(5);
        assert_eq!(
            refused(&apply(&job, "owner"), now),
            Rejection::CannotApplyToOwnJob
        );
        let change = change(&apply(&job, "bob"), now);
        let (job_after, when) = job_write(&change, 0);
        assert!(!change.writes[0].check_only);
        assert_eq!(
            (
                job_after.version,
                job_after.updated_at,
                job_after.last_application_at
            ),
            (job.version, job.updated_at, Some(now))
        );
        assert_eq!(
            when,
            [
                Cond::Version(job.version),
                Cond::Status("open"),
                Cond::Before("expires_at", now),
                Cond::LastApplicationBefore(now)
            ]
        );
        let app = &change.answer;
        assert_eq!(
            change.writes[1],
            Write::new(Item::ApplicantGuard {
                job_id: job.job_id,
                freelancer_id: user("bob"),
                application_id: app.application_id
            })
        );
        assert_eq!(change.writes[2], Write::new(Item::Application(app.clone())));
        assert_eq!(
            (app.status, app.created_at, app.bid_cents.get()),
            (ApplicationStatus::Pending, now, 4_000)
        );
        assert_eq!(
            trail(&change),
            [(
                app.application_id.to_string(),
                "applied".into(),
                None,
                "pending".into()
            )]
        );
        assert_eq!(announced(&change), ["application_received"]);
    }

    #[test]
    fn an_application_stamped_before_the_jobs_latest_only_checks_the_job() {
        let mut job = job(1);
        job.last_application_at = Some(t0() + ms(30));
        let change = change(&apply(&job, "bob"), t0() + ms(10));
        assert!(change.writes[0].check_only, "the job is not written");
        assert_eq!(change.writes[0].item, Item::Job(job.clone()));
        assert_eq!(
            change.writes[0].when.last(),
            Some(&Cond::LastApplicationFrom(t0() + ms(10)))
        );
        // A cancel after it is stamped after the latest application, not only after now.
        let cancel = super::super::CancelJob {
            job: job.clone(),
            caller: user("owner"),
        };
        assert_eq!(change_stamp(&cancel, t0() + ms(10)), t0() + ms(31));
    }

    fn change_stamp<T: Transition>(t: &T, now: crate::time::Timestamp) -> crate::time::Timestamp {
        change(t, now).audit[0].at
    }

    #[test]
    fn a_taken_guard_is_already_applied_and_a_moved_job_is_applied_to_again() {
        let job = job(1);
        let mut a = apply(&job, "bob");
        let guard = change(&a, t0()).writes[1].item.clone();
        assert_eq!(
            a.rebase(Apply::GUARD, guard),
            Err(Rejection::AlreadyApplied)
        );
        let mut cancelled = job.clone();
        cancelled.status = JobStatus::Cancelled;
        a.rebase(0, Item::Job(cancelled)).unwrap();
        assert_eq!(
            refused(&a, t0()),
            Rejection::JobNotOpen(JobStatus::Cancelled)
        );
    }

    #[test]
    fn only_the_applicant_withdraws_a_pending_application() {
        let job = job(1);
        let app = application(&job, "bob");
        let withdraw = |who: &str| Withdraw {
            application: app.clone(),
            caller: user(who),
        };
        assert_eq!(refused(&withdraw("eve"), t0()), Rejection::NotApplicant);
        let now = t0() + ms(9);
        let change = change(&withdraw("bob"), now);
        assert_eq!(
            change.writes,
            [leaves_pending(application_after(
                &app,
                ApplicationStatus::Withdrawn,
                now
            ))]
        );
        assert_eq!(change.answer.status, ApplicationStatus::Withdrawn);
        assert!(change.announce.is_empty());
        let mut w = withdraw("bob");
        let mut hired = app.clone();
        hired.status = ApplicationStatus::Hired;
        w.rebase(0, Item::Application(hired)).unwrap();
        assert_eq!(
            refused(&w, now),
            Rejection::ApplicationNotPending(ApplicationStatus::Hired)
        );
    }

    #[test]
    fn a_rejection_follows_the_close_and_notifies_the_applicant_once() {
        let job = job(1);
        let app = application(&job, "bob");
        let closed = OutboxEvent::new(
            EventKind::JobClosed {
                job_id: job.job_id,
                reason: CloseReason::Filled,
            },
            t0() + ms(100),
        );
        let reject = Reject {
            application: app.clone(),
            closed: closed.clone(),
            head: None,
        };
        // A clock behind the close still stamps the rejection after it.
        let change = change(&reject, t0() + ms(50));
        assert_eq!(change.answer.updated_at, t0() + ms(101));
        assert_eq!(change.audit[0].actor_id, UserId::system());
        assert_eq!(change.writes[1].when, [Cond::Absent], "the inbox's first");
        match &change.writes[2] {
            Write {
                item: Item::Notification(n),
                when,
                ..
            } => {
                assert_eq!(n.position, 1);
                assert_eq!(
                    (n.kind, &n.recipient_id, n.notification_id),
                    (
                        NotificationType::ApplicationRejected,
                        &user("bob"),
                        closed.event_id
                    )
                );
                assert_eq!(when, &[Cond::Absent]);
            }
            other => panic!("{other:?}"),
        }
        let mut withdrawn = app;
        withdrawn.status = ApplicationStatus::Withdrawn;
        let skipped = Reject {
            application: withdrawn,
            closed,
            head: None,
        };
        assert_eq!(
            refused(&skipped, t0()),
            Rejection::ApplicationNotPending(ApplicationStatus::Withdrawn)
        );
    }
}
