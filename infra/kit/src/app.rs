//! The app a black-box test or a benchmark runs against: a local stack on a table of its
//! own, a client that checks every answer against the published contract, and what reads
//! the table and the queue behind the API.

use crate::items::*;
use crate::reply::Reply;
use crate::socket::Socket;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use local_gateway::auth::Auth;
use local_gateway::stack::Queues;
use local_gateway::{LocalStack, Options};
use serde_json::{Value, json};
use shared::config::Config;
use shared::domain::Consumer;
use shared::store::keys;
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

/// One running API on a fresh table of its own, so tests never see each other's data.
pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub dynamo: Client,
    pub table: String,
    pub auth: Auth,
    pub sqs: aws_sdk_sqs::Client,
    /// `notify`'s queue and DLQ.
    pub queues: Queues,
    /// `index`'s queue and DLQ.
    pub index_queues: Queues,
    /// Handlers over working clients, for running `sweep` and `notify` directly.
    pub app: shared::App,
    /// The local EventBridge Pipe (table stream → queue), driven by hand unless
    /// `Options::pipe` runs it.
    pub pipe: local_gateway::pipe::Pipe,
    /// Serves until the test ends.
    /// The stack itself, for what the fields above do not show (its queues, its config).
    pub stack: LocalStack,
}

pub fn dynamodb_endpoint() -> String {
    std::env::var("DYNAMODB_ENDPOINT").expect(
        "DYNAMODB_ENDPOINT is not set: run the tests with `make test`, which starts DynamoDB Local",
    )
}

pub fn sqs_endpoint() -> String {
    std::env::var("SQS_ENDPOINT").expect(
        "SQS_ENDPOINT is not set: run the tests with `make test`, which starts the SQS emulator",
    )
}

/// A test app whose table has the template's stream, for tests that deliver notifications:
/// the pipe forwards what was announced when the test drains the queue.
pub async fn spawn_app_with_stream() -> TestApp {
    spawn_app_with(|o| o.stream = true).await
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A test app on its own table and queues, started as `adjust` changes the defaults: the
/// shared DynamoDB Local and SQS emulator, fixed secrets and the production delays. Nothing
/// consumes the queue in the background: a test that compares table snapshots must not race
/// the consumer, so tests that want delivery call `drain_queue`.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Options)) -> TestApp {
    shared::telemetry::init();
    start_app(adjust).await
}

/// [`spawn_app_with`] without installing the functions' logs: for a benchmark, whose
/// output is its figures.
pub async fn start_app(adjust: impl FnOnce(&mut Options)) -> TestApp {
    let table = format!("test-{}", ulid::Ulid::generate().to_string().to_lowercase());
    let config = Config {
        table_name: table.clone(),
        cursor_secret: "test-cursor-secret".into(),
        queue_urls: Default::default(),
        redrive_delay: Config::DEFAULT_REDRIVE_DELAY,
        release_window: chrono::Duration::days(Config::DEFAULT_RELEASE_WINDOW_DAYS),
        // The stack points the clients at its own `@connections`.
        connections_endpoint: None,
    };
    let mut options = Options::new(
        dynamodb_endpoint(),
        sqs_endpoint(),
        config,
        Auth::new("test-secret-that-is-at-least-32-bytes-long"),
    )
    .expect("template.yaml loads");
    // A failed message is received again quickly.
    options.visibility_timeout = std::time::Duration::from_secs(1);
    // Handlers announce through the table's stream. Only tests that read what was announced
    // turn it on (`spawn_app_with_stream`): DynamoDB Local's writes slow down with every
    // stream record of every table it holds (a suite with a stream on every table takes
    // three times as long and starves the race tests).
    options.stream = false;
    adjust(&mut options);
    let stack = LocalStack::start(options)
        .await
        .expect("the stack starts from template.yaml");
    TestApp {
        address: format!("http://{}", stack.address),
        http: reqwest::Client::new(),
        dynamo: stack.clients.dynamo.clone(),
        table: stack.config.table_name.clone(),
        auth: stack.auth.clone(),
        sqs: stack.clients.sqs.clone(),
        queues: stack.queues[&Consumer::Notify].clone(),
        index_queues: stack.queues[&Consumer::Index].clone(),
        app: stack.app.clone(),
        pipe: stack.pipe.clone(),
        stack,
    }
}

