use super::{
    ApplicationId, ApplicationStatus, ContractId, ContractStatus, EventId, JobId, JobStatus, UserId,
};
use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Entity {
    Job,
    Application,
    Contract,
}

/// One state change: who did what to which entity, from which state to which, and when.
/// Written in the same transaction as the change it records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub event_id: EventId,
    pub entity: Entity,
    pub entity_id: String,
    pub action: String,
    pub actor_id: UserId,
    pub from_status: Option<String>,
    pub to_status: String,
    #[serde(with = "time::rfc3339")]
    pub at: Timestamp,
}

/// One step of a change as its trail records it: which entity went from which state to
/// which.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub entity: Entity,
    pub entity_id: String,
    pub action: &'static str,
    pub from: Option<&'static str>,
    pub to: &'static str,
}

impl Step {
    pub fn job(id: JobId, action: &'static str, from: Option<JobStatus>, to: JobStatus) -> Self {
        Self::new(
            Entity::Job,
            id,
            action,
            from.map(JobStatus::as_str),
            to.as_str(),
        )
    }

    pub fn application(
        id: ApplicationId,
        action: &'static str,
        from: Option<ApplicationStatus>,
        to: ApplicationStatus,
    ) -> Self {
        Self::new(
            Entity::Application,
            id,
            action,
            from.map(ApplicationStatus::as_str),
            to.as_str(),
        )
    }

    pub fn contract(
        id: ContractId,
        action: &'static str,
        from: Option<ContractStatus>,
        to: ContractStatus,
    ) -> Self {
        Self::new(
            Entity::Contract,
            id,
            action,
            from.map(ContractStatus::as_str),
            to.as_str(),
        )
    }

    pub fn new(
        entity: Entity,
        entity_id: impl ToString,
        action: &'static str,
        from: Option<&'static str>,
        to: &'static str,
    ) -> Self {
        Self {
            entity,
            entity_id: entity_id.to_string(),
            action,
            from,
            to,
        }
    }
}

impl AuditRecord {
    /// The records of one change's steps by `actor` at `at`, with ids that read back in the
    /// order of the steps although they share one instant.
    pub fn trail(
        actor: &UserId,
        at: Timestamp,
        steps: impl IntoIterator<Item = Step>,
    ) -> Vec<Self> {
        let steps: Vec<Step> = steps.into_iter().collect();
        EventId::sequence(at, steps.len())
            .into_iter()
            .zip(steps)
            .map(|(event_id, step)| Self {
                event_id,
                entity: step.entity,
                entity_id: step.entity_id,
                action: step.action.to_owned(),
                actor_id: actor.clone(),
                from_status: step.from.map(str::to_owned),
                to_status: step.to.to_owned(),
                at,
            })
            .collect()
    }
}
