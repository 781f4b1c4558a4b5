//! The escrow contract's transitions: funded, released or refunded by the owner, expired by
//! the sweeper once the release deadline passes.

use crate::domain::audit::Step;
use crate::domain::change::adopt;
use crate::domain::{
    AuditRecord, Change, Cond, Contract, ContractAction, ContractStatus, EventKind, Item,
    OutboxEvent, Rejection, Transition, UserId, Write, stamp_after,
};
use crate::time::Timestamp;

fn changed(contract: &Contract, stamp: Timestamp) -> OutboxEvent {
    OutboxEvent::new(
        EventKind::ContractChanged {
            job_id: contract.job_id,
            contract_id: contract.contract_id,
            status: contract.status,
            owner_id: contract.owner_id.clone(),
            freelancer_id: contract.freelancer_id.clone(),
        },
        stamp,
    )
}

fn adopt_contract(contract: &mut Contract, current: Item) -> Result<(), Rejection> {
    if adopt(contract, current) {
        Ok(())
    } else {
        Err(Rejection::InvalidTransition(contract.status))
    }
}

/// `POST /contracts/{id}/fund|release|refund`, by the owner.
#[derive(Debug, Clone)]
pub struct ChangeContract {
    pub contract: Contract,
    pub action: ContractAction,
    pub caller: UserId,
    pub release_window: chrono::Duration,
}

impl Transition for ChangeContract {
    type Answer = Contract;

    fn change(&self, now: Timestamp) -> Result<Change<Contract>, Rejection> {
        let contract = &self.contract;
        contract.check(self.action, &self.caller, now)?;
        let stamp = stamp_after(now, contract.updated_at);
        let after = contract.after(self.action, stamp, self.release_window);
        let (from, to) = self.action.transition();
        let mut when = vec![Cond::Version(contract.version), Cond::Status(from.as_str())];
        if from == ContractStatus::Funded {
            when.push(Cond::Before("release_deadline", now));
        }
        Ok(Change::new(contract.job_id, after.clone())
            .write(Write::replacing(Item::Contract(after.clone()), when))
            .record(AuditRecord::trail(
                &self.caller,
                stamp,
                [Step::contract(
                    contract.contract_id,
                    self.action.verb(),
                    Some(from),
                    to,
                )],
            ))
            .announce([changed(&after, stamp)]))
    }

    fn rebase(&mut self, _index: usize, current: Item) -> Result<(), Rejection> {
        adopt_contract(&mut self.contract, current)
    }
}

/// The sweeper's `funded → expired`: the funds return to the owner.
#[derive(Debug, Clone)]
pub struct ExpireContract {
    pub contract: Contract,
}

impl Transition for ExpireContract {
    type Answer = Contract;

    fn change(&self, now: Timestamp) -> Result<Change<Contract>, Rejection> {
        let contract = &self.contract;
        if contract.status != ContractStatus::Funded
            || contract.status_at(now) != ContractStatus::Expired
        {
            return Err(Rejection::InvalidTransition(contract.status_at(now)));
        }
        let stamp = stamp_after(now, contract.updated_at);
        let mut after = contract.clone();
        after.status = ContractStatus::Expired;
        after.version += 1;
        after.updated_at = stamp;
        let when = vec![
            Cond::Version(contract.version),
            Cond::Status(ContractStatus::Funded.as_str()),
            Cond::NotBefore("release_deadline", now),
        ];
        Ok(Change::new(contract.job_id, after.clone())
            .write(Write::replacing(Item::Contract(after.clone()), when))
            .record(AuditRecord::trail(
                &UserId::system(),
                stamp,
                [Step::contract(
                    contract.contract_id,
                    "expired",
                    Some(ContractStatus::Funded),
                    ContractStatus::Expired,
                )],
            ))
            .announce([changed(&after, stamp)]))
    }

    fn rebase(&mut self, _index: usize, current: Item) -> Result<(), Rejection> {
        adopt_contract(&mut self.contract, current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::transitions::fixtures::*;
    use crate::domain::{Contract, EventKind};

    fn contract() -> Contract {
        let job = job(1);
        Contract::for_hire(&job, &application(&job, "bob"), t0())
    }

    fn act(contract: &Contract, action: ContractAction, who: &str) -> ChangeContract {
        ChangeContract {
            contract: contract.clone(),
            action,
            caller: user(who),
            release_window: chrono::Duration::days(14),
        }
    }

    #[test]
    fn funding_sets_the_deadline_on_the_version_read_and_tells_the_freelancer() {
        let c = contract();
        assert_eq!(
            refused(&act(&c, ContractAction::Fund, "bob"), t0()),
            Rejection::NotContractOwner
        );
        let now = t0() + ms(7);
        let change = change(&act(&c, ContractAction::Fund, "owner"), now);
        let funded = &change.answer;
        assert_eq!(
            (funded.status, funded.version, funded.release_deadline),
            (
                ContractStatus::Funded,
                c.version + 1,
                Some(now + chrono::Duration::days(14))
            )
        );
        assert_eq!(
            change.writes[0].when,
            [Cond::Version(c.version), Cond::Status("created")]
        );
        assert_eq!(trail(&change)[0].1, "funded");
        assert!(matches!(
            change.announce[0].kind,
            EventKind::ContractChanged {
                status: ContractStatus::Funded,
                ..
            }
        ));
    }

    #[test]
    fn release_and_refund_hold_only_before_the_deadline_and_expiry_only_after() {
        let c = contract();
        let funded = change(&act(&c, ContractAction::Fund, "owner"), t0()).answer;
        let deadline = funded.release_deadline.unwrap();
        let release = change(
            &act(&funded, ContractAction::Release, "owner"),
            t0() + ms(1),
        );
        assert_eq!(
            release.writes[0].when,
            [
                Cond::Version(funded.version),
                Cond::Status("funded"),
                Cond::Before("release_deadline", t0() + ms(1))
            ]
        );
        assert_eq!(
            refused(&act(&funded, ContractAction::Refund, "owner"), deadline),
            Rejection::InvalidTransition(ContractStatus::Expired)
        );
        let expire = ExpireContract {
            contract: funded.clone(),
        };
        assert_eq!(
            refused(&expire, deadline - ms(1)),
            Rejection::InvalidTransition(ContractStatus::Funded)
        );
        let expired = change(&expire, deadline);
        assert_eq!(expired.answer.status, ContractStatus::Expired);
        assert_eq!(
            expired.writes[0].when,
            [
                Cond::Version(funded.version),
                Cond::Status("funded"),
                Cond::NotBefore("release_deadline", deadline)
            ]
        );
        assert_eq!(expired.audit[0].actor_id, UserId::system());
    }

    #[test]
    fn a_contract_changed_meanwhile_is_judged_as_it_is_now() {
        let c = contract();
        let funded = change(&act(&c, ContractAction::Fund, "owner"), t0()).answer;
        let released = change(&act(&funded, ContractAction::Release, "owner"), t0()).answer;
        let mut refund = act(&funded, ContractAction::Refund, "owner");
        refund.rebase(0, Item::Contract(released)).unwrap();
        assert_eq!(
            refused(&refund, t0()),
            Rejection::InvalidTransition(ContractStatus::Released)
        );
    }
}
