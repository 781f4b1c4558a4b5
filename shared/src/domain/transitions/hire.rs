//! The hire (§4 of the design): the job gains a hire (and fills with its last opening), the
//! application is hired, the escrow contract is created with a link for each party.

use super::jobs::{adopt_job, state_stamp, while_open};
use crate::domain::audit::Step;
use crate::domain::{
    Application, ApplicationStatus, AuditRecord, Change, CloseReason, Cond, Contract, EventKind,
    Item, Job, JobStatus, OutboxEvent, Rejection, Transition, UserId, Write, stamp_after,
};
use crate::time::Timestamp;
use serde::Serialize;

/// What a hire answers: the three things it changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hired {
    pub job: Job,
    pub application: Application,
    pub contract: Contract,
}

#[derive(Debug, Clone)]
pub struct Hire {
    pub job: Job,
    pub application: Application,
    pub caller: UserId,
}

impl Hire {
    const APPLICATION: usize = 1;
}

impl Transition for Hire {
    type Answer = Hired;

    /// Only the job is checked here. Whether the application is still pending is left to
    /// its write's condition: it may have been read after a hire that the job was read
    /// before, and the job's condition, checked first, makes `JOB_NOT_OPEN` win.
    fn change(&self, now: Timestamp) -> Result<Change<Hired>, Rejection> {
        let (job, application) = (&self.job, &self.application);
        job.check_owner_may_change(&self.caller, now)?;
        // After the job's last change and after the application, which is stamped apart from
        // the job, so the trail lists its arrival before its hire.
        let stamp = state_stamp(job, now).max(stamp_after(now, application.updated_at));
        let mut job_after = job.clone();
        job_after.hired_count += 1;
        job_after.status = job.status_after_hire();
        job_after.version += 1;
        job_after.updated_at = stamp;
        let mut application_after = application.clone();
        application_after.status = ApplicationStatus::Hired;
        application_after.updated_at = stamp;
        let contract = Contract::for_hire(job, application, stamp);

        let mut steps = vec![
            Step::application(
                application.application_id,
                "hired",
                Some(ApplicationStatus::Pending),
                ApplicationStatus::Hired,
            ),
            Step::contract(contract.contract_id, "created", None, contract.status),
        ];
        let mut announce = vec![OutboxEvent::new(
            EventKind::Hired {
                job_id: job.job_id,
                application_id: application.application_id,
                contract_id: contract.contract_id,
                freelancer_id: application.freelancer_id.clone(),
            },
            stamp,
        )];
        if job_after.status == JobStatus::Filled {
            steps.push(Step::job(
                job.job_id,
                "filled",
                Some(JobStatus::Open),
                JobStatus::Filled,
            ));
            announce.push(OutboxEvent::new(
                EventKind::JobClosed {
                    job_id: job.job_id,
                    reason: CloseReason::Filled,
                },
                stamp,
            ));
        }
        let links = [&contract.owner_id, &contract.freelancer_id].map(|party| {
            Write::new(Item::ContractLink {
                party: party.clone(),
                contract_id: contract.contract_id,
            })
        });
        let hired = Hired {
            job: job_after.clone(),
            application: application_after.clone(),
            contract: contract.clone(),
        };
        let mut change = Change::new(job.job_id, hired)
            .write(Write::replacing(
                Item::Job(job_after),
                while_open(job, now, stamp),
            ))
            .write(Write::replacing(
                Item::Application(application_after),
                vec![Cond::Status(ApplicationStatus::Pending.as_str())],
            ))
            .write(Write::new(Item::Contract(contract)));
        for link in links {
            change = change.write(link);
        }
        Ok(change
            .record(AuditRecord::trail(&self.caller, stamp, steps))
            .announce(announce))
    }