impl TestApp {
    pub fn token(&self, user: &str) -> String {
        self.auth.mint(user, chrono::Duration::hours(1))
    }

    /// Sends `req` and fails the test unless the answer is one the published contract
    /// (`infra/openapi.yaml`) describes for that method and path.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let req = req.build().expect("a well-formed request");
        let (method, path) = (req.method().to_string(), req.url().path().to_owned());
        let res = self.http.execute(req).await.expect("request sent");
        let status = res.status().as_u16();
        let header = |name| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
        let location = header(reqwest::header::LOCATION);
        let retry_after = header(reqwest::header::RETRY_AFTER);
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let reply = Reply {
            status,
            body,
            content_type,
            location,
            retry_after,
            headers,
        };
        crate::contract::check(&method, &path, &reply);
        reply
    }

    pub fn request(
        &self,
        method: reqwest::Method,
        user: Option<&str>,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.address));
        match user {
            Some(u) => req.bearer_auth(self.token(u)),
            None => req,
        }
    }

    pub async fn get(&self, user: &str, path: &str) -> Reply {
        self.send(self.request(reqwest::Method::GET, Some(user), path))
            .await
    }

    pub async fn post(&self, user: &str, path: &str, body: Value) -> Reply {
        self.send(
            self.request(reqwest::Method::POST, Some(user), path)
                .json(&body),
        )
        .await
    }

    /// A POST sent with an `Idempotency-Key`.
    pub async fn post_keyed(&self, user: &str, path: &str, body: Value, key: &str) -> Reply {
        self.send(
            self.request(reqwest::Method::POST, Some(user), path)
                .header("idempotency-key", key)
                .json(&body),
        )
        .await
    }

    pub async fn post_raw(&self, user: &str, path: &str, body: &str) -> Reply {
        self.send(
            self.request(reqwest::Method::POST, Some(user), path)
                .header("content-type", "application/json")
                .body(body.to_owned()),
        )
        .await
    }

    /// Posts a job with `extra` fields over a valid default; returns it.
    pub async fn create_job(&self, owner: &str, extra: Value) -> Value {
        let mut body =
            json!({"title": "Build a thing", "description": "Details", "budget_cents": 100_000});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        self.post(owner, "/jobs", body).await.expect(201)
    }

    pub async fn apply(&self, job_id: &str, freelancer: &str, bid_cents: i64) -> Value {
        self.post(
            freelancer,
            &format!("/jobs/{job_id}/applications"),
            json!({"bid_cents": bid_cents, "message": "Pick me"}),
        )
        .await
        .expect(201)
    }

    pub async fn hire(&self, owner: &str, job_id: &str, application_id: &str) -> Reply {
        self.post(
            owner,
            &format!("/jobs/{job_id}/hire"),
            json!({"application_id": application_id}),
        )
        .await
    }

    /// Every item of the table, sorted by key: a snapshot to prove a refusal changed nothing.
    pub async fn items(&self) -> Vec<Item> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .dynamo
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        items.sort_by_key(|i| (s(i, "PK"), s(i, "SK")));
        items
    }

    /// Items whose sort key starts with `prefix`.
    pub async fn items_with_sk(&self, prefix: &str) -> Vec<Item> {
        self.items()
            .await
            .into_iter()
            .filter(|i| s(i, "SK").starts_with(prefix))
            .collect()
    }

    /// The status of every application in the table.
    pub async fn application_statuses(&self) -> Vec<String> {
        self.items_with_sk(keys::APPLICATION_SK_PREFIX)
            .await
            .iter()
            .map(|a| s(a, "status"))
            .collect()
    }

    /// Every contract item (not the parties' links to them).
    pub async fn contracts(&self) -> Vec<Item> {
        self.items()
            .await
            .into_iter()
            .filter(|i| s(i, "SK") == keys::CONTRACT_SK)
            .collect()
    }

    /// How many contracts a job's hires made.
    pub async fn contracts_of_job(&self, job_id: &str) -> usize {
        self.contracts()
            .await
            .iter()
            .filter(|c| s(c, "job_id") == job_id)
            .count()
    }

    /// A job's item, which must exist.
    pub async fn job_item(&self, job_id: &str) -> Item {
        let item = self.item(&key::job(job_id), keys::JOB_SK).await;
        item.expect("the job's item")
    }

    /// A contract's item, which must exist.
    pub async fn contract_item(&self, contract_id: &str) -> Item {
        let item = self
            .item(&key::contract(contract_id), keys::CONTRACT_SK)
            .await;
        item.expect("the contract's item")
    }

    pub async fn item(&self, pk: &str, sk: &str) -> Option<Item> {
        self.dynamo
            .get_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(pk.into()))
            .key("SK", AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("get item")
            .item
    }

    /// Moves a job's deadline into the past without any sweep, as time passing would.
    pub async fn time_travel_past_deadline(&self, job_id: &str) {
        self.set_deadline(
            &key::job(job_id),
            keys::JOB_SK,
            "expires_at",
            job_id,
            "2020-01-01T00:00:00.000Z",
        )
        .await;
    }

    /// Sets a deadline attribute and, where the item is due work, its due-index sort key.
    pub async fn set_deadline(&self, pk: &str, sk: &str, attribute: &str, id: &str, at: &str) {
        self.dynamo
            .update_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(pk.into()))
            .key("SK", AttributeValue::S(sk.into()))
            .update_expression("SET #a = :at, DUESK = :due")
            .condition_expression("attribute_exists(DUEPK)")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":at", AttributeValue::S(at.into()))
            .expression_attribute_values(
                ":due",
                AttributeValue::S(keys::due_at(shared::time::parse(at).expect("a time"), id)),
            )
            .send()
            .await
            .expect("deadline moved");
    }

    /// Moves a funded contract's release deadline to `at`.
    pub async fn set_release_deadline(&self, contract_id: &str, at: &str) {
        self.set_deadline(
            &key::contract(contract_id),
            keys::CONTRACT_SK,
            "release_deadline",
            contract_id,
            at,
        )
        .await;
    }

    /// Runs `sweep` at `now` with a full time budget.
    pub async fn sweep_at(
        &self,
        now: shared::time::Timestamp,
    ) -> shared::handlers::sweep::SweepReport {
        shared::handlers::sweep(
            &self.app,
            now,
            std::time::Instant::now() + std::time::Duration::from_secs(50),
        )
        .await
        .expect("sweep")
    }

    /// The user's inbox, read from the table.
    pub async fn inbox(&self, user: &str) -> Vec<Item> {
        self.items()
            .await
            .into_iter()
            .filter(|i| {
                s(i, "PK") == key::user(user)
                    && s(i, "SK").starts_with(keys::NOTIFICATION_SK_PREFIX)
            })
            .collect()
    }

    /// Undispatched outbox events: those still in the due index.
    pub async fn undispatched(&self) -> Vec<Item> {
        self.items()
            .await
            .into_iter()
            .filter(|i| s(i, "SK").starts_with(keys::OUTBOX_SK_PREFIX) && i.contains_key("DUEPK"))
            .collect()
    }

    /// Messages waiting in a queue (visible or in flight).
    pub async fn queue_depth(&self, url: &str) -> usize {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        self.queue_count(url, A::ApproximateNumberOfMessages).await
            + self
                .queue_count(url, A::ApproximateNumberOfMessagesNotVisible)
                .await
    }

    /// One count the queue at `url` reports of itself.
    pub async fn queue_count(
        &self,
        url: &str,
        name: aws_sdk_sqs::types::QueueAttributeName,
    ) -> usize {
        queue_count(&self.sqs, url, name).await
    }

    /// A DynamoDB client without timeouts, for counting what is in the table: after a race,
    /// calls that timed out are still queued in the one DynamoDB Local, and a count waits its
    /// turn rather than timing out behind them.
    pub fn patient_dynamo(&self) -> Client {
        Client::new(&shared::app::local_sdk_config(&dynamodb_endpoint()))
    }

    /// Delivers what was announced: forwards the table's stream through the pipe (when the
    /// table has one), then feeds each consumer's queue to its function until both stay
    /// empty.
    pub async fn drain_queue(&self) {
        match self.pipe.pipe_once().await {
            Ok(_) | Err(local_gateway::pipe::PipeError::NoStream(_)) => {}
            Err(e) => panic!("the local pipe failed: {e}"),
        }
        self.notify_queue().await;
        self.index_queue().await;
    }

    /// Feeds notify's queue to `notify` until it stays empty, with the pipe stopped: only
    /// what the sweeper sent is there.
    pub async fn notify_queue(&self) {
        self.consume(Consumer::Notify, &self.queues.url).await;
    }

    /// Feeds index's queue to `index` until it stays empty.
    pub async fn index_queue(&self) {
        self.consume(Consumer::Index, &self.index_queues.url).await;
    }

    /// Feeds a queue to its consumer until nothing is left in it, in flight included: a
    /// message that failed comes back after the visibility timeout and is fed again.
    async fn consume(&self, consumer: Consumer, url: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let mut empty_polls = 0;
        loop {
            let n = local_gateway::worker::pump_once(
                &self.app,
                consumer,
                &self.sqs,
                url,
                std::time::Duration::from_secs(0),
            )
            .await
            .expect("pump");
            empty_polls = if n == 0 { empty_polls + 1 } else { 0 };
            if empty_polls >= 2 {
                if self.queue_depth(url).await == 0 {
                    return;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{consumer}'s queue never emptied"
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }

    /// Forwards what the table's stream holds through the pipe, then feeds the queue to
    /// `notify` until it stays empty. Returns how many stream records the pipe sent.
    pub async fn pipe_and_drain(&self) -> usize {
        let sent = self
            .pipe
            .pipe_once()
            .await
            .expect("the local pipe forwards");
        self.notify_queue().await;
        self.index_queue().await;
        sent
    }

    /// Deletes the table. For tests that write states the API cannot make: the audit that
    /// `make test` runs over every test table afterwards is to judge what the API wrote.
    pub async fn delete_table(&self) {
        self.dynamo
            .delete_table()
            .table_name(&self.table)
            .send()
            .await
            .expect("table deleted");
    }

    /// `user`'s socket, with a token of theirs.
    pub async fn connect(&self, user: &str) -> Socket {
        self.connect_with(&format!("token={}", self.token(user)))
            .await
            .unwrap_or_else(|status| panic!("{user} could not connect: {status}"))
    }

    /// A socket opened with `query`, or the status the handshake was refused with.
    pub async fn connect_with(&self, query: &str) -> Result<Socket, u16> {
        let url = format!("{}/ws?{query}", self.address.replacen("http", "ws", 1));
        Socket::open(&url).await
    }

    /// The connection ids recorded for `user`, from the table.
    pub async fn connection_ids(&self, user: &str) -> Vec<String> {
        let user = shared::domain::UserId::parse(user).unwrap();
        let mut ids: Vec<String> = self
            .app
            .store
            .connections(&user)
            .await
            .expect("connections")
            .into_iter()
            .map(|c| c.connection_id.to_string())
            .collect();
        ids.sort();
        ids
    }
}
