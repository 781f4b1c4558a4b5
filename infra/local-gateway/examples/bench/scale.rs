//! `push-scale`: live push at scale, through the stack as `make dev` runs it.
//!
//! - `push-scale reject [APPLICANTS]`: APPLICANTS freelancers, each holding a socket, apply
//!   to one job with one opening; the owner hires the first. From the hire's 200: when each
//!   of the others heard `application_rejected` and the winner `hired`. Fails unless every
//!   socket heard exactly its one notification, and nothing else, within 60 s and the 6 s
//!   after. The sockets need file descriptors: run it under `ulimit -n 65536`.
//! - `push-scale sync [NOTIFICATIONS] [ROUNDS]`: an owner whose inbox holds NOTIFICATIONS
//!   `application_received` connects ROUNDS times, each time syncing from position 0, each
//!   `sync` from the last position heard, until all have arrived. Fails on a gap, a repeat,
//!   a position out of order or one more after the last.
//! - `push-scale notify [EVENTS] [CONNECTIONS] [RECIPIENTS]`: the `notify` benchmark's
//!   measure (outbox events left undispatched, fed to `notify` in SQS batches of 10, one
//!   batch after another) with CONNECTIONS sockets open per recipient, the EVENTS
//!   applications spread over RECIPIENTS owners. Fails unless each inbox holds its
//!   applications and each socket heard each of its inbox's positions once.

use crate::push::{Heard, listen, notification_of};
use crate::{Api, Bench, BoxError, percentile, setup};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use shared::domain::{JobId, UserId};
use shared::store::keys;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

/// How long the last of a fan-out's pushes may take before the run fails.
const PUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// Listened after the last expected push for pushes sent twice: longer than the stack's 5 s
/// visibility timeout, after which a batch that failed is received and pushed again.
const AFTERWARDS: Duration = Duration::from_secs(6);

/// The gap a sync may leave between two messages before the run fails: far above a batch's
/// reads, so only a sync that stalled trips it.
const SYNC_STALL: Duration = Duration::from_secs(10);

/// The most notifications one `sync` sends (the handler's `SYNC_BATCH`): a batch this long
/// may be followed by more, so the client syncs again from its last position.
const SYNC_BATCH: usize = 100;

pub async fn push_scale(args: &[String]) -> Result<(), BoxError> {
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("reject") => reject(arg(1, 1_000)).await,
        Some("sync") => sync(arg(1, 1_000), arg(2, 5)).await,
        Some("notify") => notify(arg(1, 1_000), arg(2, 1), arg(3, 1)).await,
        _ => Err("usage: bench push-scale reject [APPLICANTS] | sync [NOTIFICATIONS] [ROUNDS] | notify [EVENTS] [CONNECTIONS] [RECIPIENTS]".into()),
    }
}

/// The sockets of `users`, all open before this returns, each closing when `stop` turns
/// true. An error names the open-file limit: it is what runs out first.
async fn open_sockets(
    bench: &Bench,
    users: &[String],
    stop: &watch::Receiver<bool>,
) -> Result<Vec<(mpsc::UnboundedReceiver<Heard>, tokio::task::JoinHandle<()>)>, BoxError> {
    let opened: Vec<_> = futures::stream::iter(users.iter().enumerate())
        .map(|(i, user)| {
            let mut stopped = stop.clone();
            async move {
                let until = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                listen(bench, user, until).await.map_err(|e| {
                    format!(
                        "socket {} of {} ({user}) did not open: {e}; {} sockets need about {} \
                         file descriptors in this process (the open-file limit: ulimit -n)",
                        i + 1,
                        users.len(),
                        users.len(),
                        2 * users.len() + 100
                    )
                })
            }
        })
        .buffered(32)
        .collect()
        .await;
    let opened = opened.into_iter().collect::<Result<Vec<_>, _>>()?;
    let open = bench.kit.stack.sockets.open();
    if open != users.len() {
        return Err(format!("{open} sockets open, not {}", users.len()).into());
    }
    Ok(opened)
}

