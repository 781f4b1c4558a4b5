//! Benchmarks of the local stack (not tests: they measure, and only fail on a wrong outcome).
//!
//!   cargo run --release -p local-gateway --example bench -- hire-race [N] [OPENINGS]
//!   cargo run --release -p local-gateway --example bench -- notify [EVENTS]
//!   cargo run --release -p local-gateway --example bench -- delay [HIRES]
//!   cargo run --release -p local-gateway --example bench -- sweep-reads [DISPATCHED] [DUE]
//!
//! Needs DYNAMODB_ENDPOINT and SQS_ENDPOINT (DynamoDB Local and the SQS emulator), as
//! `make test` provides them; see BENCHMARKS.md for how the figures were taken.

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures::future::join_all;
use local_gateway::auth::Auth;
use local_gateway::{LocalStack, Options};
use serde_json::{Value, json};
use shared::config::Config;
use shared::domain::{EventKind, JobId, OutboxEvent, UserId};
use shared::store::{OutboxRow, keys};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Bench {
    base: String,
    http: reqwest::Client,
    auth: Auth,
    app: shared::App,
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    _stack: LocalStack,
}

/// A fresh table and queue behind a gateway on a free port. With `publish` off, handlers
/// leave every event in the outbox, as when SQS is down.
async fn setup(publish: bool, pump: bool) -> Result<Bench, BoxError> {
    let table = format!(
        "bench-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    let config = Config {
        table_name: table.clone(),
        cursor_secret: "bench".into(),
        queue_url: None,
        redrive_delay: Duration::from_secs(60),
        release_window: chrono::Duration::days(Config::DEFAULT_RELEASE_WINDOW_DAYS),
    };
    let stack = LocalStack::start(Options {
        publish,
        pump,
        ..Options::new(
            std::env::var("DYNAMODB_ENDPOINT")?,
            std::env::var("SQS_ENDPOINT")?,
            config,
            Auth::new("bench-secret-that-is-at-least-32-bytes"),
        )?
    })
    .await?;
    Ok(Bench {
        base: format!("http://{}", stack.address),
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(2_000)
            .build()?,
        auth: stack.auth.clone(),
        app: stack.app.clone(),
        dynamo: stack.clients.dynamo.clone(),
        table,
        _stack: stack,
    })
}

impl Bench {
    async fn post(&self, user: &str, path: &str, body: Value) -> Result<(u16, Value), BoxError> {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.auth.mint(user, chrono::Duration::hours(1)))
            .json(&body)
            .send()
            .await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }

    async fn get(&self, user: &str, path: &str) -> Result<Value, BoxError> {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(self.auth.mint(user, chrono::Duration::hours(1)))
            .send()
            .await?;
        Ok(res.json().await?)
    }

    async fn job_with_applicants(
        &self,
        openings: u32,
        n: usize,
    ) -> Result<(String, Vec<String>), BoxError> {
        let (_, job) = self
            .post(
                "owner",
                "/jobs",
                json!({"title": "Bench", "budget_cents": 100_000, "openings": openings}),
            )
            .await?;
        let job_id = job["job_id"].as_str().ok_or("no job id")?.to_owned();
        let path = format!("/jobs/{job_id}/applications");
        let mut ids = Vec::with_capacity(n);
        for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
            let replies = join_all(chunk.iter().map(|i| {
                let (user, path) = (format!("f{i}"), &path);
                async move { self.post(&user, path, json!({"bid_cents": 1_000})).await }
            }))
            .await;
            for r in replies {
                let (_, body) = r?;
                ids.push(
                    body["application_id"]
                        .as_str()
                        .ok_or("apply failed")?
                        .to_owned(),
                );
            }
        }
        Ok((job_id, ids))
    }

    /// Items of a collection under `prefix`, with `status` when given.
    async fn count(
        &self,
        pk: String,
        prefix: &str,
        status: Option<&str>,
    ) -> Result<usize, BoxError> {
        let mut n = 0;
        let mut start = None;
        loop {
            let out = self
                .dynamo
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :p)")
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .expression_attribute_values(":p", AttributeValue::S(prefix.into()))
                .set_exclusive_start_key(start)
                .send()
                .await?;
            n += out
                .items()
                .iter()
                .filter(|i| {
                    status.is_none()
                        || i.get("status")
                            .and_then(|v| v.as_s().ok())
                            .map(String::as_str)
                            == status
                })
                .count();
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(n);
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1_000.0
}

async fn hire_race(n: usize, openings: u32) -> Result<(), BoxError> {
    let bench = setup(true, false).await?;
    let (job_id, applications) = bench.job_with_applicants(openings, n).await?;
    let path = format!("/jobs/{job_id}/hire");
    let started = Instant::now();
    let replies = join_all(applications.iter().map(|id| {
        let (bench, path) = (&bench, &path);
        async move {
            let t = Instant::now();
            let r = bench
                .post("owner", path, json!({"application_id": id}))
                .await;
            (r.map(|(s, _)| s).unwrap_or(0), t.elapsed())
        }
    }))
    .await;
    let wall = started.elapsed();
    let mut codes = BTreeMap::new();
    let mut latencies: Vec<Duration> = replies.iter().map(|(_, d)| *d).collect();
    latencies.sort();
    for (status, _) in &replies {
        *codes.entry(*status).or_insert(0) += 1;
    }
    let hired = bench
        .count(
            keys::job_pk(JobId::parse(&job_id).ok_or("id")?),
            "JOB#APP#",
            Some("hired"),
        )
        .await?;
    let winners = codes.get(&200).copied().unwrap_or(0);
    println!(
        "hire-race n={n} openings={openings}: winners={winners} codes={codes:?} p50={:.0}ms p99={:.0}ms max={:.0}ms wall={:.2}s hired_in_table={hired}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
        wall.as_secs_f64()
    );
    // Exactly `openings` hires in the table, whatever the answers. An answer is a win, a
    // lost race (409), or 503 when the engine's queue outlasted the Lambda's call budget: the
    // client may retry it, and it was never half done. Anything else is wrong.
    if winners > openings as usize
        || hired != openings as usize
        || codes.keys().any(|c| ![200, 409, 503].contains(c))
    {
        return Err("wrong outcome".into());
    }
    Ok(())
}

