//! `push-delay [HIRES] [USERS]`: hire → push over live WebSockets, beside hire → inbox.
//!
//! The stack delivers as `make dev` does (the `delay` benchmark's set-up: the table's stream
//! through the local pipe to the queue, the pollers feeding `notify`). USERS freelancers
//! each hold a socket on `/ws?token=`; HIRES hires one after another, each of the next
//! freelancer in turn, on a fresh job of one owner. For each: the time from the hire's 200
//! to the `hired` notification arriving on that freelancer's socket, and to it being listed
//! by `GET /me/notifications` (polled every 5 ms, as `delay` polls). It fails if a push is
//! missing, arrives twice, or differs from what the inbox lists.
//!
//! Each hire waits a random part of the pipe's poll interval first. Without it the loop
//! locks onto the pipe's timer: a hire starts as the previous push lands, just after a
//! poll, so every hire waits nearly a whole interval (measured: p50 240 ms, p99 261 ms),
//! where hires made at any moment wait anywhere in it.

use crate::{Api, BoxError, percentile, random_part_of, setup};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// How long a hire's push and inbox entry may take before the run fails.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Listened after the last hire for pushes sent twice: longer than the stack's 5 s
/// visibility timeout, after which a batch that failed is received and pushed again.
const AFTERWARDS: Duration = Duration::from_secs(6);

/// API Gateway closes a connection idle for 10 minutes: a socket that only listens says
/// `ping` well before that, as a browser tab would.
const KEEP_ALIVE: Duration = Duration::from_secs(4 * 60);

/// A message as it arrived on a socket, and when.
pub type Heard = (Instant, Value);

/// `user`'s socket on the gateway at `api`, with a token of theirs. Every text message it
/// receives is sent on, stamped with its arrival, to the receiver returned; the socket
/// closes once `until` fires (or the receiver is dropped).
pub async fn listen(
    api: &Api,
    user: &str,
    until: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(mpsc::UnboundedReceiver<Heard>, tokio::task::JoinHandle<()>), BoxError> {
    let token = api.auth.mint(user, chrono::Duration::hours(1));
    let url = format!("{}/ws?token={token}", api.base.replacen("http", "ws", 1));
    let (stream, _) = tokio_tungstenite::connect_async(url).await?;
    let (mut out, mut incoming) = stream.split();
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        tokio::pin!(until);
        let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
        keep_alive.tick().await;
        loop {
            tokio::select! {
                message = incoming.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        let at = Instant::now();
                        let value = serde_json::from_str(&text).unwrap_or(Value::String(text.to_string()));
                        if tx.send((at, value)).is_err() {
                            break;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
                _ = keep_alive.tick() => {
                    let ping = Message::text(json!({"action": "ping"}).to_string());
                    if out.send(ping).await.is_err() {
                        break;
                    }
                }
                _ = &mut until => break,
            }
        }
        let _ = out.close().await;
    });
    Ok((rx, task))
}

/// The notification a message carries, if it is one of `kind` about `job_id`.
pub fn notification_of<'a>(message: &'a Value, kind: &str, job_id: &str) -> Option<&'a Value> {
    let n = &message["notification"];
    (message["type"] == "notification" && n["type"] == kind && n["job_id"] == job_id).then_some(n)
}

struct Listener {
    rx: mpsc::UnboundedReceiver<Heard>,
    /// Every message heard, in order.
    heard: Vec<Heard>,
}

impl Listener {
    /// The first message heard that `wanted` picks, waiting until `deadline` for it.
    async fn first(
        &mut self,
        wanted: impl Fn(&Value) -> bool,
        deadline: tokio::time::Instant,
    ) -> Option<Heard> {
        loop {
            if let Some(found) = self.heard.iter().find(|(_, m)| wanted(m)) {
                return Some(found.clone());
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(heard)) => self.heard.push(heard),
                Ok(None) | Err(_) => return None,
            }
        }
    }
}

