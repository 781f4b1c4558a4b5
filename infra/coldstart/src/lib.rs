//! A Lambda binary started as Lambda starts it, timed: a Runtime API emulator hands it one
//! event and records when it first asked for work (the end of its init) and when it
//! answered. The benchmark (`src/main.rs`) and the warm-connection test use it.

pub use local_gateway::runtime_api::{Answer, Emulator, Setting, binary};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0} did not {1} within {2:?}")]
    Timeout(String, &'static str, Duration),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// `infra/events/<function>.json`.
pub fn sample(function: &str) -> std::io::Result<String> {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../events")
            .join(format!("{function}.json")),
    )
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
