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
//!   cargo run --release -p local-gateway --example bench -- search [JOBS]
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
use local_gateway::Options;
use local_gateway::auth::Auth;
use serde_json::{Value, json};
use shared::domain::{Consumer, ContractId, EventId, EventKind, JobId, OutboxEvent, UserId};
use shared::store::{OutboxRow, keys};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use test_kit::TestApp;

// One file per benchmark; this file is their harness: the stack (from the test kit), a
// client of the API, and the figures' arithmetic.
#[path = "bench/burst.rs"]
mod burst;
#[path = "bench/delay.rs"]
mod delay;
#[path = "bench/engine_race.rs"]
mod engine_race;
#[path = "bench/hire_overhead.rs"]
mod hire_overhead;
#[path = "bench/hire_race.rs"]
mod hire_race;
#[path = "bench/idempotency.rs"]
mod idempotency;
#[path = "bench/load.rs"]
mod load;
#[path = "bench/notify.rs"]
mod notify;
#[path = "bench/push.rs"]
mod push;
#[path = "bench/scale.rs"]
mod scale;
#[path = "bench/search.rs"]
mod search;
#[path = "bench/sweep_reads.rs"]
mod sweep_reads;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The API over HTTP, as a client sees it: a gateway's address and tokens it accepts.
struct Api {
    base: String,
    http: reqwest::Client,
    auth: Auth,
}

/// A stack of the test kit's (its own table and queues) and a client of its API.
struct Bench {
    api: Api,
    app: shared::App,
    dynamo: aws_sdk_dynamodb::Client,
    /// Without timeouts, for counting what is in the table after a race.
    patient: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    table: String,
    kit: TestApp,
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

/// The test kit's stack as `adjust` changes it, with the table's stream on, as `make dev`
/// runs it (the tests turn it off unless they read it).
async fn setup_with(adjust: impl FnOnce(&mut Options)) -> Result<Bench, BoxError> {
    let kit = test_kit::start_app(|o| {
        o.stream = true;
        // `make dev`'s, not the tests' one second: a message notify fails comes back after
        // it, and five receives send it to the DLQ.
        o.visibility_timeout = Duration::from_secs(5);
        // `make dev`'s setting, so a run can compare concurrency limits.
        if let Some(n) = std::env::var("LOCAL_CONCURRENCY")
            .ok()
            .and_then(|n| n.parse().ok())
        {
            o.concurrency = n;
        }
        adjust(o);
    })
    .await;
    Ok(Bench {
        api: Api::new(kit.address.clone(), kit.auth.clone())?,
        app: kit.app.clone(),
        dynamo: kit.dynamo.clone(),
        patient: kit.patient_dynamo(),
        sqs: kit.sqs.clone(),
        queue_url: kit.queues.url.clone(),
        table: kit.table.clone(),
        kit,
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

    /// `owner` posts a job titled `title`, `freelancer` applies, `owner` hires them: the
    /// job's id. Fails unless the hire answers 200.
    async fn hire_on_a_new_job(
        &self,
        owner: &str,
        freelancer: &str,
        title: &str,
    ) -> Result<String, BoxError> {
        let (_, job) = self
            .post(owner, "/jobs", json!({"title": title, "budget_cents": 100}))
            .await?;
        let job_id = job["job_id"].as_str().ok_or("job")?.to_owned();
        let (_, application) = self
            .post(
                freelancer,
                &format!("/jobs/{job_id}/applications"),
                json!({"bid_cents": 100}),
            )
            .await?;
        let application_id = application["application_id"].as_str().ok_or("app")?;
        let (status, _) = self
            .post(
                owner,
                &format!("/jobs/{job_id}/hire"),
                json!({"application_id": application_id}),
            )
            .await?;
        if status != 200 {
            return Err(format!("hire answered {status}").into());
        }
        Ok(job_id)
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
    /// One of the owner's jobs and `n` applications to it, through the kit's fixture.
    async fn job_with_applicants(
        &self,
        openings: u32,
        n: usize,
    ) -> Result<(String, Vec<String>), BoxError> {
        Ok(
            test_kit::job_with_application_ids(&self.kit, openings, &test_kit::freelancers("f", n))
                .await,
        )
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
        Ok(self.kit.queue_count(&self.queue_url, name).await)
    }
}

/// A uniformly random duration below `of`, from a fresh ULID's random bits (the bench
/// needs no generator of its own for this).
fn random_part_of(of: Duration) -> Duration {
    let random = ulid::Ulid::generate().random() as u64;
    Duration::from_micros(random % of.as_micros().max(1) as u64)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1_000.0
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
        Some("hire-race") => hire_race::hire_race(arg(1, 1_000), arg(2, 1) as u32).await,
        Some("notify") => notify::notify_throughput(arg(1, 1_000)).await,
        Some("delay") => delay::delay(arg(1, 100)).await,
        Some("push-delay") => push::delay(arg(1, 500), arg(2, 50)).await,
        Some("push-scale") => scale::push_scale(&args[1..]).await,
        Some("sweep-reads") => sweep_reads::sweep_reads(arg(1, 10_000), arg(2, 100)).await,
        Some("load") => load::load(arg(1, 16), arg(2, 3), arg(3, 300)).await,
        Some("hire-overhead") => hire_overhead::hire_overhead(arg(1, 1_000)).await,
        Some("engine-race") => engine_race::engine_race(arg(1, 1_000), arg(2, 3)).await,
        Some("idempotency") => idempotency::idempotency(arg(1, 1_000)).await,
        Some("apply-burst") => burst::apply_burst(arg(1, 1_000), arg(2, 150), arg(3, 1)).await,
        Some("search") => search::search(arg(1, 1_000)).await,
        Some("flow-calls") => flow::calls(arg(1, 16), arg(2, 500), args.get(3).map(String::as_str) != Some("offline")).await,
        Some("flow-cpu") => flow::cpu(arg(1, 16), arg(2, 1_000), &args[3.min(args.len())..]).await,
        _ => Err(
            "usage: bench hire-race|notify|delay|push-delay|push-scale|sweep-reads|load|hire-overhead|engine-race|idempotency|apply-burst|search|flow-calls|flow-cpu [args]"
                .into(),
        ),
    }
}
