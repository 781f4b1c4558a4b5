//! A WebSocket client of the local gateway's `/ws`, as a browser would hold one.

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tokio_tungstenite::tungstenite::{self, Message};

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a test waits for a message it expects.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long a test listens to be sure nothing more comes.
pub const QUIET: Duration = Duration::from_millis(400);

pub struct Socket {
    stream: Stream,
}

/// What came next on a socket.
#[derive(Debug, PartialEq)]
pub enum Heard {
    Message(Value),
    Closed,
    Nothing,
}

impl Socket {
    /// A socket to `url`, or the status the handshake was refused with.
    pub async fn open(url: &str) -> Result<Self, u16> {
        match tokio_tungstenite::connect_async(url).await {
            Ok((stream, _)) => Ok(Self { stream }),
            Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(e) => panic!("the handshake failed without an answer: {e}"),
        }
    }

    pub async fn send(&mut self, message: Value) {
        self.stream
            .send(Message::text(message.to_string()))
            .await
            .expect("the socket takes a message");
    }

    /// What comes next within `wait`: a message (JSON), the close, or nothing. Every
    /// message is held to `infra/asyncapi.yaml` here, where all of them arrive.
    pub async fn next_within(&mut self, wait: Duration) -> Heard {
        loop {
            match tokio::time::timeout(wait, self.stream.next()).await {
                Err(_) => return Heard::Nothing,
                Ok(Some(Ok(Message::Text(text)))) => {
                    let message = serde_json::from_str(&text).unwrap_or_else(|e| {
                        panic!("the server sent a message that is not JSON ({e}): {text}")
                    });
                    crate::socket_contract::check(&message);
                    return Heard::Message(message);
                }
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => {
                    return Heard::Closed;
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// The next message; fails the test on anything else.
    pub async fn message(&mut self) -> Value {
        match self.next_within(WAIT).await {
            Heard::Message(v) => v,
            other => panic!("expected a message, heard {other:?}"),
        }
    }

    /// The next `n` notification items, in the order they came.
    pub async fn notifications(&mut self, n: usize) -> Vec<Value> {
        let mut items = Vec::with_capacity(n);
        while items.len() < n {
            let message = self.message().await;
            assert_eq!(message["type"], "notification", "{message}");
            items.push(message["notification"].clone());
        }
        items
    }

    /// Fails the test if anything but silence comes within [`QUIET`].
    pub async fn assert_quiet(&mut self) {
        let heard = self.next_within(QUIET).await;
        assert_eq!(heard, Heard::Nothing);
    }

    /// Whether the server closes the socket within `wait`, messages before it ignored.
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let until = tokio::time::Instant::now() + wait;
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Heard::Closed => return true,
                Heard::Nothing => return false,
                Heard::Message(_) => {}
            }
        }
    }

    /// `sync` from `after`, and the notifications it sends until a pause.
    pub async fn sync(&mut self, after: Option<u64>) -> Vec<Value> {
        self.send(serde_json::json!({"action": "sync", "after": after}))
            .await;
        let mut items = Vec::new();
        loop {
            match self.next_within(QUIET * 2).await {
                Heard::Message(m) if m["type"] == "notification" => {
                    items.push(m["notification"].clone());
                }
                Heard::Nothing => return items,
                other => panic!("sync answered {other:?}"),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}
