//! What tests set up again and again: jobs with applicants, hires and contracts, a
//! DynamoDB that fails on purpose, and the sample events of `infra/events/`. Test files take
//! their set-up from here and from `helpers`, never from each other.

use crate::helpers::{Reply, TestApp, s, spawn_app_with, str_of};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use futures::future::join_all;
use serde_json::{Value, json};
use shared::domain::Consumer;
use shared::metrics::{Emf, Process};
use shared::store::keys;
use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// Jobs, applications, hires and contracts.

/// How many records of `action` the trail of alice's job holds, as its API lists them.
pub async fn recorded(app: &TestApp, job_id: &str, action: &str) -> usize {
    let trail = app
        .get("alice", &format!("/jobs/{job_id}/events?limit=100"))
        .await
        .expect(200);
    trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == action)
        .count()
}

/// `{prefix}0`, `{prefix}1`, …: `n` distinct freelancers.
pub fn freelancers(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// Alice's job with `openings`, and an application from each of `applicants`, the i-th
/// bidding 1,000 + i cents; they apply 25 at a time, as many at once as a test needs.
pub async fn job_with_applicants(
    app: &TestApp,
    openings: u32,
    applicants: &[impl AsRef<str>],
) -> (String, Vec<Value>) {
    let job = app.create_job("alice", json!({"openings": openings})).await;
    let job_id = str_of(&job, "job_id");
    let mut applications = Vec::with_capacity(applicants.len());
    for (chunk, names) in applicants.chunks(25).enumerate() {
        let job_id = &job_id;
        applications.extend(
            join_all(names.iter().enumerate().map(|(i, name)| async move {
                let bid = 1_000 + (chunk * 25 + i) as i64;
                app.apply(job_id, name.as_ref(), bid).await
            }))
            .await,
        );
    }
    (job_id, applications)
}

/// As [`job_with_applicants`], with the applications' ids.
pub async fn job_with_application_ids(
    app: &TestApp,
    openings: u32,
    applicants: &[impl AsRef<str>],
) -> (String, Vec<String>) {
    let (job_id, applications) = job_with_applicants(app, openings, applicants).await;
    let ids = applications
        .iter()
        .map(|a| str_of(a, "application_id"))
        .collect();
    (job_id, ids)
}

/// Alice's one-opening job with bob's application: (job_id, application_id).
pub async fn job_with_application(app: &TestApp) -> (String, String) {
    let (job_id, mut ids) = job_with_application_ids(app, 1, &["bob"]).await;
    (job_id, ids.remove(0))
}

/// A hire between alice (owner) and bob (freelancer, bidding 12,345); returns (job_id,
/// contract_id).
pub async fn hired_contract(app: &TestApp) -> (String, String) {
    let job_id = str_of(&app.create_job("alice", json!({})).await, "job_id");
    let application_id = str_of(&app.apply(&job_id, "bob", 12_345).await, "application_id");
    let hired = app
        .hire("alice", &job_id, &application_id)
        .await
        .expect(200);
    (job_id, str_of(&hired["contract"], "contract_id"))
}

/// A hired contract that alice funded; returns its id.
pub async fn funded_contract(app: &TestApp) -> String {
    let (_, id) = hired_contract(app).await;
    act(app, "alice", &id, "fund").await.expect(200);
    id
}

/// `POST /contracts/{contract_id}/{action}` (fund, release, refund) as `user`.
pub async fn act(app: &TestApp, user: &str, contract_id: &str, action: &str) -> Reply {
    app.post(
        user,
        &format!("/contracts/{contract_id}/{action}"),
        json!({}),
    )
    .await
}

// A DynamoDB that fails on purpose. DynamoDB Local runs one request at a time and never
// cancels a transaction for a conflict, and its answers are never lost on the way back, so
// both are injected: an HTTP client that answers TransactWriteItems calls with
// `TransactionConflict`, or passes them through and then answers 500 as if the response had
// been lost.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Cancelled for a conflict, nothing written.
    Conflict,
    /// Cancelled for throttling on one of its items, nothing written.
    Throttled,
    /// Committed, but the caller hears a 500: the outcome is unknown to it.
    LostResponse,
    /// Committed, then sent again as another request (its token changed, as when an answer
    /// was lost and the send repeated outside the token's window): the caller hears the
    /// second, cancelled on the conditions the first made false.
    Resent,
    /// Not sent, and never answered: only the client's timeouts end the call.
    Hang,
    /// Not sent; the caller hears a 500.
    Fail,
}

