//! Live connections of the WebSocket API and the messages that travel on them. The inbox is
//! the record; a push is a hint carrying the position it stands at, so a client that missed
//! one (offline, dropped, a push that failed) asks for what follows its last position.

use super::{Notification, UserId};
use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// API Gateway's id of a connection. It is part of a key and of the Management API's path,
/// so only the characters API Gateway uses (base64 and its URL-safe variant) are taken.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConnectionId(String);

impl ConnectionId {
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= 128
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+/=_-".contains(c));
        ok.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ConnectionId {
    type Error = &'static str;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw).ok_or("not a connection id")
    }
}

impl From<ConnectionId> for String {
    fn from(id: ConnectionId) -> Self {
        id.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How many connections a user keeps; a connect beyond it closes their oldest.
pub const MAX_CONNECTIONS: usize = 5;

/// API Gateway closes any WebSocket connection after two hours.
pub fn max_lifetime() -> chrono::Duration {
    chrono::Duration::hours(2)
}

/// A live connection, as `$connect` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub user_id: UserId,
    pub connection_id: ConnectionId,
    #[serde(with = "time::rfc3339")]
    pub connected_at: Timestamp,
    /// When the connection stops being the user's: its token's expiry, or API Gateway's
    /// two-hour limit if that comes first. Nothing is pushed to it from then on and the
    /// sweeper closes it.
    #[serde(with = "time::rfc3339")]
    pub expires_at: Timestamp,
    /// `expires_at` in epoch seconds, for DynamoDB's TTL, which deletes lazily (up to days
    /// late): a backstop for items whose `$disconnect` never ran, never a check.
    pub expires_ttl: i64,
}

impl Connection {
    pub fn open(
        user_id: UserId,
        connection_id: ConnectionId,
        now: Timestamp,
        token_expires_at: Timestamp,
    ) -> Self {
        let expires_at = token_expires_at.min(now + max_lifetime());
        Self {
            user_id,
            connection_id,
            connected_at: now,
            expires_at,
            expires_ttl: expires_at.timestamp(),
        }
    }

    /// Whether anything may still be sent to it: its token has not expired.
    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

/// Which of a user's connections a connect must close: all but the newest
/// [`MAX_CONNECTIONS`]. Every connect of a user computes it over the same items, so
/// connects that race each other all close the same oldest ones and settle at the limit.
pub fn beyond_limit(mut connections: Vec<Connection>) -> Vec<Connection> {
    connections.sort_by(|a, b| {
        (b.connected_at, &b.connection_id).cmp(&(a.connected_at, &a.connection_id))
    });
    connections.split_off(connections.len().min(MAX_CONNECTIONS))
}

/// How many notifications one `sync` sends; a client that got this many asks again from
/// the last position it got.
pub const SYNC_BATCH: u32 = 100;

/// What a client sends on its socket, by `action` (the API's route selection).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Everything delivered after `after` (from the start when null).
    Sync {
        after: Option<u64>,
    },
    Ping,
}

/// What the server sends on a socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// A notification exactly as `GET /me/notifications` lists it, with its position.
    Notification {
        notification: Notification,
    },
    Pong,
    /// A message the server could not act on; the connection stays open unless it expired.
    Error {
        code: SocketError,
        message: String,
    },
}

/// Why a socket message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SocketError {
    /// No route has this action.
    UnknownAction,
    /// The action's fields are not what it takes.
    ValidationFailed,
    /// The connection's token expired; it is being closed.
    TokenExpired,
    /// The inbox could not be read now; ask again.
    ServiceUnavailable,
}

impl ServerMessage {
    pub fn error(code: SocketError, message: impl Into<String>) -> Self {
        Self::Error {
            code,
            message: message.into(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a server message always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        time::parse(s).unwrap()
    }

    fn connection(id: &str, connected: &str) -> Connection {
        Connection::open(
            UserId::parse("bob").unwrap(),
            ConnectionId::parse(id).unwrap(),
            at(connected),
            at("2026-01-02T00:00:00.000Z"),
        )
    }

    #[test]
    fn a_connection_expires_with_its_token_or_after_two_hours() {
        let now = at("2026-01-01T00:00:00.000Z");
        let soon = now + chrono::Duration::minutes(5);
        let c = Connection::open(
            UserId::parse("bob").unwrap(),
            ConnectionId::parse("abc=").unwrap(),
            now,
            soon,
        );
        assert_eq!((c.expires_at, c.expires_ttl), (soon, soon.timestamp()));
        assert!(c.is_live(soon - chrono::Duration::milliseconds(1)));
        assert!(!c.is_live(soon));
        let late = connection("abc=", "2026-01-01T00:00:00.000Z");
        assert_eq!(late.expires_at, now + chrono::Duration::hours(2));
    }

    #[test]
    fn connection_ids_are_what_api_gateway_issues() {
        assert!(ConnectionId::parse("L0SM9cOFvHcCIhw=").is_some());
        assert!(ConnectionId::parse("a_b-c+d/e").is_some());
        for bad in ["", "a#b", "a b", "a?b", &"x".repeat(129)] {
            assert!(ConnectionId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn beyond_the_limit_the_oldest_are_closed() {
        let all: Vec<_> = (0..7)
            .map(|i| connection(&format!("c{i}"), &format!("2026-01-01T00:00:0{i}.000Z")))
            .collect();
        let mut shuffled = all.clone();
        shuffled.reverse();
        shuffled.swap(1, 4);
        let closed: Vec<_> = beyond_limit(shuffled)
            .into_iter()
            .map(|c| c.connection_id.to_string())
            .collect();
        assert_eq!(closed, ["c1", "c0"]);
        assert!(beyond_limit(all[..5].to_vec()).is_empty());
    }

    #[test]
    fn client_messages_parse_by_action_and_refuse_anything_else() {
        let parse = |s: &str| serde_json::from_str::<ClientMessage>(s).ok();
        assert_eq!(
            parse(r#"{"action":"sync","after":7}"#),
            Some(ClientMessage::Sync { after: Some(7) })
        );
        assert_eq!(
            parse(r#"{"action":"sync","after":null}"#),
            Some(ClientMessage::Sync { after: None })
        );
        assert_eq!(parse(r#"{"action":"ping"}"#), Some(ClientMessage::Ping));
        for bad in [
            r#"{"action":"sync","after":-1}"#,
            r#"{"action":"sync","after":"7"}"#,
            r#"{"action":"sync","after":1,"x":1}"#,
            r#"{"action":"shout"}"#,
            "not json",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn server_messages_are_tagged_by_type() {
        assert_eq!(ServerMessage::Pong.to_json(), r#"{"type":"pong"}"#);
        let error = ServerMessage::error(SocketError::UnknownAction, "no such action");
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            serde_json::json!({"type": "error", "code": "UNKNOWN_ACTION", "message": "no such action"})
        );
    }
}
