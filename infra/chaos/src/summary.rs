//! What a run prints: its seed (and how to replay it), requests by answer, retries, the
//! faults injected, the longest wait for a definitive answer, the 503s whose change had in
//! fact committed, how long the stack took to go quiet, and every finding.

use crate::api::Exchange;
use crate::checks::{Finding, GRACE};
use crate::faults::Window;
use crate::settings::Settings;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub struct Summary {
    pub seed: u64,
    pub load: Duration,
    pub clients: usize,
    pub broken: bool,
    pub requests: usize,
    pub attempts: usize,
    /// Requests by their definitive answer ("none" when none came).
    pub by_answer: BTreeMap<String, usize>,
    pub faults: Vec<Window>,
    /// For each fault, how long after its end its last failed try (a 503 or a lost
    /// connection) ended: the time the stack took to recover from it.
    pub recovered: Vec<Duration>,
    pub longest_wait: Duration,
    /// Requests answered 503 whose retry replayed a stored answer: the change had committed.
    pub committed_503: usize,
    /// The same after a lost connection.
    pub committed_lost: usize,
    pub load_ended: Duration,
    pub quiet_after: Option<Duration>,
    pub findings: Vec<Finding>,
    pub dir: PathBuf,
}

impl Summary {
    pub fn new(
        settings: &Settings,
        log: &[Exchange],
        faults: &[Window],
        load_ended: Duration,
        quiet_after: Option<Duration>,
        mut findings: Vec<Finding>,
        dir: PathBuf,
    ) -> Self {
        let mut by_answer = BTreeMap::new();
        for e in log {
            let key = e
                .answer
                .as_ref()
                .map_or("none".to_owned(), |a| a.status.to_string());
            *by_answer.entry(key).or_default() += 1;
        }
        let replayed_after = |failed: fn(Option<u16>) -> bool| {
            log.iter()
                .filter(|e| e.answer.as_ref().is_some_and(|a| a.replayed))
                .filter(|e| e.attempts.iter().any(|a| failed(a.status)))
                .count()
        };
        findings.sort();
        Self {
            seed: settings.seed,
            load: settings.load,
            clients: settings.clients,
            broken: settings.broken,
            requests: log.len(),
            attempts: log.iter().map(|e| e.attempts.len()).sum(),
            by_answer,
            faults: faults.to_vec(),
            recovered: faults.iter().map(|w| recovery(log, w)).collect(),
            longest_wait: log
                .iter()
                .filter_map(|e| Some(e.attempts.last()?.end - e.attempts.first()?.start))
                .max()
                .unwrap_or_default(),
            committed_503: replayed_after(|s| s == Some(503)),
            committed_lost: replayed_after(|s| s.is_none()),
            load_ended,
            quiet_after,
            findings,
            dir,
        }
    }

    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "chaos: seed {}, {} s of load, {} clients{}",
            self.seed,
            self.load.as_secs(),
            self.clients,
            if self.broken {
                ", product broken on purpose"
            } else {
                ""
            }
        )?;
        let answers: Vec<String> = self
            .by_answer
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        writeln!(
            f,
            "requests: {} ({}), attempts {}, retries {}",
            self.requests,
            answers.join(", "),
            self.attempts,
            self.attempts - self.requests
        )?;
        writeln!(f, "faults injected: {}", self.faults.len())?;
        for (w, recovered) in self.faults.iter().zip(&self.recovered) {
            writeln!(
                f,
                "  {:>6.1} s  {:<20} {:>4.1} s, last failure {:.1} s after its end",
                w.start.as_secs_f64(),
                w.fault.name(),
                (w.end - w.start).as_secs_f64(),
                recovered.as_secs_f64()
            )?;
        }
        writeln!(
            f,
            "longest wait for a definitive answer: {:.1} s",
            self.longest_wait.as_secs_f64()
        )?;
        writeln!(
            f,
            "503s whose change had committed: {} (and {} after a lost connection)",
            self.committed_503, self.committed_lost
        )?;
        match self.quiet_after {
            Some(q) => writeln!(
                f,
                "quiet {:.1} s after the load ended at {:.1} s",
                q.as_secs_f64(),
                self.load_ended.as_secs_f64()
            )?,
            None => writeln!(f, "never quiet: the last audit's violations are below")?,
        }
        writeln!(f, "violations: {}", self.findings.len())?;
        for finding in &self.findings {
            writeln!(f, "  {finding}")?;
        }
        writeln!(f, "logs: {}", self.dir.display())?;
        write!(
            f,
            "replay: CHAOS_SEED={} CHAOS_SECONDS={} CHAOS_CLIENTS={} make chaos",
            self.seed,
            self.load.as_secs(),
            self.clients
        )
    }
}

/// How long after `w` ended the last try that failed during it (or within the grace after
/// it) ended; zero when nothing failed after its end.
fn recovery(log: &[Exchange], w: &Window) -> Duration {
    log.iter()
        .flat_map(|e| &e.attempts)
        .filter(|a| matches!(a.status, None | Some(503)))
        .filter(|a| a.start <= w.end + GRACE && a.end >= w.start)
        .map(|a| a.end.saturating_sub(w.end))
        .max()
        .unwrap_or_default()
}