/// Which GetItem calls fail, and how: a read whose request body does not contain `unless`.
#[derive(Debug, Clone)]
pub struct FailingReads {
    pub fault: Fault,
    pub unless: String,
}

#[derive(Debug, Clone)]
pub struct FaultInjector {
    inner: SharedHttpClient,
    fault: Fault,
    /// Faults still to inject.
    pub remaining: Arc<AtomicUsize>,
    /// Faults to inject first, one per TransactWriteItems call, in order.
    pub plan: Arc<Mutex<VecDeque<Fault>>>,
    /// Faults for the next UpdateItem calls, in order.
    pub update_plan: Arc<Mutex<VecDeque<Fault>>>,
    /// TransactWriteItems calls seen, injected or not.
    pub transactions: Arc<AtomicUsize>,
    /// GetItem calls seen; faults for the next ones, in order (before `failing_reads`);
    /// those to fail while set, and how many were failed.
    pub reads: Arc<AtomicUsize>,
    pub read_plan: Arc<Mutex<VecDeque<Fault>>>,
    pub failing_reads: Arc<Mutex<Option<FailingReads>>>,
    pub failed_reads: Arc<AtomicUsize>,
    /// Injected answers wait while this is false: a test holds a transaction in flight.
    pub open: tokio::sync::watch::Sender<bool>,
    /// How long every call takes before it is answered: a slow DynamoDB.
    pub delay: Arc<Mutex<Duration>>,
}

impl FaultInjector {
    /// Runs `request` with this injector's fault on every TransactWriteItems it sends (a
    /// lost answer: each committed, or repeated with the same token), then injects no more.
    pub async fn throughout<F: Future>(&self, request: F) -> F::Output {
        self.remaining.store(1_000, Ordering::SeqCst);
        let output = request.await;
        self.remaining.store(0, Ordering::SeqCst);
        output
    }

    /// A DynamoDB client, as the Lambdas build it, whose calls go through this injector.
    pub fn client(&self) -> aws_sdk_dynamodb::Client {
        let sdk = shared::app::local_sdk_config(&crate::helpers::dynamodb_endpoint());
        aws_sdk_dynamodb::Client::from_conf(
            shared::app::dynamodb_config(&sdk)
                .http_client(self.clone())
                .build(),
        )
    }

    /// The fault for the next transaction, if any: the plan first, then `remaining`.
    fn next_fault(&self) -> Option<Fault> {
        if let Some(planned) = self.plan.lock().unwrap().pop_front() {
            return Some(planned);
        }
        self.remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
            .then_some(self.fault)
    }

    fn read_fault(&self, request: &HttpRequest) -> Option<Fault> {
        let failing = self.failing_reads.lock().unwrap().clone()?;
        let body = request.body().bytes().unwrap_or_default();
        let spared = String::from_utf8_lossy(body).contains(failing.unless.as_str());
        (!spared).then(|| {
            self.failed_reads.fetch_add(1, Ordering::SeqCst);
            failing.fault
        })
    }
}

#[derive(Debug)]
struct ConflictConnector {
    inner: SharedHttpConnector,
    state: FaultInjector,
}

impl HttpClient for FaultInjector {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(ConflictConnector {
            inner: self.inner.http_connector(settings, components),
            state: self.clone(),
        })
    }
}

impl HttpConnector for ConflictConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let target = request
            .headers()
            .get("x-amz-target")
            .unwrap_or_default()
            .to_owned();
        let fault = if target.ends_with(".TransactWriteItems") {
            self.state.transactions.fetch_add(1, Ordering::SeqCst);
            self.state.next_fault()
        } else if target.ends_with(".UpdateItem") {
            self.state.update_plan.lock().unwrap().pop_front()
        } else if target.ends_with(".GetItem") {
            self.state.reads.fetch_add(1, Ordering::SeqCst);
            let planned = self.state.read_plan.lock().unwrap().pop_front();
            planned.or_else(|| self.state.read_fault(&request))
        } else {
            None
        };
        let delay = *self.state.delay.lock().unwrap();
        let answer = match fault {
            None => self.inner.call(request),
            Some(fault) => self.inject(fault, request),
        };
        if delay.is_zero() {
            return answer;
        }
        HttpConnectorFuture::new(async move {
            tokio::time::sleep(delay).await;
            answer.await
        })
    }
}

