use super::{Application, ApplicationId, Cents, ContractId, Currency, Job, JobId, UserId};
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
            created_at: now,
            updated_at: now,
        }
    }
}
