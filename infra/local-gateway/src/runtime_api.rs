//! A Runtime API for one invocation of one Lambda binary: it hands the process one event,
//! records when it first asked for work (the end of its init), and collects its answer.
//! The binary tests and the cold-start benchmark both start functions through it.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use std::net::SocketAddr;
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
