//! The event bus's message shape. The pipe puts each outbox item's body on the bus as the
//! `detail` of an event; each consumer's rule matches its `consumer` and delivers the whole
//! event (EventBridge's envelope) to the consumer's queue. The sweeper re-sends an event
//! still due in that same envelope, straight to the consumer's queue, so a consumer parses
//! one shape whichever way an event came.

use crate::domain::{Consumer, Delivery};
use crate::time::Timestamp;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde_json::Value;

/// The `Source` the pipe gives every event it puts on the bus (template.yaml, `EventsPipe`).
pub const SOURCE: &str = "marketplace";
/// The pipe's `DetailType`: the kind of event is the detail's `type`.
pub const DETAIL_TYPE: &str = "outbox-event";

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("not an event of the bus: {0}")]
    Malformed(String),
    #[error("an event for {found}, delivered to {expected}")]
    Misrouted { expected: Consumer, found: Consumer },
}

/// An event as a rule delivers it to a queue: `detail` in EventBridge's envelope. The id is
/// new each time, as EventBridge's is for every event put on the bus; the event's own id is
/// in the detail.
pub fn envelope(detail: Value, at: Timestamp) -> EventBridgeEvent<Value> {
    let mut event = EventBridgeEvent::<Value>::default();
    event.version = Some("0".to_owned());
    event.id = Some(ulid::Ulid::generate().to_string());
    event.detail_type = DETAIL_TYPE.to_owned();
    event.source = SOURCE.to_owned();
    event.time = Some(at);
    event.resources = Some(Vec::new());
    event.detail = detail;
    event
}

/// The delivery a message to `consumer`'s queue carries.
pub fn delivery_of(message: &str, consumer: Consumer) -> Result<Delivery, BusError> {
    let malformed = |e: &dyn std::fmt::Display| BusError::Malformed(e.to_string());
    let event: EventBridgeEvent<Delivery> =
        serde_json::from_str(message).map_err(|e| malformed(&e))?;
    if event.source != SOURCE || event.detail_type != DETAIL_TYPE {
        return Err(malformed(&format!(
            "source {:?} and detail-type {:?}",
            event.source, event.detail_type
        )));
    }
    match event.detail.consumer {
        found if found == consumer => Ok(event.detail),
        found => Err(BusError::Misrouted {
            expected: consumer,
            found,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CloseReason, EventKind, JobId, OutboxEvent};

    fn delivery() -> Delivery {
        let event = OutboxEvent::new(
            EventKind::JobClosed {
                job_id: JobId::generate(),
                reason: CloseReason::Cancelled,
            },
            crate::time::parse("2026-01-01T00:00:00.000Z").unwrap(),
        );
        event.deliveries().next().unwrap()
    }

    #[test]
    fn a_consumer_reads_its_delivery_out_of_the_envelope() {
        let delivery = delivery();
        let detail = serde_json::to_value(&delivery).unwrap();
        let message = serde_json::to_string(&envelope(detail, crate::time::now())).unwrap();
        let json: Value = serde_json::from_str(&message).unwrap();
        for field in ["version", "id", "detail-type", "source", "time", "detail"] {
            assert!(json.get(field).is_some(), "{field} missing: {json}");
        }
        assert_eq!(delivery_of(&message, Consumer::Notify).unwrap(), delivery);
    }

    #[test]
    fn anything_else_is_refused() {
        let detail = serde_json::to_value(delivery()).unwrap();
        let mut foreign = envelope(detail.clone(), crate::time::now());
        foreign.source = "aws.events".into();
        let foreign = serde_json::to_string(&foreign).unwrap();
        assert!(matches!(
            delivery_of(&foreign, Consumer::Notify),
            Err(BusError::Malformed(_))
        ));
        let bare = serde_json::to_string(&detail).unwrap();
        assert!(matches!(
            delivery_of(&bare, Consumer::Notify),
            Err(BusError::Malformed(_))
        ));
        assert!(matches!(
            delivery_of("{}", Consumer::Notify),
            Err(BusError::Malformed(_))
        ));
    }
}
