//! What a hiring flow costs: a job created, an application by another user, the hire, and
//! everything they set off after answering (the stream through the pipe to the queue,
//! `notify`, the sweeper).
//!
//! `flow-cpu CLIENTS FLOWS URL NAME=PID... [log=FILE]` drives a gateway that runs as a
//! process of its own (`local-gateway serve`) over HTTP, with tokens of the same secret
//! (`MARKETPLACE_LOCAL_JWT_SECRET`, as `local-gateway token`), and reads the CPU time each
//! named process and this client used from /proc, before and after, divided by the flows.
//! `flow-calls` (its own module) counts the AWS calls and request units of the same flows.

#[path = "flow/calls.rs"]
mod calls;

pub use calls::calls;

use super::{Api, BoxError};
use aws_sdk_sqs::types::QueueAttributeName;
use futures::future::join_all;
use local_gateway::auth::Auth;
use serde_json::{Value, json};
use shared::store::{OutboxRow, keys};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use test_kit::queue_count;

/// Flows run before measuring, at the same concurrency: DynamoDB Local's JVM compiles its
/// hot paths during the first thousands of requests, which is not what a flow costs.
const WARM_UP: usize = 200;

/// How long the processes are watched with nothing to do, for what polling costs alone.
const IDLE: Duration = Duration::from_secs(10);

/// How long the events queue must stay empty, nothing in flight, once no event is due: the
/// last batches' deletions are made by then.
const QUIET: Duration = Duration::from_millis(500);

/// Create → apply → hire; any answer but the expected one is an error (at these loads a
/// retryable 503 would be a finding, not noise to retry past).
pub async fn flow(api: &Api, owner: &str, freelancer: &str) -> Result<(), BoxError> {
    let step = |user: &str, path: String, body: Value, expected: u16| {
        let user = user.to_owned();
        async move {
            let (status, body) = api.post(&user, &path, body).await?;
            if status == expected {
                Ok::<_, BoxError>(body)
            } else {
                Err(format!("POST {path}: {status} {body}").into())
            }
        }
    };
    let job = step(
        owner,
        "/jobs".into(),
        json!({"title": "Flow", "budget_cents": 100_000}),
        201,
    )
    .await?;
    let job_id = job["job_id"].as_str().ok_or("no job id")?;
    let application = step(
        freelancer,
        format!("/jobs/{job_id}/applications"),
        json!({"bid_cents": 1_000}),
        201,
    )
    .await?;
    let application_id = application["application_id"]
        .as_str()
        .ok_or("no application id")?;
    step(
        owner,
        format!("/jobs/{job_id}/hire"),
        json!({"application_id": application_id}),
        200,
    )
    .await?;
    Ok(())
}

/// `flows` flows by `clients` clients at once, each client one flow after another as an
/// owner of its own, each flow a new freelancer; every name starts with `run`. Returns the
/// (owner, freelancer) of each flow.
pub async fn run(
    api: &Api,
    clients: usize,
    flows: usize,
    run: &str,
) -> Result<Vec<(String, String)>, BoxError> {
    run_with(api, clients, flows, run, |_, _| async { Ok(()) }).await
}

/// [`run`], with `before` awaited ahead of each flow, given its owner and freelancer.
pub async fn run_with<F, Fut>(
    api: &Api,
    clients: usize,
    flows: usize,
    run: &str,
    before: F,
) -> Result<Vec<(String, String)>, BoxError>
where
    F: Fn(String, String) -> Fut,
    Fut: std::future::Future<Output = Result<(), BoxError>>,
{
    let next = AtomicUsize::new(0);
    let before = &before;
    let per_client = join_all((0..clients).map(|c| {
        let next = &next;
        async move {
            let owner = format!("{run}-o{c}");
            let mut done = Vec::new();
            loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                if k >= flows {
                    return Ok::<_, BoxError>(done);
                }
                let freelancer = format!("{run}-f{k}");
                before(owner.clone(), freelancer.clone()).await?;
                flow(api, &owner, &freelancer).await?;
                done.push((owner.clone(), freelancer));
            }
        }
    }))
    .await;
    let mut all = Vec::with_capacity(flows);
    for done in per_client {
        all.extend(done?);
    }
    Ok(all)
}

/// A fresh prefix for a run's user names, so runs against one table never share an inbox.
pub fn run_name() -> String {
    ulid::Ulid::generate().to_string().to_lowercase()
}