impl ConflictConnector {
    fn inject(&self, fault: Fault, request: HttpRequest) -> HttpConnectorFuture {
        let internal_error = || {
            dynamodb_error(
                500,
                json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                    "message": "Internal server error"
                }),
            )
        };
        match fault {
            Fault::Conflict | Fault::Throttled => {
                let (code, message) = if fault == Fault::Conflict {
                    ("TransactionConflict", "Transaction is ongoing for the item")
                } else {
                    ("ThrottlingError", "Throughput exceeds the current capacity")
                };
                let mut open = self.state.open.subscribe();
                HttpConnectorFuture::new(async move {
                    let _ = open.wait_for(|open| *open).await;
                    Ok(dynamodb_error(
                        400,
                        json!({
                            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                            "message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{code}, None, None, None, None, None]"),
                            "CancellationReasons": [
                                {"Code": code, "Message": message},
                                {"Code": "None"}, {"Code": "None"}, {"Code": "None"}, {"Code": "None"}, {"Code": "None"}
                            ]
                        }),
                    ))
                })
            }
            Fault::LostResponse => {
                let committed = self.inner.call(request);
                HttpConnectorFuture::new(async move {
                    committed.await?;
                    Ok(internal_error())
                })
            }
            Fault::Resent => {
                let again = request.try_clone().map(|mut again| {
                    let body = String::from_utf8_lossy(again.body().bytes().unwrap_or_default())
                        .into_owned();
                    let token = serde_json::from_str::<Value>(&body)
                        .ok()
                        .and_then(|v| v["ClientRequestToken"].as_str().map(str::to_owned));
                    if let Some(token) = token {
                        // Another token of the same length: the body keeps its length.
                        let other: String = token
                            .chars()
                            .map(|c| if c == 'a' { 'b' } else { 'a' })
                            .collect();
                        *again.body_mut() = SdkBody::from(body.replace(&token, &other));
                    }
                    again
                });
                let first = self.inner.call(request);
                let inner = self.inner.clone();
                HttpConnectorFuture::new(async move {
                    first.await?;
                    match again {
                        Some(again) => inner.call(again).await,
                        None => Ok(internal_error()),
                    }
                })
            }
            Fault::Hang => HttpConnectorFuture::new(std::future::pending()),
            Fault::Fail => HttpConnectorFuture::ready(Ok(internal_error())),
        }
    }
}

fn dynamodb_error(status: u16, body: serde_json::Value) -> Response<SdkBody> {
    let mut response = Response::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    response
}

/// A test app whose HTTP handlers reach DynamoDB through a [`FaultInjector`] that injects
/// nothing until the test sets `remaining`.
pub async fn app_with_faults(fault: Fault) -> (TestApp, FaultInjector) {
    let injector = FaultInjector {
        fault,
        inner: aws_smithy_http_client::Builder::new().build_http(),
        remaining: Arc::new(AtomicUsize::new(0)),
        plan: Arc::default(),
        update_plan: Arc::default(),
        transactions: Arc::new(AtomicUsize::new(0)),
        reads: Arc::new(AtomicUsize::new(0)),
        read_plan: Arc::default(),
        failing_reads: Arc::default(),
        failed_reads: Arc::new(AtomicUsize::new(0)),
        delay: Arc::default(),
        open: tokio::sync::watch::Sender::new(true),
    };
    let client = injector.client();
    let app = spawn_app_with(|o| o.handler_dynamo = Some(client)).await;
    (app, injector)
}

// Messages for `notify`.

/// One SQS batch of `bodies`, as Lambda hands a batch to `notify`.
pub fn sqs_event(bodies: &[String]) -> aws_lambda_events::event::sqs::SqsEvent {
    use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
    let mut event = SqsEvent::default();
    for (i, body) in bodies.iter().enumerate() {
        let mut m = SqsMessage::default();
        m.message_id = Some(format!("m{i}"));
        m.body = Some(body.clone());
        event.records.push(m);
    }
    event
}

/// Every outbox item of `notify` in the table as the message its rule (or the sweeper)
/// puts on its queue: the item's body as `detail` in the bus's envelope.
pub async fn outbox_bodies(app: &TestApp) -> Vec<String> {
    app.items_with_sk(&keys::outbox_sk(Consumer::Notify))
        .await
        .iter()
        .map(|i| {
            let detail = serde_json::from_str(&s(i, "body")).expect("a delivery");
            serde_json::to_string(&shared::bus::envelope(detail, shared::time::now()))
                .expect("an envelope")
        })
        .collect()
}

// The sample events of `infra/events/`, one per function (for `sam local invoke -e`).

pub fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

pub fn sample(function: &str) -> String {
    std::fs::read_to_string(events_dir().join(format!("{function}.json")))
        .unwrap_or_else(|e| panic!("infra/events/{function}.json: {e}"))
}

