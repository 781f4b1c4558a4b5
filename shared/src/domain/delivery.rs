//! Who hears of an announced event. Each consumer has its own outbox item of every event it
//! consumes, its own rule on the bus and its own queue, so it is acknowledged, redriven and
//! parked on its own: a consumer that fails delays only its own work.

use super::{EventKind, OutboxEvent};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A consumer of announced events: a function behind a rule of the event bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consumer {
    /// The inbox and live push: `functions/notify`.
    Notify,
    /// The discovery indexes of finding work: `functions/index`.
    Index,
}

impl Consumer {
    pub const ALL: [Consumer; 2] = [Consumer::Notify, Consumer::Index];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notify => "notify",
            Self::Index => "index",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EventKind {
    /// Who must apply an event of this kind. A new consumer is added here and in the
    /// template (a rule, a queue, a DLQ, a function); no producer changes.
    pub fn consumers(&self) -> &'static [Consumer] {
        match self {
            // Nobody is notified of a posted job: it exists for the indexer.
            Self::JobPosted { .. } => &[Consumer::Index],
            // A closed job's applicants are told, and it stops being findable.
            Self::JobClosed { .. } => &[Consumer::Notify, Consumer::Index],
            Self::ApplicationReceived { .. }
            | Self::Hired { .. }
            | Self::JobExpired { .. }
            | Self::ContractChanged { .. } => &[Consumer::Notify],
        }
    }
}

/// An event addressed to one consumer: the `detail` of the event on the bus, which the
/// consumer's rule matches on `consumer`, and the body of its outbox item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub consumer: Consumer,
    #[serde(flatten)]
    pub event: OutboxEvent,
}

impl OutboxEvent {
    /// One delivery for each consumer of this event.
    pub fn deliveries(&self) -> impl Iterator<Item = Delivery> + '_ {
        self.kind.consumers().iter().map(|&consumer| Delivery {
            consumer,
            event: self.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{JobId, UserId};

    #[test]
    fn a_delivery_is_the_event_with_its_consumer_beside_its_fields() {
        let event = OutboxEvent::new(
            EventKind::JobPosted {
                job_id: JobId::generate(),
                owner_id: UserId::parse("alice").unwrap(),
            },
            crate::time::parse("2026-01-01T00:00:00.000Z").unwrap(),
        );
        let deliveries: Vec<Delivery> = event.deliveries().collect();
        assert_eq!(deliveries.len(), event.kind.consumers().len());
        let json = serde_json::to_value(&deliveries[0]).unwrap();
        assert_eq!(json["consumer"], "index");
        assert_eq!(json["type"], "job_posted");
        assert_eq!(json["event_id"], event.event_id.to_string());
        let back: Delivery = serde_json::from_value(json).unwrap();
        assert_eq!(back, deliveries[0]);
    }

    #[test]
    fn consumers_are_named_once() {
        for consumer in Consumer::ALL {
            assert_eq!(Consumer::parse(consumer.as_str()), Some(consumer));
        }
        assert_eq!(Consumer::parse("webhook"), None);
    }
}
