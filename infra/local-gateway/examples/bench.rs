//! Benchmarks of the local stack (not tests: they measure, and only fail on a wrong outcome).
//!
//!   cargo run --release -p local-gateway --example bench -- hire-race [N] [OPENINGS]
//!   cargo run --release -p local-gateway --example bench -- notify [EVENTS]
//!   cargo run --release -p local-gateway --example bench -- delay [HIRES]
//!   cargo run --release -p local-gateway --example bench -- push-delay [HIRES] [USERS]
//!   cargo run --release -p local-gateway --example bench -- push-scale reject|sync|notify [args]
//!   cargo run --release -p local-gateway --example bench -- sweep-reads [DISPATCHED] [DUE]
//!   cargo run --release -p local-gateway --example bench -- load [CLIENTS] [ROUNDS] [FLOWS]
//!   cargo run --release -p local-gateway --example bench -- hire-overhead [HIRES]
//!   cargo run --release -p local-gateway --example bench -- engine-race [N] [ROUNDS]
//!   cargo run --release -p local-gateway --example bench -- idempotency [REQUESTS]
//!   cargo run --release -p local-gateway --example bench -- apply-burst [APPLICANTS] [IN_FLIGHT] [JOBS]
//!   cargo run --release -p local-gateway --example bench -- flow-calls [CLIENTS] [FLOWS] [offline]
//!   cargo run --release -p local-gateway --example bench -- flow-cpu CLIENTS FLOWS URL NAME=PID...
//!
//! Needs DYNAMODB_ENDPOINT and SQS_ENDPOINT (DynamoDB Local and the SQS emulator), as
//! `make test` provides them; see BENCHMARKS.md for how the figures were taken.

#[path = "bench/flow.rs"]
mod flow;

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, PutRequest, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, WriteRequest,
};
use aws_sdk_sqs::types::QueueAttributeName;
use futures::future::join_all;
use local_gateway::auth::Auth;
use local_gateway::{LocalStack, Options};
use serde_json::{Value, json};
use shared::config::Config;
use shared::domain::{Consumer, ContractId, EventId, EventKind, JobId, OutboxEvent, UserId};
use shared::store::{OutboxRow, keys};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "bench/burst.rs"]
mod burst;
#[path = "bench/push.rs"]
mod push;
#[path = "bench/scale.rs"]
mod scale;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The API over HTTP, as a client sees it: a gateway's address and tokens it accepts.
struct Api {
    base: String,
    http: reqwest::Client,
    auth: Auth,
}

struct Bench {
    api: Api,
    app: shared::App,
    dynamo: aws_sdk_dynamodb::Client,
    /// A client without timeouts, for counting what is in the table: after a race, calls
    /// that timed out are still queued in the one DynamoDB Local, and a count waits its turn
    /// rather than timing out behind them.
    patient: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    table: String,
    stack: LocalStack,
}

impl std::ops::Deref for Bench {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// A fresh table and queue behind a gateway on a free port. With `publish` off, handlers
/// leave every event in the outbox, as when SQS is down.
async fn setup(publish: bool, pump: bool) -> Result<Bench, BoxError> {
    setup_with(|o| {
        o.publish = publish;
        o.pump = pump;
        // Delivered as `make dev` delivers: the pipe forwards the stream to the queue.
        o.pipe = pump;
    })
    .await
}

async fn setup_with(adjust: impl FnOnce(&mut Options)) -> Result<Bench, BoxError> {
    let table = format!(
        "bench-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    let config = Config {
        table_name: table.clone(),
        cursor_secret: "bench".into(),
        queue_urls: Default::default(),
        redrive_delay: Duration::from_secs(60),
        release_window: chrono::Duration::days(Config::DEFAULT_RELEASE_WINDOW_DAYS),
        connections_endpoint: None,
    };
    let mut options = Options::new(
        std::env::var("DYNAMODB_ENDPOINT")?,
        std::env::var("SQS_ENDPOINT")?,
        config,
        Auth::new("bench-secret-that-is-at-least-32-bytes"),
    )?;
    adjust(&mut options);
    let stack = LocalStack::start(options).await?;
    Ok(Bench {
        api: Api::new(format!("http://{}", stack.address), stack.auth.clone())?,
        app: stack.app.clone(),
        dynamo: stack.clients.dynamo.clone(),
        patient: aws_sdk_dynamodb::Client::new(&shared::app::local_sdk_config(&std::env::var(
            "DYNAMODB_ENDPOINT",
        )?)),
        sqs: stack.clients.sqs.clone(),
        queue_url: stack.queues[&Consumer::Notify].url.clone(),
        table,
        stack,
    })
}

impl Api {
    fn new(base: String, auth: Auth) -> Result<Self, BoxError> {
        Ok(Self {
            base,
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(2_000)
                .build()?,
            auth,
        })
    }