/// What each sample does to an empty table: the status and problem code of an HTTP
/// function, proving its route, path parameters, claims and body all arrived.
pub const EXPECTED: &[(&str, u16, &str)] = &[
    ("create-job", 201, ""),
    ("list-jobs", 200, ""),
    ("get-job", 404, "JOB_NOT_FOUND"),
    ("cancel-job", 404, "JOB_NOT_FOUND"),
    ("apply", 404, "JOB_NOT_FOUND"),
    ("list-applications", 404, "JOB_NOT_FOUND"),
    ("withdraw-application", 404, "JOB_NOT_FOUND"),
    ("hire", 404, "JOB_NOT_FOUND"),
    ("list-notifications", 200, ""),
    ("read-notification", 404, "NOTIFICATION_NOT_FOUND"),
    ("list-my-applications", 200, ""),
    ("get-contract", 404, "CONTRACT_NOT_FOUND"),
    ("fund-contract", 404, "CONTRACT_NOT_FOUND"),
    ("release-contract", 404, "CONTRACT_NOT_FOUND"),
    ("refund-contract", 404, "CONTRACT_NOT_FOUND"),
    ("list-my-contracts", 200, ""),
    ("list-job-events", 404, "JOB_NOT_FOUND"),
];

/// Checks an HTTP function's answer (status and problem code) against [`EXPECTED`].
pub fn check_http(function: &str, status: u16, body: &str) {
    let (_, want_status, want_code) = EXPECTED
        .iter()
        .find(|(n, _, _)| *n == function)
        .unwrap_or_else(|| panic!("no expectation for {function}"));
    let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    assert_eq!(status, *want_status, "{function}: {body}");
    if !want_code.is_empty() {
        assert_eq!(body["code"], *want_code, "{function}");
    } else if status == 200 {
        assert!(body["items"].is_array(), "{function}: {body}");
    } else {
        assert!(body["job_id"].is_string(), "{function}: {body}");
    }
}

/// The notification the notify sample delivers.
pub async fn check_notify_sample_applied(app: &TestApp) {
    let inbox = app.inbox("alice").await;
    assert_eq!(inbox.len(), 1, "notify sample delivered one notification");
    assert_eq!(s(&inbox[0], "type"), "application_received");
}

// A DynamoDB Local of a test's own, for a test that must make it misbehave without
// disturbing the shared one every other test runs against.

/// DynamoDB Local in memory on a free port, started by the same script as `make test`'s;
/// killed when dropped, even paused and even when the test fails.
pub struct PrivateDynamoDb {
    pub endpoint: String,
    pid: String,
    dir: PathBuf,
}

impl PrivateDynamoDb {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // The script runs DynamoDB Local from the pid file's folder, where it leaves a file.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("dynamodb-{}", ulid::Ulid::generate()));
        std::fs::create_dir_all(&dir).expect("a folder for DynamoDB Local");
        let pid_file = dir.join("dynamodb.pid");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/dynamodb-local.sh");
        let started = tokio::process::Command::new(script)
            .args(["start", "--in-memory", "--port", &port.to_string()])
            .arg("--pid-file")
            .arg(&pid_file)
            .arg("--log")
            .arg(dir.join("dynamodb.log"))
            .stdout(std::process::Stdio::null())
            .status()
            .await
            .expect("infra/scripts/dynamodb-local.sh runs");
        let pid = std::fs::read_to_string(&pid_file)
            .map(|p| p.trim().to_owned())
            .unwrap_or_default();
        let dynamodb = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            pid,
            dir,
        };
        assert!(started.success(), "DynamoDB Local did not start");
        dynamodb
    }

    /// Freezes the process: connections are still accepted, nothing is answered, as when
    /// DynamoDB hangs.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let _ = std::process::Command::new("kill")
            .args([signal, &self.pid])
            .status();
    }
}

impl Drop for PrivateDynamoDb {
    fn drop(&mut self) {
        if !self.pid.is_empty() {
            self.signal("-KILL");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// Metrics.

/// Runs `work` as one invocation of a warm function and parses the EMF line it writes
/// (`Null` when it counted nothing).
pub async fn counted<F: Future>(work: F) -> (F::Output, Value) {
    let process = Process::start(Emf {
        namespace: "MarketplaceTest".into(),
        service: "marketplace".into(),
        function_name: "test".into(),
    });
    process.measured(async {}).await;
    let (output, invocation) = process.measured(work).await;
    let line = process
        .emf
        .line(&invocation, 0)
        .map(|l| serde_json::from_str(&l).unwrap())
        .unwrap_or(Value::Null);
    (output, line)
}