async fn notify_throughput(events: usize) -> Result<(), BoxError> {
    let bench = setup(false, false).await?;
    // Applications announce themselves to the owner: `events` outbox events, none sent.
    bench.job_with_applicants(1, events).await?;
    let mut bodies: Vec<String> = Vec::with_capacity(events);
    for partition in keys::Due::Outbox.partitions(0) {
        let rows = bench
            .app
            .store
            .due::<OutboxRow>(
                &partition,
                shared::time::now() + chrono::Duration::hours(1),
                events as u32 + 10,
                None,
            )
            .await?;
        bodies.extend(rows.items.into_iter().map(|r| r.body));
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
    let owner = UserId::parse("owner").ok_or("user")?;
    let delivered = bench.count(keys::user_pk(&owner), "NOTIF#", None).await?;
    println!(
        "notify: {} events in batches of 10 in {:.2}s = {:.0} notifications/s; inbox holds {delivered}",
        bodies.len(),
        elapsed.as_secs_f64(),
        bodies.len() as f64 / elapsed.as_secs_f64(),
    );
    if delivered != bodies.len() {
        return Err("not every event became one notification".into());
    }
    Ok(())
}

async fn delay(hires: usize) -> Result<(), BoxError> {
    let bench = setup(true, true).await?;
    let mut delays = Vec::with_capacity(hires);
    for i in 0..hires {
        let freelancer = format!("d{i}");
        let (_, job) = bench
            .post(
                "owner",
                "/jobs",
                json!({"title": "Delay", "budget_cents": 100}),
            )
            .await?;
        let job_id = job["job_id"].as_str().ok_or("job")?.to_owned();
        let (_, app) = bench
            .post(
                &freelancer,
                &format!("/jobs/{job_id}/applications"),
                json!({"bid_cents": 100}),
            )
            .await?;
        let application_id = app["application_id"].as_str().ok_or("app")?;
        let (status, _) = bench
            .post(
                "owner",
                &format!("/jobs/{job_id}/hire"),
                json!({"application_id": application_id}),
            )
            .await?;
        if status != 200 {
            return Err(format!("hire answered {status}").into());
        }
        let hired_at = Instant::now();
        loop {
            let inbox = bench.get(&freelancer, "/me/notifications").await?;
            if inbox["items"]
                .as_array()
                .is_some_and(|a| a.iter().any(|n| n["type"] == "hired"))
            {
                delays.push(hired_at.elapsed());
                break;
            }
            if hired_at.elapsed() > Duration::from_secs(30) {
                return Err("notification never arrived".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    delays.sort();
    println!(
        "delay hire→inbox over {hires} hires: p50={:.0}ms p99={:.0}ms max={:.0}ms",
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        percentile(&delays, 1.0)
    );
    Ok(())
}

async fn sweep_reads(dispatched: usize, due: usize) -> Result<(), BoxError> {
    let bench = setup(true, false).await?;
    let long_ago = shared::time::now() - chrono::Duration::hours(1);
    let mut requests = Vec::with_capacity(dispatched + due);
    for i in 0..dispatched + due {
        let event = OutboxEvent::new(
            EventKind::JobClosed {
                job_id: JobId::generate(),
                reason: shared::domain::CloseReason::Cancelled,
            },
            long_ago,
        );
        let row = OutboxRow::of(&event)?;
        let still_due = i < due;
        let item = serde_dynamo::to_item(keys::Row {
            pk: keys::outbox_pk(event.event_id),
            sk: keys::OUTBOX_SK.to_owned(),
            index: keys::IndexKeys {
                duepk: still_due.then(|| keys::Due::Outbox.pk(event.event_id)),
                duesk: still_due.then(|| keys::due_at(long_ago, event.event_id)),
                ..keys::IndexKeys::default()
            },
            body: &row,
        })?;
        requests.push(
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build()?)
                .build(),
        );
    }
    for chunk in requests.chunks(25) {
        let mut pending = Some(std::collections::HashMap::from([(
            bench.table.clone(),
            chunk.to_vec(),
        )]));
        while let Some(items) = pending.take().filter(|p| !p.is_empty()) {
            pending = bench
                .dynamo
                .batch_write_item()
                .set_request_items(Some(items))
                .send()
                .await?
                .unprocessed_items;
        }
    }
    let started = Instant::now();
    let report = shared::handlers::sweep(
        &bench.app,
        shared::time::now(),
        Instant::now() + Duration::from_secs(55),
    )
    .await?;
    println!(
        "sweep-reads: {dispatched} dispatched + {due} due outbox events: read={} redriven={} in {:.2}s",
        report.read,
        report.redriven,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("hire-race") => hire_race(arg(1, 1_000), arg(2, 1) as u32).await,
        Some("notify") => notify_throughput(arg(1, 1_000)).await,
        Some("delay") => delay(arg(1, 100)).await,
        Some("sweep-reads") => sweep_reads(arg(1, 10_000), arg(2, 100)).await,
        _ => Err("usage: bench hire-race|notify|delay|sweep-reads [args]".into()),
    }
}
