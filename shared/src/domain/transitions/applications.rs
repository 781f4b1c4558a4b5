//! An application's transitions: applied, withdrawn by its applicant, rejected when its job
//! closes. (Hired is the hire's: see `hire.rs`.)

use super::inbox::delivery;
use crate::domain::audit::Step;
use crate::domain::change::adopt;
use crate::domain::{
    Application, ApplicationStatus, AuditRecord, Bid, Change, Cond, EventKind, InboxHead, Item,
    Job, Notification, OutboxEvent, Rejection, Transition, UserId, Write, stamp_after,
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

/// `POST /jobs/{id}/applications`: a pending application on a job open as read, at most one
/// per freelancer however many requests race (the guard item). The job item is neither
/// written nor checked, so applications to one job never conflict with each other; one that
/// commits after its job left `open` is rejected, and its applicant told, off the request
/// path (the close's fan-out, or [`OutboxEvent::late_closing`] when its arrival is applied).
#[derive(Debug, Clone)]
pub struct Apply {
    pub job: Job,
    pub freelancer: UserId,
    pub bid: Bid,
}

impl Apply {
    /// Write 0 is the guard.
    const GUARD: usize = 0;
}

impl Transition for Apply {
    type Answer = Application;

    fn change(&self, now: Timestamp) -> Result<Change<Application>, Rejection> {
        let job = &self.job;
        job.check_may_apply(&self.freelancer, now)?;
        // After the job's last change of state as read; its order among other applications
        // does not matter, so racing applications need not wait for each other.
        let stamp = stamp_after(now, job.updated_at);
        let application =
            self.bid
                .clone()
                .into_application(job.job_id, self.freelancer.clone(), stamp);
        Ok(Change::new(job.job_id, application.clone())
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

    fn rebase(&mut self, index: usize, _current: Item) -> Result<(), Rejection> {
        match index {
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
    /// The application rejected, and its applicant's notification as delivered.
    type Answer = (Application, Notification);

    fn change(&self, now: Timestamp) -> Result<Change<Self::Answer>, Rejection> {
        let application = &self.application;
        application.check_pending()?;
        let notification = self
            .closed
            .rejection_for(&application.freelancer_id, application.application_id)
            .ok_or(Rejection::ApplicationNotPending(application.status))?;
        // After the change that caused it, so the trail reads the close before its rejections.
        let stamp = stamp_after(now, self.closed.created_at.max(application.updated_at));
        let delivered = delivery(std::slice::from_ref(&notification), self.head.as_ref());
        let at_position = delivered
            .iter()
            .find_map(|w| match &w.item {
                Item::Notification(n) => Some(n.clone()),
                _ => None,
            })
            .unwrap_or(notification);
        Ok(delivered
            .into_iter()
            .fold(
                leave_pending(
                    application,
                    ApplicationStatus::Rejected,
                    "rejected",
                    &UserId::system(),
                    stamp,
                ),
                Change::write,
            )
            .map_answer(|rejected| (rejected, at_position)))
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
    fn applying_writes_a_guard_and_the_application_and_never_the_job() {
        let job = job(1);
        let now = t0() + ms(5);
        assert_eq!(
            refused(&apply(&job, "owner"), now),
            Rejection::CannotApplyToOwnJob
        );
        let change = change(&apply(&job, "bob"), now);
        assert!(
            change
                .writes
                .iter()
                .all(|w| !matches!(w.item, Item::Job(_))),
            "the job is neither written nor checked: {:?}",
            change.writes
        );
        let app = &change.answer;
        assert_eq!(
            change.writes,
            [
                Write::new(Item::ApplicantGuard {
                    job_id: job.job_id,
                    freelancer_id: user("bob"),
                    application_id: app.application_id
                }),
                Write::new(Item::Application(app.clone()))
            ]
        );
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
    fn an_application_is_refused_on_the_job_as_read() {
        let mut job = job(1);
        let late = job.expires_at;
        assert_eq!(
            refused(&apply(&job, "bob"), late),
            Rejection::JobNotOpen(JobStatus::Expired)
        );
        job.status = JobStatus::Filled;
        assert_eq!(
            refused(&apply(&job, "bob"), t0()),
            Rejection::JobNotOpen(JobStatus::Filled)
        );
    }

    #[test]
    fn a_taken_guard_is_already_applied() {
        let job = job(1);
        let mut a = apply(&job, "bob");
        let guard = change(&a, t0()).writes[Apply::GUARD].item.clone();
        assert!(matches!(guard, Item::ApplicantGuard { .. }));
        assert_eq!(
            a.rebase(Apply::GUARD, guard),
            Err(Rejection::AlreadyApplied)
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
        assert_eq!(change.answer.0.updated_at, t0() + ms(101));
        assert_eq!(
            (change.answer.1.position, &change.answer.1.recipient_id),
            (1, &user("bob")),
            "the notification as delivered, to be pushed"
        );
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
