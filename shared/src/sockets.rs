//! The way to live connections: API Gateway's Management API (`@connections`), which posts
//! a message to one connection or closes it. `notify` pushes what it delivered, the socket
//! routes answer on their own connection, the sweeper closes expired ones. The same client
//! is pointed at the local gateway's `@connections` locally: nothing here knows which.

use crate::deadline::{Deadline, RESERVE};
use crate::domain::{Connection, ConnectionId, Notification, ServerMessage, UserId};
use crate::metrics;
use crate::store::{Store, StoreError};
use crate::telemetry::error_chain;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use futures::future::join_all;
use std::collections::HashMap;
use std::time::Duration;

/// The most one post or close may take: a Management API that hangs costs a push, never
/// the batch that delivered it (the inbox has it, and the client catches up by position).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The connection is gone (410): its client left without `$disconnect` reaching us.
    #[error("the connection is gone")]
    Gone,
    #[error("no time left to send")]
    OutOfTime,
    #[error("no Management API endpoint is configured")]
    NotConfigured,
    #[error("the Management API failed: {0}")]
    Failed(String),
}

/// A client of the Management API; none where no endpoint is configured (a function that
/// never talks to connections).
#[derive(Clone, Debug, Default)]
pub struct Sockets {
    client: Option<aws_sdk_apigatewaymanagement::Client>,
}

impl Sockets {
    pub fn new(client: Option<aws_sdk_apigatewaymanagement::Client>) -> Self {
        Self { client }
    }

    /// Posts `message` to one connection.
    pub async fn send(
        &self,
        id: &ConnectionId,
        message: &ServerMessage,
        deadline: Deadline,
    ) -> Result<(), SendError> {
        let client = self.client.as_ref().ok_or(SendError::NotConfigured)?;
        let call = client
            .post_to_connection()
            .connection_id(id.as_str())
            .data(Blob::new(message.to_json()))
            .send();
        match timed(call, deadline).await? {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_gone_exception()) => {
                Err(SendError::Gone)
            }
            Err(e) => Err(SendError::Failed(error_chain(&e))),
        }
    }

    /// Closes a connection (API Gateway then runs its `$disconnect`); one already gone is
    /// closed.
    pub async fn close(&self, id: &ConnectionId, deadline: Deadline) -> Result<(), SendError> {
        let client = self.client.as_ref().ok_or(SendError::NotConfigured)?;
        let call = client.delete_connection().connection_id(id.as_str()).send();
        match timed(call, deadline).await? {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_gone_exception()) => Ok(()),
            Err(e) => Err(SendError::Failed(error_chain(&e))),
        }
    }
}

/// `call`, given at most [`SEND_TIMEOUT`] and never past the deadline.
async fn timed<F: std::future::Future>(
    call: F,
    deadline: Deadline,
) -> Result<F::Output, SendError> {
    let room = deadline.remaining().saturating_sub(RESERVE);
    if room.is_zero() {
        return Err(SendError::OutOfTime);
    }
    tokio::time::timeout(SEND_TIMEOUT.min(room), call)
        .await
        .map_err(|_| SendError::Failed("timed out".into()))
}

/// What pushing a batch's notifications came to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// Messages the Management API accepted.
    pub sent: usize,
    /// Connections found gone (410) and forgotten.
    pub gone: usize,
    /// Connections whose token had expired: never pushed to.
    pub expired: usize,
    /// Pushes that failed otherwise (and recipients whose connections could not be read);
    /// logged and counted, never retried: the inbox holds the notification.
    pub failed: usize,
}

/// Pushes each notification, after its delivery committed, to every live connection of its
/// recipient: one Query of each recipient's connections, then every post at once, each
/// within [`SEND_TIMEOUT`]. A failure never fails the caller.
pub async fn push(store: &Store, sockets: &Sockets, notifications: &[Notification]) -> Pushed {
    if sockets.client.is_none() || notifications.is_empty() {
        return Pushed::default();
    }
    let mut by_recipient: HashMap<&UserId, Vec<&Notification>> = HashMap::new();
    for n in notifications {
        by_recipient.entry(&n.recipient_id).or_default().push(n);
    }
    let deadline = store.deadline();
    let tallies = join_all(by_recipient.into_iter().map(|(user, notifications)| async move {
        match store.connections(user).await {
            Ok(connections) => {
                push_to(store, sockets, connections, &notifications, deadline).await
            }
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "connections unreadable; not pushed");
                Pushed {
                    failed: notifications.len(),
                    ..Pushed::default()
                }
            }
        }
    }))
    .await;
    let total = tallies.into_iter().fold(Pushed::default(), |a, b| Pushed {
        sent: a.sent + b.sent,
        gone: a.gone + b.gone,
        expired: a.expired + b.expired,
        failed: a.failed + b.failed,
    });
    metrics::count("PushesSent", total.sent);
    metrics::count("PushConnectionsGone", total.gone);
    metrics::count("PushFailures", total.failed);
    total
}

async fn push_to(
    store: &Store,
    sockets: &Sockets,
    connections: Vec<Connection>,
    notifications: &[&Notification],
    deadline: Deadline,
) -> Pushed {
    let now = crate::time::now();
    let (live, expired): (Vec<_>, Vec<_>) = connections.into_iter().partition(|c| c.is_live(now));
    let mut tally = Pushed {
        expired: expired.len() * notifications.len(),
        ..Pushed::default()
    };
    let sends = live.iter().map(|c| async move {
        // One connection's messages in position order, so a client sees them in order.
        for n in notifications {
            let message = ServerMessage::Notification {
                notification: (*n).clone(),
            };
            sockets.send(&c.connection_id, &message, deadline).await?;
        }
        Ok(())
    });
    let outcomes = join_all(sends).await;
    for (connection, outcome) in live.iter().zip(outcomes) {
        match outcome {
            Ok(()) => tally.sent += notifications.len(),
            Err(SendError::Gone) => {
                tally.gone += 1;
                if let Err(e) = forget(store, connection).await {
                    tracing::warn!(connection_id = %connection.connection_id, error = %error_chain(&e), "gone connection not forgotten");
                }
            }
            Err(e) => {
                tally.failed += notifications.len();
                tracing::warn!(connection_id = %connection.connection_id, error = %e, "push failed; the inbox has it");
            }
        }
    }
    tally
}

async fn forget(store: &Store, connection: &Connection) -> Result<(), StoreError> {
    tracing::info!(connection_id = %connection.connection_id, "connection gone; forgotten");
    store
        .disconnect(&connection.user_id, &connection.connection_id)
        .await
}
