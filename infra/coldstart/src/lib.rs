//! A Lambda binary started as Lambda starts it, timed: a Runtime API emulator hands it one
//! event and records when it first asked for work (the end of its init) and when it
//! answered. The benchmark (`src/main.rs`) and the warm-connection test use it.

pub use local_gateway::runtime_api::{Answer, Emulator};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0} did not {1} within {2:?}")]
    Timeout(String, &'static str, Duration),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// Where a function's binary is: `target/<profile>/<name>` (`CARGO_TARGET_DIR` honoured).
pub fn binary(profile: &str, name: &str) -> PathBuf {
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join(profile)
        .join(name)
}

/// `infra/events/<function>.json`.
pub fn sample(function: &str) -> std::io::Result<String> {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../events")
            .join(format!("{function}.json")),
    )
}

/// What a function is told by its environment, as Lambda tells it.
#[derive(Debug, Clone)]
pub struct Setting {
    pub function: String,
    pub table: String,
    pub queue_url: String,
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
            ("QUEUE_URL", self.queue_url.as_str()),
            ("REDRIVE_DELAY_SECS", "60"),
            ("RELEASE_WINDOW_DAYS", "14"),
            ("POWERTOOLS_METRICS_NAMESPACE", "Marketplace"),
            ("POWERTOOLS_SERVICE_NAME", "marketplace"),
            ("RUST_LOG", "info"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        vars.extend(self.extra.iter().cloned());
        vars
    }
}

/// One cold start and its first invocation.
#[derive(Debug, Clone)]
pub struct ColdStart {
    /// Process start to its first `/next`.
    pub init: Duration,
    /// The event handed over to the answer received.
    pub first_invocation: Duration,
    /// `VmHWM` once it answered, in KiB.
    pub peak_rss_kib: u64,
    pub answer: Answer,
}

/// The process's peak resident set so far.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

const WITHIN: Duration = Duration::from_secs(30);

/// Starts `binary` with `setting`'s environment, hands it `event`, and times it.
pub async fn cold_start(
    binary: &std::path::Path,
    setting: &Setting,
    event: String,
) -> Result<ColdStart, RunError> {
    let name = setting.function.clone();
    let mut emulator = Emulator::start(event, false)
        .await
        .map_err(|e| RunError::Io(name.clone(), e))?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env_clear()
        .envs(setting.environment(emulator.address))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| RunError::Io(format!("{name} ({})", binary.display()), e))?;
    let first_next = emulator
        .first_next(WITHIN)
        .await
        .ok_or_else(|| RunError::Timeout(name.clone(), "ask for work", WITHIN))?;
    let answer = emulator
        .answer(WITHIN)
        .await
        .ok_or_else(|| RunError::Timeout(name.clone(), "answer", WITHIN))?;
    let peak_rss_kib = child.id().and_then(peak_rss_kib).unwrap_or(0);
    let _ = child.kill().await;
    let delivered = emulator.delivered().unwrap_or(first_next);
    Ok(ColdStart {
        init: first_next - started,
        first_invocation: answer.at.saturating_duration_since(delivered),
        peak_rss_kib,
        answer,
    })
}
