use super::{EventId, UserId};
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

impl AuditRecord {
    pub fn new(
        entity: Entity,
        entity_id: impl ToString,
        action: &str,
        actor: &UserId,
        from: Option<&str>,
        to: &str,
        at: Timestamp,
    ) -> Self {
        Self {
            event_id: EventId::at(at),
            entity,
            entity_id: entity_id.to_string(),
            action: action.to_owned(),
            actor_id: actor.clone(),
            from_status: from.map(str::to_owned),
            to_status: to.to_owned(),
            at,
        }
    }
}
