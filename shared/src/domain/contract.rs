use super::{
    Application, ApplicationId, Cents, ContractId, Currency, Job, JobId, Rejection, UserId,
};
use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContractStatus {
    Created,
    Funded,
    Released,
    Refunded,
    Expired,
}

impl ContractStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Funded => "funded",
            Self::Released => "released",
            Self::Refunded => "refunded",
            Self::Expired => "expired",
        }
    }
}

/// What the owner can do to a contract; the freelancer only reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractAction {
    Fund,
    Release,
    Refund,
}

impl ContractAction {
    /// The state the action starts from and the state it leads to.
    pub fn transition(self) -> (ContractStatus, ContractStatus) {
        use ContractStatus::*;
        match self {
            Self::Fund => (Created, Funded),
            Self::Release => (Funded, Released),
            Self::Refund => (Funded, Refunded),
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Self::Fund => "funded",
            Self::Release => "released",
            Self::Refund => "refunded",
        }
    }
}

/// The escrow agreement a hire creates, for the amount of the winning bid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contract {
    pub contract_id: ContractId,
    pub job_id: JobId,
    pub application_id: ApplicationId,
    pub owner_id: UserId,
    pub freelancer_id: UserId,
    pub amount_cents: Cents,
    pub currency: Currency,
    pub status: ContractStatus,
    pub version: u64,
    #[serde(with = "time::rfc3339_opt", default)]
    pub funded_at: Option<Timestamp>,
    /// Funds not released by then return to the owner.
    #[serde(with = "time::rfc3339_opt", default)]
    pub release_deadline: Option<Timestamp>,
    #[serde(with = "time::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::rfc3339")]
    pub updated_at: Timestamp,
}

impl Contract {
    pub fn for_hire(job: &Job, application: &Application, now: Timestamp) -> Self {
        Self {
            contract_id: ContractId::at(now),
            job_id: job.job_id,
            application_id: application.application_id,
            owner_id: job.owner_id.clone(),
            freelancer_id: application.freelancer_id.clone(),
            amount_cents: application.bid_cents,
            currency: job.currency.clone(),
            status: ContractStatus::Created,
            version: 1,
            funded_at: None,
            release_deadline: None,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn is_party(&self, user: &UserId) -> bool {
        &self.owner_id == user || &self.freelancer_id == user
    }

    /// A funded contract past its release deadline is expired, written or not.
    pub fn status_at(&self, now: Timestamp) -> ContractStatus {
        match (self.status, self.release_deadline) {
            (ContractStatus::Funded, Some(deadline)) if deadline <= now => ContractStatus::Expired,
            (status, _) => status,
        }
    }

    pub fn as_of(mut self, now: Timestamp) -> Self {
        self.status = self.status_at(now);
        self
    }

    /// Whether `caller` (already known to be a party) may take `action` now.
    pub fn check(
        &self,
        action: ContractAction,
        caller: &UserId,
        now: Timestamp,
    ) -> Result<(), Rejection> {
        if &self.owner_id != caller {
            return Err(Rejection::NotContractOwner);
        }
        let current = self.status_at(now);
        if current == action.transition().0 {
            Ok(())
        } else {
            Err(Rejection::InvalidTransition(current))
        }
    }

    /// The contract after `action` at `now`; `release_window` sets the deadline on funding.
    pub fn after(
        &self,
        action: ContractAction,
        now: Timestamp,
        release_window: chrono::Duration,
    ) -> Self {
        let mut next = self.clone();
        next.status = action.transition().1;
        next.version += 1;
        next.updated_at = now;
        if action == ContractAction::Fund {
            next.funded_at = Some(now);
            next.release_deadline = Some(now + release_window);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Bid, NewJob};
    use serde_json::json;

    fn contract(now: Timestamp) -> Contract {
        let job = NewJob::parse(
            json!({"title": "t", "budget_cents": 5})
                .as_object()
                .unwrap(),
            now,
        )
        .unwrap()
        .into_job(JobId::generate(), UserId::parse("owner").unwrap(), now);
        let app = Bid::parse(json!({"bid_cents": 4}).as_object().unwrap())
            .unwrap()
            .into_application(job.job_id, UserId::parse("free").unwrap(), now);
        Contract::for_hire(&job, &app, now)
    }

    #[test]
    fn the_owner_walks_the_state_machine_and_nobody_else_does() {
        let now = time::now();
        let owner = UserId::parse("owner").unwrap();
        let free = UserId::parse("free").unwrap();
        let c = contract(now);
        assert_eq!(
            c.check(ContractAction::Fund, &free, now),
            Err(Rejection::NotContractOwner)
        );
        assert_eq!(
            c.check(ContractAction::Release, &owner, now),
            Err(Rejection::InvalidTransition(ContractStatus::Created))
        );
        assert_eq!(c.check(ContractAction::Fund, &owner, now), Ok(()));
        let funded = c.after(ContractAction::Fund, now, chrono::Duration::days(14));
        assert_eq!(
            funded.release_deadline,
            Some(now + chrono::Duration::days(14))
        );
        assert_eq!(funded.check(ContractAction::Release, &owner, now), Ok(()));
        assert_eq!(funded.check(ContractAction::Refund, &owner, now), Ok(()));
        let released = funded.after(ContractAction::Release, now, chrono::Duration::days(14));
        assert_eq!(
            released.check(ContractAction::Refund, &owner, now),
            Err(Rejection::InvalidTransition(ContractStatus::Released))
        );
    }

    #[test]
    fn past_the_deadline_a_funded_contract_is_expired_and_cannot_be_released() {
        let now = time::now();
        let owner = UserId::parse("owner").unwrap();
        let funded = contract(now).after(ContractAction::Fund, now, chrono::Duration::days(14));
        let later = now + chrono::Duration::days(15);
        assert_eq!(funded.status_at(later), ContractStatus::Expired);
        assert_eq!(
            funded.check(ContractAction::Release, &owner, later),
            Err(Rejection::InvalidTransition(ContractStatus::Expired))
        );
    }
}
