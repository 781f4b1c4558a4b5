//! The inbox's transitions: a notification delivered at the next position of its
//! recipient's inbox, and read by its recipient.

use crate::domain::change::adopt;
use crate::domain::{
    Change, Cond, InboxHead, Item, JobId, Notification, Rejection, Transition, UserId, Write,
};
use crate::time::Timestamp;

/// The writes that put `notifications` (all to one recipient) at the next positions of
/// their inbox, given its head as read (`None`: nothing delivered yet): the head first,
/// then each notification. The head's condition makes positions gapless and strictly in the
/// order deliveries commit; each notification's own (`attribute_not_exists` on the event's
/// id) makes a second delivery of one event nothing.
pub(crate) fn delivery(notifications: &[Notification], head: Option<&InboxHead>) -> Vec<Write> {
    let Some(first) = notifications.first() else {
        return Vec::new();
    };
    let seen = head.map_or(0, |h| h.delivered);
    let head_after = InboxHead {
        user_id: first.recipient_id.clone(),
        delivered: seen + notifications.len() as u64,
    };
    let when = match head {
        None => vec![Cond::Absent],
        Some(_) => vec![Cond::Delivered(seen)],
    };
    let mut writes = vec![Write::replacing(Item::InboxHead(head_after), when)];
    for (n, position) in notifications.iter().zip(seen + 1..) {
        let mut delivered = n.clone();
        delivered.position = position;
        writes.push(Write::new(Item::Notification(delivered)));
    }
    writes
}

/// `notify`'s delivery of one recipient's notifications, in one write: each at the next
/// position of their inbox. A redelivered event finds its notification there, is left out,
/// and the rest are delivered.
#[derive(Debug, Clone)]
pub struct Deliver {
    /// Not yet found delivered; all to one recipient.
    pending: Vec<Notification>,
    /// Found delivered before, as they are in the inbox.
    found: Vec<Notification>,
    /// The recipient's inbox head as read.
    head: Option<InboxHead>,
}

/// What a delivery put in the inbox, each notification with its position.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delivered {
    pub new: Vec<Notification>,
    /// Delivered by an earlier delivery of their events: pushed again, since that one may
    /// have stopped before its push.
    pub again: Vec<Notification>,
}

impl Deliver {
    /// `notifications` must all be to one recipient.
    pub fn new(notifications: Vec<Notification>, head: Option<InboxHead>) -> Self {
        Self {
            pending: notifications,
            found: Vec::new(),
            head,
        }
    }
}

impl Transition for Deliver {
    type Answer = Delivered;

    fn change(&self, _now: Timestamp) -> Result<Change<Delivered>, Rejection> {
        let writes = delivery(&self.pending, self.head.as_ref());
        let delivered = Delivered {
            new: writes
                .iter()
                .filter_map(|w| match &w.item {
                    Item::Notification(n) => Some(n.clone()),
                    _ => None,
                })
                .collect(),
            again: self.found.clone(),
        };
        // No audit records: the trail's job does not matter.
        let trail = self
            .pending
            .first()
            .map_or_else(JobId::generate, |n| n.job_id);
        Ok(writes
            .into_iter()
            .fold(Change::new(trail, delivered), Change::write))
    }

    fn rebase(&mut self, index: usize, current: Item) -> Result<(), Rejection> {
        match index {
            // Another delivery moved the head: the next positions are after it.
            0 => {
                let recipient = self.pending.first().map(|n| n.recipient_id.clone());
                let mut head = InboxHead {
                    user_id: recipient.unwrap_or_else(UserId::system),
                    delivered: 0,
                };
                adopt(&mut head, current);
                self.head = Some(head);
            }
            // This event's notification is there already: delivered before.
            i => {
                if i - 1 < self.pending.len() {
                    self.pending.remove(i - 1);
                    if let Item::Notification(n) = current {
                        self.found.push(n);
                    }
                }
            }
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

    fn positions<A>(change: &Change<A>) -> Vec<u64> {
        change.writes[1..]
            .iter()
            .map(|w| match &w.item {
                Item::Notification(n) => n.position,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_recipients_notifications_take_the_next_positions_in_one_write_once_each() {
        let first = change(&Deliver::new(vec![notification()], None), t0());
        assert_eq!(
            first
                .answer
                .new
                .iter()
                .map(|n| n.position)
                .collect::<Vec<_>>(),
            [1]
        );
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
        let three = vec![notification(), notification(), notification()];
        let mut later = Deliver::new(three, Some(head.clone()));
        let change_ = change(&later, t0());
        assert_eq!(change_.writes[0].when, [Cond::Delivered(7)]);
        assert_eq!(
            change_.writes[0].item,
            Item::InboxHead(InboxHead {
                delivered: 10,
                ..head.clone()
            })
        );
        assert_eq!(positions(&change_), [8, 9, 10]);
        assert!(change_.writes[1..].iter().all(|w| w.when == [Cond::Absent]));

        // Another delivery got there first: the positions after it.
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
        assert_eq!(positions(&change(&later, t0())), [9, 10, 11]);
        // The second was delivered before: the other two take the next positions, and the
        // answer names it as it is in the inbox, to be pushed again.
        let mut before = notification();
        before.position = 4;
        later.rebase(2, Item::Notification(before.clone())).unwrap();
        let rest = change(&later, t0());
        assert_eq!(positions(&rest), [9, 10]);
        assert_eq!(rest.answer.new.len(), 2);
        assert_eq!(rest.answer.again, [before.clone()]);
        later.rebase(1, Item::Notification(notification())).unwrap();
        later.rebase(1, Item::Notification(notification())).unwrap();
        let none = change(&later, t0());
        assert!(none.is_empty() && none.answer.new.is_empty());
        assert_eq!(none.answer.again.len(), 3);
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
