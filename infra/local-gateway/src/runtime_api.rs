//! A Runtime API for one invocation of one Lambda binary: it hands the process one event,
//! records when it first asked for work (the end of its init), and collects its answer.
//! The binary tests and the cold-start benchmark both start functions through it.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use shared::domain::Consumer;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};

/// One answer of the function: `response`, `error` or `init-error`, its body, when it came.
#[derive(Debug, Clone)]
pub struct Answer {
    pub kind: String,
    pub body: String,
    pub at: Instant,
}

struct Shared {
    event: Mutex<Option<String>>,
    /// Held: the first `/next` waits for [`Emulator::release`] before it gets the event, so
    /// a test can look at the world between init and the first invocation.
    held: bool,
    release: Notify,
    nexts: mpsc::UnboundedSender<Instant>,
    delivered: Mutex<Option<Instant>>,
    answers: mpsc::UnboundedSender<Answer>,
}

/// A Runtime API for one invocation of one process.
pub struct Emulator {
    pub address: SocketAddr,
    shared: Arc<Shared>,
    nexts: mpsc::UnboundedReceiver<Instant>,
    answers: mpsc::UnboundedReceiver<Answer>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> (StatusCode, HeaderMap, String) {
    let _ = shared.nexts.send(Instant::now());
    let event = shared.event.lock().unwrap().take();
    let Some(event) = event else {
        // One invocation per process: later polls wait until it is killed.
        std::future::pending::<()>().await;
        unreachable!()
    };
    if shared.held {
        shared.release.notified().await;
    }
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", "req-1".parse().unwrap());
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    headers.insert(
        "lambda-runtime-deadline-ms",
        deadline.to_string().parse().unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:000000000000:function:local"
            .parse()
            .unwrap(),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".parse().unwrap(),
    );
    *shared.delivered.lock().unwrap() = Some(Instant::now());
    (StatusCode::OK, headers, event)
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    Path((_, kind)): Path<(String, String)>,
    body: String,
) -> StatusCode {
    let at = Instant::now();
    let _ = shared.answers.send(Answer { kind, body, at });
    StatusCode::ACCEPTED
}

async fn init_error(State(shared): State<Arc<Shared>>, body: String) -> StatusCode {
    let at = Instant::now();
    let _ = shared.answers.send(Answer {
        kind: "init-error".into(),
        body,
        at,
    });
    StatusCode::ACCEPTED
}

impl Emulator {
    /// Serves `event` to the first `/next`; `held` makes it wait for [`Self::release`].
    pub async fn start(event: String, held: bool) -> std::io::Result<Self> {
        let (nexts_tx, nexts) = mpsc::unbounded_channel();
        let (answers_tx, answers) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            event: Mutex::new(Some(event)),
            held,
            release: Notify::new(),
            nexts: nexts_tx,
            delivered: Mutex::new(None),
            answers: answers_tx,
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(answer))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            address,
            shared,
            nexts,
            answers,
            server,
        })
    }

    /// When the process first asked for work: its init is over.
    pub async fn first_next(&mut self, within: Duration) -> Option<Instant> {
        tokio::time::timeout(within, self.nexts.recv())
            .await
            .ok()
            .flatten()
    }

    /// Hands the held event over.
    pub fn release(&self) {
        self.shared.release.notify_one();
    }

    /// When the event left the emulator.
    pub fn delivered(&self) -> Option<Instant> {
        *self.shared.delivered.lock().unwrap()
    }

    pub async fn answer(&mut self, within: Duration) -> Option<Answer> {
        tokio::time::timeout(within, self.answers.recv())
            .await
            .ok()
            .flatten()
    }
}

/// Where a function's binary is: `target/<profile>/<name>` (`CARGO_TARGET_DIR` honoured).
pub fn binary(profile: &str, name: &str) -> PathBuf {
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join(profile)
        .join(name)
}

/// What a function is told by its environment, as Lambda tells it.
#[derive(Debug, Clone)]
pub struct Setting {
    pub function: String,
    pub table: String,
    /// Each consumer's queue, as the template tells the sweeper.
    pub queue_urls: BTreeMap<Consumer, String>,
    pub dynamodb_endpoint: String,
    pub sqs_endpoint: String,
    /// More variables (a test's `SSL_CERT_FILE`).
    pub extra: Vec<(String, String)>,
}

impl Setting {
    /// The variables Lambda sets for a `provided.al2023` function, the template's own and
    /// the endpoints of the local services; nothing inherited from this process.
    pub fn environment(&self, runtime_api: SocketAddr) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = [
            ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string().as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", self.function.as_str()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/local"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "local"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "ASIALOCALLOCALLOCAL0"),
            ("AWS_SECRET_ACCESS_KEY", "local-secret-access-key"),
            ("AWS_SESSION_TOKEN", "local-session-token"),
            ("_HANDLER", "bootstrap"),
            ("LAMBDA_TASK_ROOT", "/var/task"),
            ("LAMBDA_RUNTIME_DIR", "/var/runtime"),
            ("TZ", ":UTC"),
            ("LANG", "en_US.UTF-8"),
            ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin"),
            ("AWS_ENDPOINT_URL_DYNAMODB", self.dynamodb_endpoint.as_str()),
            ("AWS_ENDPOINT_URL_SQS", self.sqs_endpoint.as_str()),
            // template.yaml's Globals.
            ("TABLE_NAME", self.table.as_str()),
            (
                "CURSOR_SECRET",
                "cold-start-cursor-secret-at-least-32-bytes",
            ),
            ("REDRIVE_DELAY_SECS", "60"),
            ("RELEASE_WINDOW_DAYS", "14"),
            ("POWERTOOLS_METRICS_NAMESPACE", "Marketplace"),
            ("POWERTOOLS_SERVICE_NAME", "marketplace"),
            ("RUST_LOG", "info"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        vars.extend(
            self.queue_urls
                .iter()
                .map(|(c, url)| (shared::config::queue_url_variable(*c), url.clone())),
        );
        vars.extend(self.extra.iter().cloned());
        vars
    }
}
