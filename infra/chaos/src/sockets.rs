//! Live sockets held as the docs tell a client to: connect, `sync` from the last position
//! it holds, take every pushed notification, `sync` again on a gap or when the inbox could
//! not be read, and on a drop reconnect. A push is a hint (docs/api.md): one whose
//! delivery met a fault (its recipient's connections unreadable) is not sent again, and no
//! later gap may show it, so after [`IDLE_SYNC`] without a message the client syncs
//! anyway, as a long-lived client should. Each connection is a session; the checks hold a session that stayed open to
//! the end to having received every notification after the position it synced from.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// How long a socket waits without a message before it syncs to catch a lost push.
pub const IDLE_SYNC: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Default)]
pub struct Session {
    /// The position its first `sync` asked after (0: from the start).
    pub after: u64,
    pub received: BTreeSet<u64>,
    /// Whether it was still open when the run closed it.
    pub open_at_end: bool,
}

#[derive(Debug, Default)]
pub struct Holder {
    pub user: String,
    pub sessions: Vec<Session>,
}

impl Holder {
    /// Every position received on any session.
    pub fn received(&self) -> BTreeSet<u64> {
        self.sessions
            .iter()
            .flat_map(|s| s.received.iter().copied())
            .collect()
    }

    /// The highest position `p` with 1..=p all received.
    fn contiguous(&self) -> u64 {
        let received = self.received();
        (1..)
            .take_while(|p| received.contains(p))
            .last()
            .unwrap_or(0)
    }
}

/// The local gateway's WebSocket address for `token`.
pub fn url(api: &str, token: &str) -> String {
    format!("{}/ws?token={token}", api.replacen("http", "ws", 1))
}

/// Holds `user`'s socket on `api` until `stop` turns true, reconnecting after a drop.
pub async fn hold(
    api: String,
    user: String,
    token: String,
    holder: Arc<Mutex<Holder>>,
    mut stop: watch::Receiver<bool>,
) {
    holder.lock().unwrap().user = user;
    let url = url(&api, &token);
    while !*stop.borrow() {
        let Ok((mut stream, _)) = tokio_tungstenite::connect_async(&url).await else {
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        };
        let after = {
            let mut h = holder.lock().unwrap();
            let after = h.contiguous();
            h.sessions.push(Session {
                after,
                ..Session::default()
            });
            after
        };
        let sync =
            |after: u64| Message::text(json!({"action": "sync", "after": after}).to_string());
        if stream.send(sync(after)).await.is_err() {
            continue;
        }
        let mut asked = after;
        loop {
            let idle = tokio::time::sleep(IDLE_SYNC);
            tokio::select! {
                _ = idle => {
                    let after = holder.lock().unwrap().contiguous();
                    if stream.send(sync(after)).await.is_err() {
                        break;
                    }
                }
                _ = stop.changed() => {
                    holder.lock().unwrap().sessions.last_mut().unwrap().open_at_end = true;
                    let _ = stream.close(None).await;
                    return;
                }
                message = stream.next() => {
                    let Some(Ok(Message::Text(text))) = message else {
                        if matches!(message, Some(Ok(Message::Ping(_) | Message::Pong(_)))) {
                            continue;
                        }
                        break;
                    };
                    let Ok(message) = serde_json::from_str::<Value>(&text) else { continue };
                    if message["code"] == "SERVICE_UNAVAILABLE" {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        let after = holder.lock().unwrap().contiguous();
                        if stream.send(sync(after)).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    let Some(position) = message["notification"]["position"].as_u64() else {
                        continue;
                    };
                    let gap = {
                        let mut h = holder.lock().unwrap();
                        h.sessions.last_mut().unwrap().received.insert(position);
                        let contiguous = h.contiguous();
                        (position > contiguous + 1).then_some(contiguous)
                    };
                    // A sync answers 100 at most, and a push can overtake a sync's answer:
                    // on a gap, ask again from the last position held.
                    if let Some(after) = gap.filter(|a| *a != asked) {
                        asked = after;
                        if stream.send(sync(after)).await.is_err() {
                            break;
                        }
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