/// Each of `users` applies to `job_id`, `in_flight` at a time. A 503 is sent again with
/// its `Idempotency-Key`, as a client does; any other answer but 201 fails the run.
/// Answers the application ids, in `users`' order.
async fn apply_all(
    api: &Api,
    job_id: &str,
    users: &[String],
    in_flight: usize,
) -> Result<Vec<String>, BoxError> {
    let path = format!("/jobs/{job_id}/applications");
    let replies: Vec<Result<String, BoxError>> = futures::stream::iter(users)
        .map(|user| {
            let path = &path;
            async move {
                let key = format!("scale-{user}");
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let (status, body, _) = api
                        .post_keyed(user, path, json!({"bid_cents": 500}), Some(&key))
                        .await?;
                    match status {
                        201 => {
                            return Ok(body["application_id"]
                                .as_str()
                                .ok_or("no application id")?
                                .to_owned());
                        }
                        503 if Instant::now() < deadline => {
                            tokio::time::sleep(Duration::from_millis(200)).await
                        }
                        other => return Err(format!("{user}'s application: {other}").into()),
                    }
                }
            }
        })
        .buffered(in_flight)
        .collect()
        .await;
    replies.into_iter().collect()
}

async fn post_job(api: &Api, owner: &str) -> Result<String, BoxError> {
    let (status, job) = api
        .post(
            owner,
            "/jobs",
            json!({"title": "Scale", "budget_cents": 1_000}),
        )
        .await?;
    match job["job_id"].as_str() {
        Some(id) if status == 201 => Ok(id.to_owned()),
        _ => Err(format!("posting a job answered {status}").into()),
    }
}

async fn inbox_size(bench: &Bench, user: &str) -> Result<usize, BoxError> {
    let user = UserId::parse(user).ok_or("a user id")?;
    bench
        .count(keys::user_pk(&user), keys::NOTIFICATION_SK_PREFIX, None)
        .await
}

/// Waits until `user`'s inbox holds `n` notifications: the pipe and the pollers have
/// delivered what the set-up announced, so a measurement that follows does not queue
/// behind it.
async fn settled(bench: &Bench, user: &str, n: usize) -> Result<(), BoxError> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let held = inbox_size(bench, user).await?;
        if held == n {
            return Ok(());
        }
        if held > n || Instant::now() > deadline {
            return Err(format!("{user}'s inbox holds {held}, not {n}").into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What a socket heard until `wanted` picked a message or `deadline` passed: all of it,
/// and when the wanted message arrived.
async fn heard_until(
    rx: &mut mpsc::UnboundedReceiver<Heard>,
    heard: &mut Vec<Heard>,
    wanted: impl Fn(&Value) -> bool,
    deadline: tokio::time::Instant,
) -> Option<Instant> {
    loop {
        if let Some((at, _)) = heard.iter().find(|(_, m)| wanted(m)) {
            return Some(*at);
        }
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(message)) => heard.push(message),
            Ok(None) | Err(_) => return None,
        }
    }
}

fn summary(name: &str, delays: &mut [Duration]) -> String {
    delays.sort();
    if delays.is_empty() {
        return format!("{name}: none");
    }
    format!(
        "{name}: p50={:.0}ms p99={:.0}ms last={:.0}ms",
        percentile(delays, 0.5),
        percentile(delays, 0.99),
        percentile(delays, 1.0)
    )
}

