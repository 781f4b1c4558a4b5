//! Every function binary, run as Lambda runs it: a Lambda Runtime API emulator hands it its
//! sample event and takes its answer. This is what tests each `main.rs`.

use crate::fixtures::{check_http, check_notify_sample_applied, sample};
use crate::helpers::{dynamodb_endpoint, spawn_app, sqs_endpoint};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};

#[derive(Clone)]
struct Emulator {
    event: Arc<Mutex<Option<String>>>,
    answers: mpsc::Sender<(String, String)>,
}

async fn next(State(emu): State<Emulator>) -> (StatusCode, HeaderMap, String) {
    let Some(event) = emu.event.lock().await.take() else {
        // One invocation per run: the second poll waits until the process is killed.
        std::future::pending::<()>().await;
        unreachable!()
    };
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
    (StatusCode::OK, headers, event)
}

async fn answer(
    State(emu): State<Emulator>,
    Path((_, kind)): Path<(String, String)>,
    body: String,
) -> StatusCode {
    let _ = emu.answers.send((kind, body)).await;
    StatusCode::ACCEPTED
}

async fn init_error(State(emu): State<Emulator>, body: String) -> StatusCode {
    let _ = emu.answers.send(("init-error".into(), body)).await;
    StatusCode::ACCEPTED
}

fn binary(name: &str) -> std::path::PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` (make test does)",
        path.display()
    );
    path
}

/// Runs `function`'s binary for one invocation of its sample event; returns the answer kind
/// (`response` or `error`) and body.
async fn invoke(function: &str, table: &str, queue_url: &str) -> (String, String) {
    let (tx, mut rx) = mpsc::channel(4);
    let emulator = Emulator {
        event: Arc::new(Mutex::new(Some(sample(function)))),
        answers: tx,
    };
    let router = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(answer))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(emulator);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let mut child = tokio::process::Command::new(binary(function))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "local")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint())
        .env("AWS_ENDPOINT_URL_SQS", sqs_endpoint())
        .env("TABLE_NAME", table)
        .env("QUEUE_URL", queue_url)
        .env("CURSOR_SECRET", "runtime-api-test-secret")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{function}: {e}"));
    let answer = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("{function} did not answer within 30 s"))
        .expect("an answer");
    let _ = child.kill().await;
    server.abort();
    answer
}

#[tokio::test]
async fn every_function_binary_answers_its_sample_through_the_runtime_api() {
    let functions = local_gateway::template::Template::load_default()
        .unwrap()
        .functions()
        .unwrap();
    for function in functions {
        let app = spawn_app().await;
        let (kind, body) = invoke(&function, &app.table, &app.queues.url).await;
        assert_eq!(kind, "response", "{function} reported {kind}: {body}");
        let answer: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{function}: {e}: {body}"));
        match function.as_str() {
            "notify" => {
                assert_eq!(answer["batchItemFailures"], serde_json::json!([]), "{body}");
                check_notify_sample_applied(&app).await;
            }
            "sweep" => assert_eq!(answer["expired_jobs"], 0, "{body}"),
            _ => {
                let status = answer["statusCode"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{function}: {body}"))
                    as u16;
                check_http(
                    &function,
                    status,
                    answer["body"].as_str().unwrap_or_default(),
                );
            }
        }
    }
}
