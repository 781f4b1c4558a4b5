//! Every function binary, run as Lambda runs it: a Lambda Runtime API emulator hands it its
//! sample event and takes its answer. This is what tests each `main.rs`.

use local_gateway::runtime_api::{Emulator, Setting};
use serde_json::{Value, json};
use shared::domain::Consumer;
use std::time::Duration;
use test_kit::{TestApp, dynamodb_endpoint, spawn_app, sqs_endpoint};
use test_kit::{
    check_http, check_index_sample_applied, check_notify_sample_applied, job_with_application_ids,
    sample,
};

fn binary(name: &str) -> std::path::PathBuf {
    let path = local_gateway::runtime_api::binary("debug", name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` (make test does)",
        path.display()
    );
    path
}

/// What one invocation of a binary gave: the answer kind (`response` or `error`), its body,
/// and the lines it wrote to stdout.
struct Invoked {
    kind: String,
    body: String,
    stdout: Vec<String>,
}

/// Runs `function`'s binary for one invocation of its sample event.
async fn invoke(function: &str, app: &TestApp) -> Invoked {
    invoke_with(function, sample(function), app).await
}

/// Runs `function`'s binary for one invocation of `event`.
async fn invoke_with(function: &str, event: String, app: &TestApp) -> Invoked {
    let mut emulator = Emulator::start(event, false)
        .await
        .expect("the Runtime API emulator starts");
    let addr = emulator.address;
    let setting = Setting {
        function: function.to_owned(),
        table: app.table.clone(),
        queue_urls: [(Consumer::Notify, app.queues.url.clone())].into(),
        dynamodb_endpoint: dynamodb_endpoint(),
        sqs_endpoint: sqs_endpoint(),
        extra: vec![
            ("RUST_LOG".into(), "warn".into()),
            (
                "POWERTOOLS_METRICS_NAMESPACE".into(),
                "MarketplaceTest".into(),
            ),
            // The WebSocket functions' settings: the app's own Management API, and the
            // production authorizer's (its issuer unreachable: the sample's token is
            // refused before any key is needed).
            ("CONNECTIONS_ENDPOINT".into(), app.address.clone()),
            ("JWT_ALGORITHM".into(), "RS256".into()),
            ("JWT_ISSUER".into(), "http://127.0.0.1:9".into()),
            ("JWT_AUDIENCE".into(), "marketplace".into()),
        ],
    };
    let mut child = tokio::process::Command::new(binary(function))
        .env_clear()
        .envs(setting.environment(addr))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{function}: {e}"));
    let answer = emulator
        .answer(Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("{function} did not answer within 30 s"));
    let _ = child.kill().await;
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        use tokio::io::AsyncReadExt;
        let _ = out.read_to_string(&mut stdout).await;
    }
    Invoked {
        kind: answer.kind,
        body: answer.body,
        stdout: stdout.lines().map(str::to_owned).collect(),
    }
}

/// The one Embedded Metric Format line an invocation wrote, checked for what every
/// function's line carries: the namespace and the `service` dimension from the
/// environment, and the cold start with the function's name.
fn metrics_line(function: &str, stdout: &[String]) -> Value {
    let lines: Vec<Value> = stdout
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l.get("_aws").is_some())
        .collect();
    assert_eq!(lines.len(), 1, "{function}: one metrics line: {stdout:#?}");
    let line = lines.into_iter().next().unwrap();
    let directives = line["_aws"]["CloudWatchMetrics"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        directives
            .iter()
            .all(|d| d["Namespace"] == "MarketplaceTest")
    );
    assert_eq!(
        directives[0]["Dimensions"],
        serde_json::json!([["service"]])
    );
    let cold = directives
        .iter()
        .find(|d| d["Dimensions"] == serde_json::json!([["service", "function_name"]]))
        .unwrap_or_else(|| panic!("{function}: no cold start: {line}"));
    assert_eq!(cold["Metrics"][0]["Name"], "ColdStart");
    assert_eq!(
        (&line["ColdStart"], &line["function_name"]),
        (&serde_json::json!(1), &serde_json::json!(function))
    );
    assert_eq!(line["service"], "marketplace");
    assert!(line["InitDuration"].as_f64().unwrap() > 0.0);
    // Every metric a directive names has its value on the line.
    for d in &directives {
        for m in d["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            assert!(
                line[name].is_number(),
                "{function}: {name} named without a value: {line}"
            );
        }
    }
    line
}

#[tokio::test]
async fn every_function_binary_answers_its_sample_through_the_runtime_api() {
    let functions = local_gateway::template::Template::load_default()
        .unwrap()
        .functions()
        .unwrap();
    for function in functions {
        let app = spawn_app().await;
        let Invoked { kind, body, stdout } = invoke(&function, &app).await;
        assert_eq!(kind, "response", "{function} reported {kind}: {body}");
        let answer: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{function}: {e}: {body}"));
        let line = metrics_line(&function, &stdout);
        match function.as_str() {
            "notify" => {
                assert_eq!(answer["batchItemFailures"], serde_json::json!([]), "{body}");
                check_notify_sample_applied(&app).await;
                assert_eq!(line["NotificationsApplied"], 1.0, "{line}");
            }
            "index" => {
                assert_eq!(answer["batchItemFailures"], serde_json::json!([]), "{body}");
                check_index_sample_applied(&app).await;
                assert_eq!(line["JobsUnindexed"], 1.0, "{line}");
            }
            "ws-authorize" => {
                let statement = &answer["policyDocument"]["Statement"][0];
                assert_eq!(statement["Effect"], "Deny", "{body}");
                assert_eq!(line["ConnectsDenied"], 1.0, "{line}");
            }
            socket if socket.starts_with("ws-") => {
                assert_eq!(answer["statusCode"], 200, "{function}: {body}");
                let sample: Value = serde_json::from_str(&sample(socket)).unwrap();
                let context = &sample["requestContext"];
                assert_eq!(
                    (&line["request_id"], &line["route"]),
                    (&context["requestId"], &context["routeKey"]),
                    "{function}: {line}"
                );
                assert_eq!(line["Requests"], 1.0, "{function}: {line}");
            }
            "sweep" => {
                assert_eq!(answer["expired_jobs"], 0, "{body}");
                for name in [
                    "SweepFailed",
                    "SweepParked",
                    "SweepOutOfTime",
                    "OutboxOldestDueAge",
                ] {
                    assert_eq!(line[name], 0.0, "{name}: {line}");
                }
            }
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
                assert_eq!(line["Requests"], 1.0, "{function}: {line}");
                assert!(line["Latency"].as_f64().unwrap() > 0.0);
                assert_eq!(line["status_class"], format!("{}xx", status / 100));
                let sample: Value = serde_json::from_str(&sample(&function)).unwrap();
                assert_eq!(line["route"], sample["routeKey"], "{function}");
                assert_eq!(line["request_id"], sample["requestContext"]["requestId"]);
            }
        }
    }
}

/// The hire sample, for `job_id` and `application_id`.
fn hire_event(job_id: &str, application_id: &str) -> String {
    let mut event: Value = serde_json::from_str(&sample("hire")).unwrap();
    let path = format!("/jobs/{job_id}/hire");
    event["rawPath"] = path.clone().into();
    event["requestContext"]["http"]["path"] = path.into();
    event["pathParameters"] = serde_json::json!({ "job_id": job_id });
    event["body"] = serde_json::json!({ "application_id": application_id })
        .to_string()
        .into();
    event.to_string()
}

#[tokio::test]
async fn the_hire_binary_counts_a_hire_won_and_a_hire_lost() {
    let app = spawn_app().await;
    let (job_id, ids) = job_with_application_ids(&app, 1, &["bob", "carol"]).await;
    let (cancelled, dave) = job_with_application_ids(&app, 1, &["dave"]).await;
    app.post("alice", &format!("/jobs/{cancelled}/cancel"), json!({}))
        .await
        .expect(200);
    let hire =
        |job: &str, application: &str| invoke_with("hire", hire_event(job, application), &app);

    let won = hire(&job_id, &ids[0]).await;
    let lost = hire(&job_id, &ids[1]).await;
    let too_late = hire(&cancelled, &dave[0]).await;

    let status =
        |i: &Invoked| serde_json::from_str::<Value>(&i.body).unwrap()["statusCode"].clone();
    assert_eq!(
        (status(&won), status(&lost), status(&too_late)),
        (200.into(), 409.into(), 409.into())
    );
    let won = metrics_line("hire", &won.stdout);
    let lost = metrics_line("hire", &lost.stdout);
    let too_late = metrics_line("hire", &too_late.stdout);
    assert_eq!(
        (won["HiresWon"].as_f64(), won.get("HiresLost")),
        (Some(1.0), None)
    );
    assert_eq!(
        (lost["HiresLost"].as_f64(), lost.get("HiresWon")),
        (Some(1.0), None)
    );
    // A job cancelled meanwhile refuses the hire, but no other hire won it.
    assert_eq!(
        (too_late.get("HiresLost"), too_late.get("HiresWon")),
        (None, None),
        "{too_late}"
    );
    assert_eq!(
        (&won["status_class"], &lost["status_class"]),
        (&"2xx".into(), &"4xx".into())
    );
}