    fn rebase(&mut self, index: usize, current: Item) -> Result<(), Rejection> {
        match (index, current) {
            // Another hire (or an application) moved the job: hire onto it as it is now.
            (0, current) => adopt_job(&mut self.job, current),
            (Self::APPLICATION, Item::Application(current)) => {
                Err(Rejection::ApplicationNotPending(current.status))
            }
            (Self::APPLICATION, _) => {
                Err(Rejection::ApplicationNotPending(self.application.status))
            }
            // A new contract's id collided: the next change mints another.
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ContractStatus;
    use crate::domain::transitions::fixtures::*;

    fn hire(job: &Job, app: &Application) -> Hire {
        Hire {
            job: job.clone(),
            application: app.clone(),
            caller: user("owner"),
        }
    }

    #[test]
    fn a_hire_writes_job_application_contract_and_links_on_their_conditions() {
        let job = job(2);
        let app = application(&job, "bob");
        let now = t0() + ms(20);
        let change = change(&hire(&job, &app), now);
        let (job_after, when) = job_write(&change, 0);
        assert_eq!(
            (job_after.hired_count, job_after.status, job_after.version),
            (1, JobStatus::Open, job.version + 1)
        );
        assert_eq!(when, while_open(&job, now, now));
        assert_eq!(change.writes[1].when, [Cond::Status("pending")]);
        let Hired {
            application,
            contract,
            ..
        } = &change.answer;
        assert_eq!(application.status, ApplicationStatus::Hired);
        assert_eq!(
            (
                contract.status,
                contract.amount_cents,
                &contract.freelancer_id
            ),
            (ContractStatus::Created, app.bid_cents, &user("bob"))
        );
        assert_eq!(
            change.writes[2..]
                .iter()
                .map(|w| w.when.clone())
                .collect::<Vec<_>>(),
            vec![vec![Cond::Absent]; 3]
        );
        let actions: Vec<_> = trail(&change).into_iter().map(|t| t.1).collect();
        assert_eq!(actions, ["hired", "created"]);
        assert_eq!(announced(&change), ["hired"]);
        assert!(
            change
                .audit
                .windows(2)
                .all(|w| w[0].event_id < w[1].event_id)
        );
    }

    #[test]
    fn the_last_opening_fills_the_job_and_closes_it() {
        let mut job = job(2);
        job.hired_count = 1;
        let change = change(&hire(&job, &application(&job, "bob")), t0() + ms(3));
        assert_eq!(change.answer.job.status, JobStatus::Filled);
        let actions: Vec<_> = trail(&change).into_iter().map(|t| t.1).collect();
        assert_eq!(actions, ["hired", "created", "filled"]);
        assert_eq!(announced(&change), ["hired", "job_closed"]);
    }

    #[test]
    fn a_stale_count_is_hired_again_from_the_job_now_and_a_taken_application_refused() {
        let job = job(3);
        let app = application(&job, "bob");
        let mut h = hire(&job, &app);
        let mut moved = job.clone();
        moved.hired_count = 1;
        moved.version += 2;
        moved.updated_at = t0() + ms(40);
        h.rebase(0, Item::Job(moved.clone())).unwrap();
        let change = change(&h, t0() + ms(10));
        let (after, when) = job_write(&change, 0);
        assert_eq!(
            (after.hired_count, when[0].clone()),
            (2, Cond::Version(moved.version))
        );
        assert!(change.audit.iter().all(|r| r.at == t0() + ms(41)));

        let mut taken = app;
        taken.status = ApplicationStatus::Withdrawn;
        assert_eq!(
            h.rebase(Hire::APPLICATION, Item::Application(taken)),
            Err(Rejection::ApplicationNotPending(
                ApplicationStatus::Withdrawn
            ))
        );
        let mut filled = moved;
        filled.status = JobStatus::Filled;
        h.rebase(0, Item::Job(filled)).unwrap();
        assert_eq!(refused(&h, t0()), Rejection::JobNotOpen(JobStatus::Filled));
    }

    #[test]
    fn only_the_owner_hires_and_not_after_the_deadline() {
        let job = job(1);
        let app = application(&job, "bob");
        let mut h = hire(&job, &app);
        h.caller = user("bob");
        assert_eq!(refused(&h, t0()), Rejection::NotJobOwner);
        assert_eq!(
            refused(&hire(&job, &app), job.expires_at),
            Rejection::JobNotOpen(JobStatus::Expired)
        );
    }
}
