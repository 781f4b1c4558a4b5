//! The inbox's transitions: a notification delivered at the next position of its
//! recipient's inbox, and read by its recipient.

use crate::domain::change::adopt;
use crate::domain::{
    Change, Cond, InboxHead, Item, Notification, Rejection, Transition, UserId, Write,
};
use crate::time::Timestamp;

/// The writes that put `notification` at the next position of its recipient's inbox, given
/// the inbox's head as read (`None`: nothing delivered yet). The head's condition makes
/// positions gapless and strictly in the order deliveries commit; the notification's own
/// (`attribute_not_exists` on the event's id) makes a second delivery of one event nothing.
pub(crate) fn delivery(
    notification: &Notification,
    head: Option<&InboxHead>,
) -> (Notification, [Write; 2]) {
    let seen = head.map_or(0, |h| h.delivered);
    let mut delivered = notification.clone();
    delivered.position = seen + 1;
    let head_after = InboxHead {
        user_id: notification.recipient_id.clone(),
        delivered: delivered.position,
    };
    let when = match head {
        None => vec![Cond::Absent],
        Some(_) => vec![Cond::Delivered(seen)],
    };
    (
        delivered.clone(),
        [
            Write::replacing(Item::InboxHead(head_after), when),
            Write::new(Item::Notification(delivered)),
        ],
    )
}

/// `notify`'s delivery of one notification. Answers whether it is new: a redelivered event
/// finds its notification there and writes nothing.
#[derive(Debug, Clone)]
pub struct Deliver {
    pub notification: Notification,
    /// The recipient's inbox head as read.
    pub head: Option<InboxHead>,
    pub already: bool,
}

impl Deliver {
    pub fn new(notification: Notification, head: Option<InboxHead>) -> Self {
        Self {
            notification,
            head,
            already: false,
        }
    }

    fn recipient(&self) -> &UserId {
        &self.notification.recipient_id
    }
}

impl Transition for Deliver {
    type Answer = bool;

    fn change(&self, _now: Timestamp) -> Result<Change<bool>, Rejection> {
        let n = &self.notification;
        if self.already {
            return Ok(Change::new(n.job_id, false));
        }
        let (_, writes) = delivery(n, self.head.as_ref());
        let [head, notification] = writes;
        Ok(Change::new(n.job_id, true).write(head).write(notification))
    }

    fn rebase(&mut self, index: usize, current: Item) -> Result<(), Rejection> {
        match index {
            // Another delivery took the position: the next one is free.
            0 => {
                let mut head = InboxHead {
                    user_id: self.recipient().clone(),
                    delivered: 0,
                };
                adopt(&mut head, current);
                self.head = Some(head);
            }
            _ => self.already = true,
        }
        Ok(())
    }
}

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

    fn notification() -> Notification {
        let job = job(1);
        OutboxEvent::new(
            EventKind::JobExpired {
                job_id: job.job_id,
                owner_id: user("owner"),
            },
            t0(),
        )
        .direct_notifications()
        .remove(0)
    }

    #[test]
    fn a_delivery_takes_the_next_position_on_the_head_as_read_and_only_once() {
        let first = change(&Deliver::new(notification(), None), t0());
        assert!(first.answer);
        assert_eq!(
            first.writes[0],
            Write::replacing(
                Item::InboxHead(InboxHead {
                    user_id: user("owner"),
                    delivered: 1
                }),
                vec![Cond::Absent]
            )
        );
        let head = InboxHead {
            user_id: user("owner"),
            delivered: 7,
        };
        let mut later = Deliver::new(notification(), Some(head.clone()));
        let change_ = change(&later, t0());
        assert_eq!(change_.writes[0].when, [Cond::Delivered(7)]);
        match &change_.writes[1].item {
            Item::Notification(n) => assert_eq!(n.position, 8),
            other => panic!("{other:?}"),
        }
        assert_eq!(change_.writes[1].when, [Cond::Absent]);

        // Another delivery got there first: the position after it.
        later
            .rebase(
                0,
                Item::InboxHead(InboxHead {
                    delivered: 8,
                    ..head
                }),
            )
            .unwrap();
        assert_eq!(change(&later, t0()).writes[0].when, [Cond::Delivered(8)]);
        // This event's notification is there already: nothing to write, not new.
        later.rebase(1, Item::Notification(notification())).unwrap();
        let again = change(&later, t0());
        assert!(again.is_empty() && !again.answer);
    }

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