    async fn post(&self, user: &str, path: &str, body: Value) -> Result<(u16, Value), BoxError> {
        let (status, body, _) = self.post_keyed(user, path, body, None).await?;
        Ok((status, body))
    }

    /// A POST, with an `Idempotency-Key` if `key` is given: its status, body and whether it
    /// was a replay.
    async fn post_keyed(
        &self,
        user: &str,
        path: &str,
        body: Value,
        key: Option<&str>,
    ) -> Result<(u16, Value, bool), BoxError> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.auth.mint(user, chrono::Duration::hours(1)))
            .json(&body);
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        let replayed = res.headers().get("idempotent-replayed").is_some();
        Ok((status, res.json().await.unwrap_or(Value::Null), replayed))
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
}

impl Bench {
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
        self.count_where(pk, prefix, status.map(|s| ("status", s)))
            .await
    }

    /// Items of a collection under `prefix` whose `attribute` is `value`, when given.
    async fn count_where(
        &self,
        pk: String,
        prefix: &str,
        filter: Option<(&str, &str)>,
    ) -> Result<usize, BoxError> {
        let mut n = 0;
        let mut start = None;
        loop {
            let out = self
                .patient
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
                    filter.is_none_or(|(attribute, value)| {
                        i.get(attribute)
                            .and_then(|v| v.as_s().ok())
                            .map(String::as_str)
                            == Some(value)
                    })
                })
                .count();
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(n);
            }
        }
    }

    /// Visible messages waiting in the events queue.
    async fn backlog(&self) -> Result<usize, BoxError> {
        self.queue_attribute(QueueAttributeName::ApproximateNumberOfMessages)
            .await
    }

    /// Messages received and neither deleted nor visible again yet.
    async fn in_flight(&self) -> Result<usize, BoxError> {
        self.queue_attribute(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .await
    }

    async fn queue_attribute(&self, name: QueueAttributeName) -> Result<usize, BoxError> {
        queue_attribute(&self.sqs, &self.queue_url, name).await
    }
}