pub async fn delay(hires: usize, users: usize) -> Result<(), BoxError> {
    if users == 0 || hires == 0 {
        return Err("push-delay needs at least one hire and one user".into());
    }
    let bench = setup(true, true).await?;
    let run = super::flow::run_name();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut listeners = Vec::with_capacity(users);
    let mut tasks = Vec::with_capacity(users);
    for u in 0..users {
        let mut stopped = stopped.clone();
        let until = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        let (rx, task) = listen(&bench, &format!("{run}-f{u}"), until).await?;
        listeners.push(Listener {
            rx,
            heard: Vec::new(),
        });
        tasks.push(task);
    }
    let open = bench.kit.stack.sockets.open();
    if open != users {
        return Err(format!("{open} sockets open, not {users}").into());
    }

    let owner = format!("{run}-owner");
    let (mut pushed, mut listed) = (Vec::with_capacity(hires), Vec::with_capacity(hires));
    let mut jobs: Vec<(usize, String)> = Vec::with_capacity(hires);
    let started = Instant::now();
    for i in 0..hires {
        let u = i % users;
        let freelancer = format!("{run}-f{u}");
        tokio::time::sleep(random_part_of(local_gateway::pipe::POLL_INTERVAL)).await;
        let job_id = bench.hire_on_a_new_job(&owner, &freelancer, "Push").await?;
        let hired_at = Instant::now();
        let deadline = tokio::time::Instant::from_std(hired_at + TIMEOUT);

        // The inbox first, polled while the socket's own task stamps what arrives: the two
        // are timed independently of the order they are looked at in.
        let item = loop {
            let inbox = bench.get(&freelancer, "/me/notifications").await?;
            let found = inbox["items"].as_array().and_then(|items| {
                items
                    .iter()
                    .find(|n| n["type"] == "hired" && n["job_id"] == job_id.as_str())
                    .cloned()
            });
            if let Some(item) = found {
                listed.push(hired_at.elapsed());
                break item;
            }
            if hired_at.elapsed() > TIMEOUT {
                return Err(
                    format!("hire {i}: not in {freelancer}'s inbox after {TIMEOUT:?}").into(),
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let (at, message) = listeners[u]
            .first(|m| notification_of(m, "hired", &job_id).is_some(), deadline)
            .await
            .ok_or_else(|| format!("hire {i}: no push to {freelancer} after {TIMEOUT:?}"))?;
        // A push before the 200 was read would be a negative delay; it is kept as zero and
        // would show as a p50 of 0, not hidden.
        pushed.push(at.saturating_duration_since(hired_at));
        if message["notification"] != item {
            return Err(format!(
                "hire {i}: pushed {} but the inbox lists {item}",
                message["notification"]
            )
            .into());
        }
        jobs.push((u, job_id));
    }
    let elapsed = started.elapsed();

    tokio::time::sleep(AFTERWARDS).await;
    let mut wrong = Vec::new();
    for (u, listener) in listeners.iter_mut().enumerate() {
        while let Ok(heard) = listener.rx.try_recv() {
            listener.heard.push(heard);
        }
        let expected: Vec<&String> = jobs
            .iter()
            .filter(|(v, _)| *v == u)
            .map(|(_, j)| j)
            .collect();
        let mut by_job: HashMap<&str, usize> = HashMap::new();
        for (_, m) in &listener.heard {
            match m["notification"]["job_id"].as_str() {
                Some(job)
                    if m["type"] == "notification" && m["notification"]["type"] == "hired" =>
                {
                    *by_job.entry(job).or_default() += 1;
                }
                // Keep-alive answers; anything else is a message the run did not ask for.
                _ if m["type"] == "pong" => {}
                _ => wrong.push(format!("{run}-f{u} heard {m}")),
            }
        }
        for job in &expected {
            match by_job.remove(job.as_str()) {
                Some(1) => {}
                n => wrong.push(format!(
                    "{run}-f{u}: {} pushes of hired for job {job}",
                    n.unwrap_or(0)
                )),
            }
        }
        for (job, n) in by_job {
            wrong.push(format!(
                "{run}-f{u}: {n} pushes for job {job}, not hired here"
            ));
        }
    }
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }

    let first = pushed.iter().zip(&listed).filter(|(p, l)| p < l).count();
    pushed.sort();
    listed.sort();
    let print = |name: &str, d: &[Duration]| {
        println!(
            "push-delay {name} over {hires} hires ({users} users, one hire after another, each after a random pause below {:?}): p50={:.1}ms p99={:.1}ms max={:.1}ms",
            local_gateway::pipe::POLL_INTERVAL,
            percentile(d, 0.5),
            percentile(d, 0.99),
            percentile(d, 1.0)
        );
    };
    print("hire→push", &pushed);
    print("hire→inbox (polled every 5 ms)", &listed);
    println!(
        "{hires} hires in {:.1} s; the push came before the inbox listed it in {first} of {hires}; wrong: {}",
        elapsed.as_secs_f64(),
        wrong.len()
    );
    for line in wrong.iter().take(20) {
        println!("  {line}");
    }
    if !wrong.is_empty() {
        return Err("pushes missing, repeated or unasked for".into());
    }
    Ok(())
}
