//! Every function binary, run as Lambda runs it: a Lambda Runtime API emulator hands it its
//! sample event and takes its answer. This is what tests each `main.rs`.

use crate::fixtures::{check_http, check_notify_sample_applied, sample};
use crate::helpers::{dynamodb_endpoint, spawn_app, sqs_endpoint};
use local_gateway::runtime_api::Emulator;
use serde_json::Value;
use std::time::Duration;

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
    let mut emulator = Emulator::start(sample(function), false)
        .await
        .expect("the Runtime API emulator starts");
    let addr = emulator.address;
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
    let answer = emulator
        .answer(Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("{function} did not answer within 30 s"));
    let _ = child.kill().await;
    (answer.kind, answer.body)
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