async fn reject(applicants: usize) -> Result<(), BoxError> {
    if applicants < 2 {
        return Err("push-scale reject needs at least two applicants".into());
    }
    let bench = setup(true, true).await?;
    let users: Vec<String> = (0..applicants).map(|u| format!("f{u}")).collect();
    let (stop, stopped) = watch::channel(false);
    let opened = open_sockets(&bench, &users, &stopped).await?;
    let job_id = post_job(&bench, "owner").await?;
    let applications = apply_all(&bench, &job_id, &users, 50).await?;
    settled(&bench, "owner", applicants).await?;

    let started = Instant::now();
    let (status, _) = bench
        .post(
            "owner",
            &format!("/jobs/{job_id}/hire"),
            json!({"application_id": applications[0]}),
        )
        .await?;
    let hired_at = Instant::now();
    if status != 200 {
        return Err(format!("the hire answered {status}").into());
    }
    let hire_took = hired_at - started;
    let deadline = tokio::time::Instant::from_std(hired_at + PUSH_TIMEOUT);

    // Every socket waits for its own message at once: one slow socket does not delay the
    // stamping of the others.
    let mut listened: Vec<(usize, Option<Instant>, Vec<Heard>, _, _)> =
        futures::future::join_all(opened.into_iter().enumerate().map(|(u, (mut rx, task))| {
            let job_id = &job_id;
            async move {
                let kind = if u == 0 {
                    "hired"
                } else {
                    "application_rejected"
                };
                let mut heard = Vec::new();
                let at = heard_until(
                    &mut rx,
                    &mut heard,
                    |m| notification_of(m, kind, job_id).is_some(),
                    deadline,
                )
                .await;
                (u, at, heard, rx, task)
            }
        }))
        .await;
    let all_heard = started.elapsed();
    tokio::time::sleep(AFTERWARDS).await;

    let mut wrong = Vec::new();
    let mut rejected_delays = Vec::with_capacity(applicants - 1);
    let mut hired_delay = None;
    for (u, at, heard, rx, _) in &mut listened {
        while let Ok(message) = rx.try_recv() {
            heard.push(message);
        }
        let expected = if *u == 0 {
            "hired"
        } else {
            "application_rejected"
        };
        match at {
            Some(at) if *u == 0 => hired_delay = Some(at.saturating_duration_since(hired_at)),
            // A push before the 200 was read would be a negative delay; it is kept as zero
            // and would show as a p50 of 0, not hidden.
            Some(at) => rejected_delays.push(at.saturating_duration_since(hired_at)),
            None => wrong.push(format!("f{u}: no {expected} after {PUSH_TIMEOUT:?}")),
        }
        let mut of_kind = 0;
        for (_, m) in heard.iter() {
            if notification_of(m, expected, &job_id).is_some() {
                of_kind += 1;
            } else if m["type"] != "pong" {
                wrong.push(format!("f{u} heard {m}"));
            }
        }
        if of_kind > 1 {
            wrong.push(format!("f{u}: {of_kind} pushes of {expected}"));
        }
    }
    let _ = stop.send(true);
    for (_, _, _, _, task) in listened {
        let _ = task.await;
    }
    let job = JobId::parse(&job_id).ok_or("a job id")?;
    let rejected_in_table = bench
        .count(
            keys::job_pk(job),
            keys::APPLICATION_SK_PREFIX,
            Some("rejected"),
        )
        .await?;

    println!(
        "push-scale reject: {applicants} connected applicants of one job; the hire answered 200 \
         in {:.0}ms; {} of {} application_rejected pushed, {}; winner's hired after {}; \
         hire sent → every push heard {:.2}s; {rejected_in_table} rejected in the table; wrong: {}",
        hire_took.as_secs_f64() * 1_000.0,
        rejected_delays.len(),
        applicants - 1,
        summary("hire's 200 → application_rejected", &mut rejected_delays),
        hired_delay.map_or("-".into(), |d| format!(
            "{:.0}ms",
            d.as_secs_f64() * 1_000.0
        )),
        all_heard.as_secs_f64(),
        wrong.len()
    );
    for line in wrong.iter().take(20) {
        println!("  {line}");
    }
    if !wrong.is_empty() || rejected_in_table != applicants - 1 {
        return Err(
            "pushes missing, repeated or unasked for, or rejections not in the table".into(),
        );
    }
    Ok(())
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A socket this bench both reads and writes (`push::listen` only listens).
async fn connect(api: &Api, user: &str) -> Result<Socket, BoxError> {
    let token = api.auth.mint(user, chrono::Duration::hours(1));
    let url = format!("{}/ws?token={token}", api.base.replacen("http", "ws", 1));
    Ok(tokio_tungstenite::connect_async(url).await?.0)
}

async fn send_sync(socket: &mut Socket, after: u64) -> Result<(), BoxError> {
    let sync = json!({"action": "sync", "after": after}).to_string();
    Ok(socket.send(Message::text(sync)).await?)
}

/// The next JSON message on `socket`, or an error once `SYNC_STALL` passes without one.
async fn next_message(socket: &mut Socket, last: u64) -> Result<Value, BoxError> {
    loop {
        match tokio::time::timeout(SYNC_STALL, socket.next()).await {
            Err(_) => {
                return Err(
                    format!("sync stalled after position {last} for {SYNC_STALL:?}").into(),
                );
            }
            Ok(None) => return Err(format!("socket closed after position {last}").into()),
            Ok(Some(message)) => match message? {
                Message::Text(text) => return Ok(serde_json::from_str(&text)?),
                Message::Close(_) => {
                    return Err(format!("socket closed after position {last}").into());
                }
                _ => {}
            },
        }
    }
}

/// One reconnect: syncs from position 0 until `n` have arrived, each exactly at the next
/// position. Answers the time from the first `sync` sent to the last notification heard,
/// and how many `sync`s it took (an answer `SERVICE_UNAVAILABLE` is synced again).
async fn sync_once(api: &Api, user: &str, n: u64) -> Result<(Duration, usize, usize), BoxError> {
    let mut socket = connect(api, user).await?;
    let started = Instant::now();
    let (mut last, mut in_batch, mut syncs, mut refused) = (0u64, 0usize, 1usize, 0usize);
    send_sync(&mut socket, last).await?;
    while last < n {
        let message = next_message(&mut socket, last).await?;
        match message["type"].as_str() {
            Some("notification") => {
                let position = message["notification"]["position"]
                    .as_u64()
                    .ok_or("a notification without a position")?;
                if position != last + 1 {
                    return Err(format!("position {position} heard after {last}").into());
                }
                last = position;
                in_batch += 1;
                if in_batch == SYNC_BATCH && last < n {
                    in_batch = 0;
                    syncs += 1;
                    send_sync(&mut socket, last).await?;
                }
            }
            Some("error") if message["code"] == "SERVICE_UNAVAILABLE" => {
                refused += 1;
                in_batch = 0;
                syncs += 1;
                send_sync(&mut socket, last).await?;
            }
            _ => return Err(format!("sync heard {message}").into()),
        }
    }
    let took = started.elapsed();
    // Anything after the last position is a repeat or a notification that does not exist.
    if let Ok(Some(extra)) = tokio::time::timeout(Duration::from_secs(1), socket.next()).await {
        return Err(format!("heard after position {n}: {extra:?}").into());
    }
    let _ = socket.close(None).await;
    Ok((took, syncs, refused))
}

async fn sync(notifications: usize, rounds: usize) -> Result<(), BoxError> {
    if notifications == 0 || rounds == 0 {
        return Err("push-scale sync needs notifications and rounds".into());
    }
    let bench = setup(true, true).await?;
    let job_id = post_job(&bench, "owner").await?;
    let users: Vec<String> = (0..notifications).map(|u| format!("f{u}")).collect();
    apply_all(&bench, &job_id, &users, 50).await?;
    settled(&bench, "owner", notifications).await?;

    let mut times = Vec::with_capacity(rounds);
    let (mut syncs, mut refused) = (0, 0);
    for _ in 0..rounds {
        let (took, s, r) = sync_once(&bench, "owner", notifications as u64).await?;
        times.push(took);
        (syncs, refused) = (s, refused + r);
    }
    let mut sorted = times.clone();
    sorted.sort();
    println!(
        "push-scale sync: {notifications} notifications after a reconnect, {rounds} reconnects, \
         {syncs} syncs each (at most {SYNC_BATCH} a sync, {refused} refused in all): \
         p50={:.0}ms max={:.0}ms ({:.0} notifications/s at the median); in order, no gap, no repeat",
        percentile(&sorted, 0.5),
        percentile(&sorted, 1.0),
        notifications as f64 / (percentile(&sorted, 0.5) / 1_000.0),
    );
    Ok(())
}

async fn notify(events: usize, connections: usize, recipients: usize) -> Result<(), BoxError> {
    if events == 0 || recipients == 0 {
        return Err("push-scale notify needs events and recipients".into());
    }
    // Nothing published nor pumped: the events stay in the outbox for this run to feed.
    let bench = setup(false, false).await?;
    let owners: Vec<String> = (0..recipients).map(|r| format!("o{r}")).collect();
    let mut applied = vec![0usize; recipients];
    for (r, owner) in owners.iter().enumerate() {
        let job_id = post_job(&bench, owner).await?;
        let users: Vec<String> = (r..events)
            .step_by(recipients)
            .map(|i| format!("f{i}"))
            .collect();
        applied[r] = users.len();
        apply_all(&bench, &job_id, &users, 50).await?;
    }
    let (stop, stopped) = watch::channel(false);
    let holders: Vec<String> = owners
        .iter()
        .flat_map(|o| std::iter::repeat_n(o.clone(), connections))
        .collect();
    let opened = open_sockets(&bench, &holders, &stopped).await?;

    let mut bodies: Vec<String> = Vec::new();
    for partition in keys::Due::Outbox.partitions(0) {
        let rows = bench
            .app
            .store
            .due::<shared::store::OutboxRow>(
                &partition,
                shared::time::now() + chrono::Duration::hours(1),
                (events + recipients) as u32 + 10,
                None,
            )
            .await?;
        // What the queue would carry to `notify`: its own deliveries, in the bus's
        // envelope (the `notify` benchmark's raw bodies no longer parse as messages).
        for row in rows.items {
            if row.consumer == shared::domain::Consumer::Notify {
                let detail: Value = serde_json::from_str(&row.body)?;
                let message = shared::bus::envelope(detail, shared::time::now());
                bodies.push(serde_json::to_string(&message)?);
            }
        }
    }
    let started = Instant::now();
    for batch in bodies.chunks(10) {
        let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
        for (i, body) in batch.iter().enumerate() {
            let mut m = aws_lambda_events::event::sqs::SqsMessage::default();
            m.message_id = Some(i.to_string());
            m.body = Some(body.clone());
            event.records.push(m);
        }
        let response = shared::handlers::notify(bench.app.clone(), event).await;
        if !response.batch_item_failures.is_empty() {
            return Err("a batch item failed".into());
        }
    }
    let elapsed = started.elapsed();

    let mut wrong = Vec::new();
    let mut held = HashMap::new();
    for (r, owner) in owners.iter().enumerate() {
        let size = inbox_size(&bench, owner).await?;
        if size != applied[r] {
            wrong.push(format!("{owner}'s inbox holds {size}, not {}", applied[r]));
        }
        held.insert(owner.clone(), size);
    }
    // `notify` awaits its pushes, but a socket reads them on its own task: give the last
    // ones a moment to be read before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop.send(true);
    let mut pushes = 0;
    for ((mut rx, task), owner) in opened.into_iter().zip(&holders) {
        let _ = task.await;
        let mut positions = Vec::new();
        while let Ok((_, m)) = rx.try_recv() {
            match m["notification"]["position"].as_u64() {
                Some(p) if m["type"] == "notification" => positions.push(p),
                _ if m["type"] == "pong" => {}
                _ => wrong.push(format!("{owner} heard {m}")),
            }
        }
        pushes += positions.len();
        positions.sort_unstable();
        if positions != (1..=held[owner] as u64).collect::<Vec<_>>() {
            wrong.push(format!(
                "a socket of {owner} heard {} pushes, not each of positions 1..={} once",
                positions.len(),
                held[owner]
            ));
        }
    }
    println!(
        "push-scale notify: {} events for {recipients} recipient(s), {connections} connection(s) \
         each, in batches of 10 in {:.2}s = {:.0} events/s; {pushes} pushes heard; wrong: {}",
        bodies.len(),
        elapsed.as_secs_f64(),
        bodies.len() as f64 / elapsed.as_secs_f64(),
        wrong.len()
    );
    for line in wrong.iter().take(20) {
        println!("  {line}");
    }
    if !wrong.is_empty() {
        return Err("an inbox or a socket did not get exactly its notifications".into());
    }
    Ok(())
}