/// A count the queue at `url` reports of itself.
async fn queue_attribute(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    name: QueueAttributeName,
) -> Result<usize, BoxError> {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await?
        .attributes
        .unwrap_or_default();
    Ok(attributes
        .get(&name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
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
            keys::APPLICATION_SK_PREFIX,
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
    let delivered = bench
        .count(keys::user_pk(&owner), keys::NOTIFICATION_SK_PREFIX, None)
        .await?;
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
        let delivery = event
            .deliveries()
            .next()
            .ok_or("an event without consumers")?;
        let row = OutboxRow::of(&delivery)?;
        let still_due = i < due;
        let item = serde_dynamo::to_item(keys::Row {
            pk: keys::outbox_pk(event.event_id),
            sk: keys::outbox_sk(row.consumer),
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

/// What one round of the load benchmark saw.
#[derive(Default)]
struct Round {
    /// Every request's latency, whatever its answer.
    latencies: Vec<Duration>,
    completed: usize,
    /// Flows given up on a retryable 503.
    abandoned: usize,
    wall: Duration,
    backlog_max: usize,
    backlog_end: usize,
    /// From a sampled hire's 200 to its `hired` notification in the freelancer's inbox.
    delays: Vec<Duration>,
}

struct Load {
    bench: Bench,
    rounds: Vec<Mutex<Round>>,
    /// Answers wrong under any load: neither the one expected nor a retryable 503.
    wrong: Mutex<Vec<String>>,
    /// Freelancers whose hire answered 200: each must end with a `hired` notification.
    hired: Mutex<Vec<String>>,
    /// Applications answered 201, by owner: each must end as an `application_received`.
    applied: Mutex<BTreeMap<String, usize>>,
    backlog_max: AtomicUsize,
    samplers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// One hire in this many has its hire-to-inbox delay sampled: the polling is extra load.
const DELAY_SAMPLE: usize = 10;

impl Load {
    /// A request of a flow; `None` ends the flow (a retryable 503, or a wrong answer).
    async fn step(
        &self,
        round: usize,
        user: &str,
        path: &str,
        body: Value,
        expected: u16,
    ) -> Option<Value> {
        let started = Instant::now();
        let reply = self.bench.post(user, path, body).await;
        self.rounds[round]
            .lock()
            .unwrap()
            .latencies
            .push(started.elapsed());
        match reply {
            Ok((status, body)) if status == expected => Some(body),
            Ok((503, _)) => {
                self.rounds[round].lock().unwrap().abandoned += 1;
                None
            }
            Ok((status, body)) => {
                let what = format!("POST {path}: {status} {body}");
                self.wrong.lock().unwrap().push(what);
                None
            }
            Err(e) => {
                self.wrong.lock().unwrap().push(format!("POST {path}: {e}"));
                None
            }
        }
    }

    /// Create → apply → hire; `owner` posts, `freelancer` applies and is hired.
    async fn flow(self: &Arc<Self>, round: usize, owner: &str, freelancer: &str, sample: bool) {
        let job = self
            .step(
                round,
                owner,
                "/jobs",
                json!({"title": "Load", "budget_cents": 100_000}),
                201,
            )
            .await;
        let Some(job_id) = job.and_then(|j| j["job_id"].as_str().map(str::to_owned)) else {
            return;
        };
        let application = self
            .step(
                round,
                freelancer,
                &format!("/jobs/{job_id}/applications"),
                json!({"bid_cents": 1_000}),
                201,
            )
            .await;
        let Some(application_id) =
            application.and_then(|a| a["application_id"].as_str().map(str::to_owned))
        else {
            return;
        };
        *self
            .applied
            .lock()
            .unwrap()
            .entry(owner.to_owned())
            .or_default() += 1;
        let hire = self
            .step(
                round,
                owner,
                &format!("/jobs/{job_id}/hire"),
                json!({"application_id": application_id}),
                200,
            )
            .await;
        if hire.is_none() {
            return;
        }
        let hired_at = Instant::now();
        self.hired.lock().unwrap().push(freelancer.to_owned());
        self.rounds[round].lock().unwrap().completed += 1;
        if sample {
            let (load, freelancer) = (self.clone(), freelancer.to_owned());
            let sampler = tokio::spawn(async move {
                load.sample_delay(round, &freelancer, hired_at).await;
            });
            self.samplers.lock().unwrap().push(sampler);
        }
    }

    /// Polls the freelancer's inbox every tenth of the time waited so far (at least 5 ms):
    /// within 10% however long the queue makes it, without a poll every few ms for a backlog.
    async fn sample_delay(&self, round: usize, freelancer: &str, hired_at: Instant) {
        while hired_at.elapsed() < Duration::from_secs(600) {
            if let Ok(inbox) = self.bench.get(freelancer, "/me/notifications").await
                && inbox["items"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|n| n["type"] == "hired"))
            {
                let delay = hired_at.elapsed();
                self.rounds[round].lock().unwrap().delays.push(delay);
                return;
            }
            let wait = (hired_at.elapsed() / 10).max(Duration::from_millis(5));
            tokio::time::sleep(wait).await;
        }
    }
}

fn ms(latencies: &[Duration], p: f64) -> String {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        "-".into()
    } else {
        format!("{:.0}ms", percentile(&sorted, p))
    }
}

/// `clients` clients, each running create → apply → hire flows one after another, until a
/// round's `flows` are done; `rounds` rounds back to back. The stack runs as `make dev`
/// runs it: the pipe forwarding the stream, the queue fed to `notify` in the background,
/// the sweeper every 10 s.
async fn load(clients: usize, rounds: usize, flows: usize) -> Result<(), BoxError> {
    let bench = setup_with(|o| {
        o.pump = true;
        o.pipe = true;
        o.sweep_every = Some(Duration::from_secs(10));
        o.config.redrive_delay = Duration::from_secs(30);
    })
    .await?;
    let load = Arc::new(Load {
        bench,
        rounds: (0..rounds).map(|_| Mutex::default()).collect(),
        wrong: Mutex::default(),
        hired: Mutex::default(),
        applied: Mutex::default(),
        backlog_max: AtomicUsize::new(0),
        samplers: Mutex::default(),
    });
    let watcher = {
        let load = load.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(n) = load.bench.backlog().await {
                    load.backlog_max.fetch_max(n, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    for round in 0..rounds {
        load.backlog_max.store(0, Ordering::SeqCst);
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let workers: Vec<_> = (0..clients)
            .map(|client| {
                let (load, next) = (load.clone(), next.clone());
                tokio::spawn(async move {
                    let owner = format!("owner{client}");
                    loop {
                        let k = next.fetch_add(1, Ordering::SeqCst);
                        if k >= flows {
                            return;
                        }
                        let freelancer = format!("r{round}f{k}");
                        load.flow(round, &owner, &freelancer, k % DELAY_SAMPLE == 0)
                            .await;
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await?;
        }
        let wall = started.elapsed();
        let backlog_end = load.bench.backlog().await?;
        let mut r = load.rounds[round].lock().unwrap();
        r.wall = wall;
        r.backlog_end = backlog_end;
        r.backlog_max = load.backlog_max.load(Ordering::SeqCst).max(backlog_end);
        println!(
            "round {}: {} flows in {:.1}s = {:.1} flows/s, {} abandoned on 503; requests p50={} p99={}; backlog max={} at the end={}",
            round + 1,
            r.completed,
            wall.as_secs_f64(),
            r.completed as f64 / wall.as_secs_f64(),
            r.abandoned,
            ms(&r.latencies, 0.5),
            ms(&r.latencies, 0.99),
            r.backlog_max,
            r.backlog_end,
        );
    }
    watcher.abort();

    let drain_started = Instant::now();
    let samplers = std::mem::take(&mut *load.samplers.lock().unwrap());
    for sampler in samplers {
        sampler.await?;
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while load.bench.backlog().await? > 0 || load.bench.in_flight().await? > 0 {
        if Instant::now() > deadline {
            return Err("the queue never drained".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "queue drained {:.1}s after the last round",
        drain_started.elapsed().as_secs_f64()
    );
    for (round, r) in load.rounds.iter().enumerate() {
        let r = r.lock().unwrap();
        let n = r.delays.len();
        println!(
            "round {}: hire→inbox over {n} sampled hires: p50={} p99={} max={}",
            round + 1,
            ms(&r.delays, 0.5),
            ms(&r.delays, 0.99),
            ms(&r.delays, 1.0),
        );
    }

    let mut missing = Vec::new();
    let hired = load.hired.lock().unwrap().clone();
    for freelancer in &hired {
        let user = UserId::parse(freelancer).ok_or("user")?;
        let n = load
            .bench
            .count_where(
                keys::user_pk(&user),
                keys::NOTIFICATION_SK_PREFIX,
                Some(("type", "hired")),
            )
            .await?;
        if n != 1 {
            missing.push(format!("{freelancer}: {n} hired notifications"));
        }
    }
    let applied = load.applied.lock().unwrap().clone();
    for (owner, expected) in &applied {
        let user = UserId::parse(owner).ok_or("user")?;
        let n = load
            .bench
            .count_where(
                keys::user_pk(&user),
                keys::NOTIFICATION_SK_PREFIX,
                Some(("type", "application_received")),
            )
            .await?;
        if n != *expected {
            missing.push(format!("{owner}: {n} application_received of {expected}"));
        }
    }
    let wrong = load.wrong.lock().unwrap().clone();
    println!(
        "outcome: {} hires; inboxes missing a notification: {}; wrong answers: {}",
        hired.len(),
        missing.len(),
        wrong.len()
    );
    for line in wrong.iter().chain(&missing).take(20) {
        println!("  {line}");
    }
    if !wrong.is_empty() || !missing.is_empty() {
        return Err("wrong outcome".into());
    }
    Ok(())
}

/// `bench hire-overhead N`: N hires one after another through the local gateway, with the
/// queue pumped as `make dev` does, against the calls a hire needs (its one read, then its
/// one transaction) made straight on the same DynamoDB Local through the store. Each pair
/// runs back to back on fresh one-application jobs, so both see the same machine.
async fn hire_overhead(hires: usize) -> Result<(), BoxError> {
    let bench = setup_with(|o| {
        o.pump = true;
        o.pipe = true;
    })
    .await?;
    let owner = UserId::parse("owner").ok_or("user")?;
    let (mut gateway, mut direct) = (Vec::with_capacity(hires), Vec::with_capacity(hires));
    for _ in 0..hires {
        let (job_id, applications) = bench.job_with_applicants(1, 1).await?;
        let path = format!("/jobs/{job_id}/hire");
        let started = Instant::now();
        let (status, _) = bench
            .post("owner", &path, json!({"application_id": applications[0]}))
            .await?;
        gateway.push(started.elapsed());
        if status != 200 {
            return Err(format!("hire through the gateway answered {status}").into());
        }

        let (job_id, applications) = bench.job_with_applicants(1, 1).await?;
        let (job_id, application_id) = (
            JobId::parse(&job_id).ok_or("job id")?,
            shared::domain::ApplicationId::parse(&applications[0]).ok_or("application id")?,
        );
        let started = Instant::now();
        let (job, application) = bench
            .app
            .store
            .job_and_application(job_id, application_id)
            .await?;
        let hire = shared::domain::transitions::Hire {
            job: job.ok_or("no job")?,
            application: application.ok_or("no application")?,
            caller: owner.clone(),
        };
        bench.app.store.run(hire).await?;
        direct.push(started.elapsed());
    }
    gateway.sort();
    direct.sort();
    let ratio = |p| percentile(&gateway, p) / percentile(&direct, p);
    println!(
        "hire-overhead over {hires} hires: gateway p50={:.2}ms p99={:.2}ms, direct p50={:.2}ms p99={:.2}ms, ratio p50={:.2} p99={:.2}",
        percentile(&gateway, 0.5),
        percentile(&gateway, 0.99),
        percentile(&direct, 0.5),
        percentile(&direct, 0.99),
        ratio(0.5),
        ratio(0.99),
    );
    Ok(())
}

/// DynamoDB Local alone, in the hire race's shape and without the product's code: `n`
/// clients at once, each reading a job and its application in one BatchGetItem and then
/// sending `rounds` TransactWriteItems of a hire's seven items whose job condition fails (a
/// losing hire's transaction), one after another. The client has no timeouts, so each call
/// takes what the engine makes it wait; the counts say how many would have outlasted the
/// functions' 0.8 s attempt and 2.5 s call.
async fn engine_race(n: usize, rounds: usize) -> Result<(), BoxError> {
    let bench = setup(false, false).await?;
    let (job_id, applications) = bench.job_with_applicants(3, n).await?;
    let job_id = JobId::parse(&job_id).ok_or("job id")?;
    let job_pk = keys::job_pk(job_id);
    // The store's own read, over the client without timeouts.
    let store = shared::store::Store::new(bench.patient.clone(), bench.table.as_str());
    let key = |pk: String, sk: &str| {
        HashMap::from([
            (keys::PK.to_owned(), AttributeValue::S(pk)),
            (keys::SK.to_owned(), AttributeValue::S(sk.to_owned())),
        ])
    };
    let started = Instant::now();
    let calls = join_all(applications.iter().map(|application| {
        let (client, store, job_pk, table) = (&bench.patient, &store, &job_pk, &bench.table);
        let application_id =
            shared::domain::ApplicationId::parse(application).expect("an application id");
        let application_sk = keys::application_sk(application_id);
        async move {
            let mut reads = Vec::new();
            let mut writes = Vec::new();
            let t = Instant::now();
            let read = store.job_and_application(job_id, application_id).await;
            reads.push(t.elapsed());
            read?;
            for _ in 0..rounds {
                let put = |pk: String, sk: &str| -> Result<TransactWriteItem, BoxError> {
                    Ok(TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .table_name(table.as_str())
                                .set_item(Some(key(pk, sk)))
                                .condition_expression("attribute_not_exists(PK)")
                                .build()?,
                        )
                        .build())
                };
                let check = |sk: &str, condition: &str| -> Result<TransactWriteItem, BoxError> {
                    Ok(TransactWriteItem::builder()
                        .condition_check(
                            ConditionCheck::builder()
                                .table_name(table.as_str())
                                .set_key(Some(key(job_pk.clone(), sk)))
                                .condition_expression(condition)
                                .expression_attribute_values(":v", AttributeValue::N("0".into()))
                                .return_values_on_condition_check_failure(
                                    ReturnValuesOnConditionCheckFailure::AllOld,
                                )
                                .build()?,
                        )
                        .build())
                };
                let contract = ContractId::generate();
                let party = |name: &str| keys::user_pk(&UserId::parse(name).expect("a user"));
                let items = vec![
                    check(keys::JOB_SK, "version = :v")?,
                    check(&application_sk, "attribute_exists(PK) OR version = :v")?,
                    put(keys::contract_pk(contract), keys::CONTRACT_SK)?,
                    put(party("owner"), &keys::contract_link_sk(contract))?,
                    put(party("f0"), &keys::contract_link_sk(contract))?,
                    put(job_pk.clone(), &keys::event_sk(EventId::generate()))?,
                    put(
                        keys::outbox_pk(EventId::generate()),
                        &keys::outbox_sk(Consumer::Notify),
                    )?,
                ];
                let t = Instant::now();
                let sent = client
                    .transact_write_items()
                    .set_transact_items(Some(items))
                    .send()
                    .await;
                writes.push(t.elapsed());
                if sent.is_ok() {
                    return Err::<_, BoxError>("a losing transaction committed".into());
                }
            }
            Ok((reads, writes))
        }
    }))
    .await;
    let wall = started.elapsed();
    let (mut reads, mut writes) = (Vec::new(), Vec::new());
    for call in calls {
        let (r, w) = call?;
        reads.extend(r);
        writes.extend(w);
    }
    for (name, latencies) in [
        ("BatchGetItem", &mut reads),
        ("TransactWriteItems", &mut writes),
    ] {
        latencies.sort();
        let over = |limit: u64| {
            latencies
                .iter()
                .filter(|d| **d > Duration::from_millis(limit))
                .count()
        };
        println!(
            "engine-race n={n} rounds={rounds} {name}: calls={} p50={:.0}ms p99={:.0}ms max={:.0}ms over_0.8s={} over_2.5s={}",
            latencies.len(),
            percentile(latencies, 0.5),
            percentile(latencies, 0.99),
            percentile(latencies, 1.0),
            over(800),
            over(2_500),
        );
    }
    println!(
        "engine-race n={n} rounds={rounds}: wall={:.2}s, {:.0} calls/s",
        wall.as_secs_f64(),
        (reads.len() + writes.len()) as f64 / wall.as_secs_f64()
    );
    Ok(())
}

/// `POST /jobs` with an `Idempotency-Key` against the same POST without one, and the replay
/// of the keyed one, interleaved one after another so that the three share the machine's
/// noise: latency, and the write units each costs.
async fn idempotency(requests: usize) -> Result<(), BoxError> {
    let bench = setup_with(|o| o.stream = false).await?;
    let body = json!({"title": "Bench", "budget_cents": 10_000});
    let kinds = ["without a key", "with a key", "its replay"];
    let mut latencies: [Vec<Duration>; 3] = Default::default();
    for i in 0..requests {
        let key = format!("bench-{i}");
        for (kind, key) in [None, Some(key.as_str()), Some(key.as_str())]
            .into_iter()
            .enumerate()
        {
            let started = Instant::now();
            let (status, _, replayed) = bench
                .post_keyed("owner", "/jobs", body.clone(), key)
                .await?;
            latencies[kind].push(started.elapsed());
            if status != 201 || replayed != (kind == 2) {
                return Err(format!("{}: {status}, replayed {replayed}", kinds[kind]).into());
            }
        }
    }
    // What each kind of item costs to write in a transaction, by DynamoDB's rule (2 write
    // units per KB or part of one), from the items as the table holds them: DynamoDB Local
    // reports a transaction's capacity from its first item only (probed: 2.0 units for one
    // to four 100-byte puts), and asking it for that slows its transactions down.
    let mut wcu: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for item in audit::read_table(&bench.dynamo, &bench.table, 2).await? {
        let text = |k: &str| {
            item.get(k)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        let kind = match (text(keys::PK), text(keys::SK)) {
            (_, sk) if sk == keys::JOB_SK => "job",
            (_, sk) if sk.starts_with(keys::EVENT_SK_PREFIX) => "audit record",
            (pk, _) if pk.starts_with(keys::IDEMPOTENCY_PREFIX) => "idempotency record",
            _ => continue,
        };
        let entry = wcu.entry(kind).or_default();
        entry.0 += 2.0 * (local_gateway::round_trips::item_size(&item) as f64 / 1024.0).ceil();
        entry.1 += 1;
    }
    let mean = |kind: &str| wcu.get(kind).map_or(0.0, |(units, n)| units / *n as f64);
    if wcu.get("job").map(|w| w.1) != Some(2 * requests)
        || wcu.get("idempotency record").map(|w| w.1) != Some(requests)
    {
        return Err(format!("the table holds {wcu:?}, not {requests} creates of each kind").into());
    }
    // A create announces nothing: its transaction is the job and its audit record.
    let plain = mean("job") + mean("audit record");
    println!(
        "write units by DynamoDB's rule: without a key {plain:.1} (job {:.1}, audit record {:.1}), with a key {:.1} (its record {:.1} more); a replay writes nothing (one transaction, cancelled by the record's condition)",
        mean("job"),
        mean("audit record"),
        plain + mean("idempotency record"),
        mean("idempotency record"),
    );
    for l in &mut latencies {
        l.sort();
    }
    for (kind, l) in latencies.iter().enumerate() {
        println!(
            "POST /jobs {}: p50={:.2}ms p99={:.2}ms (×{:.2} p50, ×{:.2} p99 of without a key)",
            kinds[kind],
            percentile(l, 0.5),
            percentile(l, 0.99),
            percentile(l, 0.5) / percentile(&latencies[0], 0.5),
            percentile(l, 0.99) / percentile(&latencies[0], 0.99),
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // The stack's own logs only when asked for: a run's figures are its output.
    if std::env::var_os("RUST_LOG").is_some() {
        shared::telemetry::init();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("hire-race") => hire_race(arg(1, 1_000), arg(2, 1) as u32).await,
        Some("notify") => notify_throughput(arg(1, 1_000)).await,
        Some("delay") => delay(arg(1, 100)).await,
        Some("push-delay") => push::delay(arg(1, 500), arg(2, 50)).await,
        Some("push-scale") => scale::push_scale(&args[1..]).await,
        Some("sweep-reads") => sweep_reads(arg(1, 10_000), arg(2, 100)).await,
        Some("load") => load(arg(1, 16), arg(2, 3), arg(3, 300)).await,
        Some("hire-overhead") => hire_overhead(arg(1, 1_000)).await,
        Some("engine-race") => engine_race(arg(1, 1_000), arg(2, 3)).await,
        Some("idempotency") => idempotency(arg(1, 1_000)).await,
        Some("apply-burst") => burst::apply_burst(arg(1, 1_000), arg(2, 150), arg(3, 1)).await,
        Some("flow-calls") => flow::calls(arg(1, 16), arg(2, 500), args.get(3).map(String::as_str) != Some("offline")).await,
        Some("flow-cpu") => flow::cpu(arg(1, 16), arg(2, 1_000), &args[3.min(args.len())..]).await,
        _ => Err(
            "usage: bench hire-race|notify|delay|push-delay|push-scale|sweep-reads|load|hire-overhead|engine-race|idempotency|apply-burst|flow-calls|flow-cpu [args]"
                .into(),
        ),
    }
}
