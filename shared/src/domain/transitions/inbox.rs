//! A notification's one transition: read by its recipient.

use crate::domain::change::adopt;
use crate::domain::{Change, Cond, Item, Notification, Rejection, Transition, Write};
use crate::time::Timestamp;

/// `POST /me/notifications/{id}/read`. Reading a read notification writes nothing.
#[derive(Debug, Clone)]
pub struct MarkRead {
    pub notification: Notification,
}

impl Transition for MarkRead {
    type Answer = Notification;

    fn change(&self, _now: Timestamp) -> Result<Change<Notification>, Rejection> {
        let n = &self.notification;
        let mut after = n.clone();
        after.read = true;
        let change = Change::new(n.job_id, after.clone());
        Ok(if n.read {
            change
        } else {
            change.write(Write::replacing(
                Item::Notification(after),
                vec![Cond::Unread],
            ))
        })
    }

    /// Read meanwhile (another tab): the next change writes nothing.
    fn rebase(&mut self, _index: usize, current: Item) -> Result<(), Rejection> {
        if !adopt(&mut self.notification, current) {
            self.notification.read = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::transitions::fixtures::*;
    use crate::domain::{EventKind, OutboxEvent};

    #[test]
    fn an_unread_notification_is_written_read_once() {
        let job = job(1);
        let event = OutboxEvent::new(
            EventKind::JobExpired {
                job_id: job.job_id,
                owner_id: user("owner"),
            },
            t0(),
        );
        let n = event.direct_notifications().remove(0);
        let mut read = MarkRead { notification: n };
        let first = change(&read, t0());
        assert!(first.answer.read);
        assert_eq!(first.writes[0].when, [Cond::Unread]);
        read.rebase(0, Item::Notification(first.answer.clone()))
            .unwrap();
        let again = change(&read, t0());
        assert!(again.is_empty() && again.answer.read);
    }
}