/// Waits until what the flows set off is done: no outbox event due any more (each is
/// acknowledged once its consumer has applied it, and one the pipe has not forwarded yet is
/// still due), and the consumers' queues at `urls` empty, nothing in flight, for [`QUIET`].
/// Eight Queries of the due index a look, whatever the number of flows.
pub async fn settled(
    store: &shared::store::Store,
    sqs: &aws_sdk_sqs::Client,
    urls: &[&str],
) -> Result<(), BoxError> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut quiet_since: Option<Instant> = None;
    loop {
        let mut due = 0;
        let until = shared::time::now() + chrono::Duration::days(1);
        for partition in keys::Due::Outbox.partitions(0) {
            due += store
                .due::<OutboxRow>(&partition, until, 1, None)
                .await?
                .items
                .len();
        }
        let mut waiting = 0;
        for url in urls {
            waiting += queue_count(sqs, url, QueueAttributeName::ApproximateNumberOfMessages).await
                + queue_count(
                    sqs,
                    url,
                    QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                )
                .await;
        }
        match (due + waiting, quiet_since) {
            (0, Some(since)) if since.elapsed() >= QUIET => return Ok(()),
            (0, None) => quiet_since = Some(Instant::now()),
            (0, Some(_)) => {}
            _ => quiet_since = None,
        }
        if Instant::now() > deadline {
            return Err("the flows' events were never all applied".into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What is missing from the inboxes over HTTP: each owner an `application_received` for each
/// of their flows, each freelancer one `hired`.
async fn missing(api: &Api, flows: &[(String, String)]) -> Result<Vec<String>, BoxError> {
    let mut owners: BTreeMap<&str, usize> = BTreeMap::new();
    for (owner, _) in flows {
        *owners.entry(owner).or_default() += 1;
    }
    let mut missing = Vec::new();
    for (owner, expected) in owners {
        // Oldest first from a position: the catch-up read, one page of at most 100 a time.
        let (mut after, mut received) = (0, 0);
        loop {
            let page = api
                .get(owner, &format!("/me/notifications?after={after}&limit=100"))
                .await?;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            received += items
                .iter()
                .filter(|n| n["type"] == "application_received")
                .count();
            match items.last().and_then(|n| n["position"].as_u64()) {
                Some(last) if items.len() == 100 => after = last,
                _ => break,
            }
        }
        if received != expected {
            missing.push(format!(
                "{owner}: {received} application_received of {expected}"
            ));
        }
    }
    for (_, freelancer) in flows {
        let inbox = api.get(freelancer, "/me/notifications").await?;
        let hired = inbox["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["type"] == "hired")
            .count();
        if hired != 1 {
            missing.push(format!("{freelancer}: {hired} hired"));
        }
    }
    Ok(missing)
}

/// A process whose CPU time is read, by the name it is reported under.
struct Watched {
    name: String,
    pid: u32,
}

/// utime + stime of `pid` so far, every thread's (live or ended) included, in clock ticks.
fn ticks(pid: u32) -> Result<u64, BoxError> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name, in parentheses, may hold spaces: the fields start after its end.
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .ok_or("an unreadable /proc stat")?
        .1
        .split(' ')
        .collect();
    // Fields 14 and 15 of proc(5), counting the pid as 1 and the name as 2.
    Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
}

fn ticks_per_second() -> Result<f64, BoxError> {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()?;
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// CPU ticks of every watched process, in order.
fn sample(watched: &[Watched]) -> Result<Vec<u64>, BoxError> {
    watched.iter().map(|w| ticks(w.pid)).collect()
}

/// Lines and bytes of a log, by the `message` of each line.
type ByMessage = BTreeMap<String, (usize, usize)>;

/// The lines a log gained while it grew from `from` to `to` bytes.
fn log_lines(path: &str, from: u64, to: u64) -> Result<ByMessage, BoxError> {
    let text = std::fs::read(path)?;
    let mut by_message = ByMessage::new();
    for line in text[from as usize..to as usize].split(|b| *b == b'\n') {
        if line.is_empty() {
            continue;
        }
        let message = serde_json::from_slice::<Value>(line)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "(not a JSON log line)".to_owned());
        let entry = by_message.entry(message).or_default();
        entry.0 += 1;
        entry.1 += line.len() + 1;
    }
    Ok(by_message)
}

pub async fn cpu(clients: usize, flows: usize, args: &[String]) -> Result<(), BoxError> {
    let usage = "flow-cpu CLIENTS FLOWS URL NAME=PID... [log=FILE]";
    let url = args.first().ok_or(usage)?.trim_end_matches('/').to_owned();
    let mut watched = Vec::new();
    let mut log = None;
    for arg in &args[1..] {
        match arg.split_once('=') {
            Some(("log", path)) => log = Some(path.to_owned()),
            Some((name, pid)) => watched.push(Watched {
                name: name.to_owned(),
                pid: pid.parse()?,
            }),
            None => return Err(usage.into()),
        }
    }
    watched.push(Watched {
        name: "client (this bench)".into(),
        pid: std::process::id(),
    });
    let hz = ticks_per_second()?;
    let api = Api::new(url.clone(), Auth::from_env())?;
    let health: Value = api
        .http
        .get(format!("{url}/_local/health"))
        .send()
        .await?
        .json()
        .await?;
    let table = health["table"]
        .as_str()
        .ok_or("the gateway is not healthy")?;
    let sqs = aws_sdk_sqs::Client::new(&shared::app::local_sdk_config(&std::env::var(
        "SQS_ENDPOINT",
    )?));
    let queue = sqs
        .get_queue_url()
        .queue_name(local_gateway::resources::queue_name(table, "NotifyQueue"))
        .send()
        .await?
        .queue_url
        .ok_or("no notify queue")?;
    let store = shared::store::Store::new(
        aws_sdk_dynamodb::Client::new(&shared::app::local_sdk_config(&std::env::var(
            "DYNAMODB_ENDPOINT",
        )?)),
        table,
    );

    run(&api, clients, WARM_UP, &run_name()).await?;
    settled(&store, &sqs, &[&queue]).await?;

    let idle_from = sample(&watched)?;
    tokio::time::sleep(IDLE).await;
    let idle = sample(&watched)?;

    let load_before = load_average();
    let log_length = || -> Result<u64, BoxError> {
        Ok(match &log {
            Some(path) => std::fs::metadata(path)?.len(),
            None => 0,
        })
    };
    let log_from = log_length()?;
    let before = sample(&watched)?;
    let started = Instant::now();
    let done = run(&api, clients, flows, &run_name()).await?;
    let requests = started.elapsed();
    settled(&store, &sqs, &[&queue]).await?;
    let after = sample(&watched)?;
    let log_to = log_length()?;
    let window = started.elapsed();
    let load_after = load_average();

    let missing = missing(&api, &done).await?;
    println!(
        "flow-cpu: {clients} clients, {flows} flows (after {WARM_UP} to warm up) in {:.1} s, all delivered {:.1} s after the first request; load average {load_before} before, {load_after} after; {hz} ticks a second",
        requests.as_secs_f64(),
        window.as_secs_f64(),
    );
    println!(
        "\n| process | CPU per flow | share | idle CPU per second (before) | CPU per flow beyond idle |"
    );
    println!("|---|---|---|---|---|");
    let per_flow: Vec<f64> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| (a - b) as f64 / hz * 1e3 / flows as f64)
        .collect();
    let total: f64 = per_flow.iter().sum();
    for (i, w) in watched.iter().enumerate() {
        let idle_ms = (idle[i] - idle_from[i]) as f64 / hz * 1e3 / IDLE.as_secs_f64();
        let beyond = per_flow[i] - idle_ms * window.as_secs_f64() / flows as f64;
        println!(
            "| {} (pid {}) | {:.2} ms | {:.0} % | {:.1} ms | {:.2} ms |",
            w.name,
            w.pid,
            per_flow[i],
            100.0 * per_flow[i] / total,
            idle_ms,
            beyond
        );
    }
    println!("| all | {total:.2} ms | 100 % | | |");
    if let Some(path) = &log {
        let lines = log_lines(path, log_from, log_to)?;
        let (n, bytes) = lines
            .values()
            .fold((0, 0), |(n, b), (ln, lb)| (n + ln, b + lb));
        println!(
            "\nthe gateway's log meanwhile: {:.2} lines, {:.0} bytes per flow",
            n as f64 / flows as f64,
            bytes as f64 / flows as f64
        );
        for (message, (n, bytes)) in &lines {
            println!(
                "  {:.3} lines, {:.0} bytes per flow: {message}",
                *n as f64 / flows as f64,
                *bytes as f64 / flows as f64
            );
        }
    }
    if !missing.is_empty() {
        for line in missing.iter().take(20) {
            println!("  missing: {line}");
        }
        return Err(format!("{} inboxes incomplete once no event was due", missing.len()).into());
    }
    Ok(())
}
