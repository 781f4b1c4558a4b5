//! Metrics as CloudWatch Embedded Metric Format: what an invocation counted, written as one
//! JSON line to stdout when it ends, which CloudWatch Logs turns into metrics with no call
//! on the request path. No well-kept crate writes EMF for `lambda_runtime` 1.x, so this
//! follows the specification and Powertools' conventions: the namespace and the `service`
//! dimension from `POWERTOOLS_METRICS_NAMESPACE` and `POWERTOOLS_SERVICE_NAME`, one flushed
//! line per invocation, metadata as keys that are no dimension, and `ColdStart` on a
//! directive of its own with the function's name.
//!
//! Anything running inside [`Process::measured`] counts with [`count`] or [`record`]; outside it (the
//! local gateway, tests that call handlers directly) counting does nothing.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
            Self::Seconds => "Seconds",
        }
    }
}

/// Metrics of requests broken down by route and status class as well as by service.
const PER_ROUTE: [&str; 2] = ["Requests", "Latency"];

/// What one invocation counted.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Invocation {
    values: BTreeMap<&'static str, (f64, Unit)>,
    /// `route` and `status_class` of an HTTP request.
    route: Option<(String, &'static str)>,
    metadata: Map<String, Value>,
    cold_start: Option<f64>,
}

tokio::task_local! {
    static CURRENT: Arc<Mutex<Invocation>>;
}

/// Adds `n` to the count `name` of the running invocation.
pub fn count(name: &'static str, n: usize) {
    if n > 0 {
        record(name, n as f64, Unit::Count);
    }
}

/// Adds `value` to the metric `name` of the running invocation.
pub fn record(name: &'static str, value: f64, unit: Unit) {
    with_current(|m| {
        let entry = m.values.entry(name).or_insert((0.0, unit));
        entry.0 += value;
    });
}

/// The route and answer of the HTTP request the invocation is: its `Requests` and
/// `Latency` are broken down by both.
pub fn request(route: &str, status: u16, latency_ms: f64) {
    let class = match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    with_current(|m| m.route = Some((route.to_owned(), class)));
    record("Requests", 1.0, Unit::Count);
    record("Latency", latency_ms, Unit::Milliseconds);
}

/// A key on the line that is no dimension: searchable in the logs, free in CloudWatch.
pub fn metadata(key: &str, value: impl Into<Value>) {
    with_current(|m| {
        m.metadata.insert(key.to_owned(), value.into());
    });
}

fn with_current(f: impl FnOnce(&mut Invocation)) {
    let _ = CURRENT.try_with(|m| {
        if let Ok(mut m) = m.lock() {
            f(&mut m);
        }
    });
}

/// A function's process: when its init started, and whether it has been invoked yet.
#[derive(Debug)]
pub struct Process {
    init_started: Instant,
    warm: AtomicBool,
    pub emf: Emf,
}

impl Process {
    /// First thing in `main`: a cold start's `InitDuration` runs from here to its first
    /// invocation.
    pub fn start(emf: Emf) -> Self {
        Self {
            init_started: Instant::now(),
            warm: AtomicBool::new(false),
            emf,
        }
    }

    /// Runs one invocation, collecting what it counts; the first of the process is its
    /// cold start.
    pub async fn measured<F: Future>(&self, invocation: F) -> (F::Output, Invocation) {
        let mut collected = Invocation::default();
        if !self.warm.swap(true, Ordering::SeqCst) {
            collected.cold_start = Some(self.init_started.elapsed().as_secs_f64() * 1_000.0);
        }
        let current = Arc::new(Mutex::new(collected));
        let output = CURRENT.scope(current.clone(), invocation).await;
        let collected = current.lock().map(|m| m.clone()).unwrap_or_default();
        (output, collected)
    }

    /// [`Process::measured`], its line written when it ends.
    pub async fn flushed<F: Future>(&self, invocation: F) -> F::Output {
        let (output, counted) = self.measured(invocation).await;
        self.emf.flush(&counted);
        output
    }
}

/// Where the lines go: a namespace, the service and the function, from Lambda's
/// environment.
#[derive(Debug, Clone)]
pub struct Emf {
    pub namespace: String,
    pub service: String,
    pub function_name: String,
}

impl Emf {
    pub fn from_env() -> Self {
        let var = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Self {
            namespace: var("POWERTOOLS_METRICS_NAMESPACE", "Marketplace"),
            service: var("POWERTOOLS_SERVICE_NAME", "marketplace"),
            function_name: var("AWS_LAMBDA_FUNCTION_NAME", "local"),
        }
    }

    /// The EMF line of `invocation` at `timestamp_ms`; `None` when it counted nothing.
    pub fn line(&self, invocation: &Invocation, timestamp_ms: i64) -> Option<String> {
        if invocation.values.is_empty() && invocation.cold_start.is_none() {
            return None;
        }
        let names = |pick: &dyn Fn(&str) -> bool| -> Vec<Value> {
            invocation
                .values
                .iter()
                .filter(|(name, _)| pick(name))
                .map(|(name, (_, unit))| json!({"Name": name, "Unit": unit.as_str()}))
                .collect()
        };
        let mut directives = vec![json!({
            "Namespace": self.namespace,
            "Dimensions": [["service"]],
            "Metrics": names(&|_| true),
        })];
        let mut line = invocation.metadata.clone();
        if let Some((route, class)) = &invocation.route {
            directives.push(json!({
                "Namespace": self.namespace,
                "Dimensions": [["service", "route", "status_class"]],
                "Metrics": names(&|name| PER_ROUTE.contains(&name)),
            }));
            line.insert("route".into(), json!(route));
            line.insert("status_class".into(), json!(class));
        }
        if let Some(init_ms) = invocation.cold_start {
            directives.push(json!({
                "Namespace": self.namespace,
                "Dimensions": [["service", "function_name"]],
                "Metrics": [
                    {"Name": "ColdStart", "Unit": "Count"},
                    {"Name": "InitDuration", "Unit": "Milliseconds"},
                ],
            }));
            line.insert("ColdStart".into(), json!(1));
            line.insert("InitDuration".into(), json!(init_ms));
        }
        directives.retain(|d| d["Metrics"].as_array().is_some_and(|m| !m.is_empty()));
        for (name, (value, _)) in &invocation.values {
            line.insert((*name).into(), json!(value));
        }
        line.insert("service".into(), json!(self.service));
        line.insert("function_name".into(), json!(self.function_name));
        line.insert(
            "_aws".into(),
            json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}),
        );
        Some(Value::Object(line).to_string())
    }

    /// Writes `invocation`'s line to stdout, where Lambda sends it to CloudWatch Logs.
    pub fn flush(&self, invocation: &Invocation) {
        if let Some(line) = self.line(invocation, chrono::Utc::now().timestamp_millis()) {
            println!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emf() -> Emf {
        Emf {
            namespace: "Test".into(),
            service: "marketplace".into(),
            function_name: "hire".into(),
        }
    }

    #[tokio::test]
    async fn an_invocation_is_one_line_its_metrics_under_the_service_and_per_route() {
        let process = Process::start(emf());
        process.measured(async {}).await;
        let ((), counted) = process
            .measured(async {
                request("POST /jobs/{job_id}/hire", 200, 12.5);
                count("HiresWon", 1);
                count("ConflictsRetried", 2);
                count("ConflictsRetried", 1);
                count("ThrottlesRetried", 0);
                metadata("request_id", "r-1");
            })
            .await;
        let line: Value = serde_json::from_str(&emf().line(&counted, 1_000).unwrap()).unwrap();

        assert_eq!(line["_aws"]["Timestamp"], 1_000);
        let directives = line["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives[0]["Namespace"], "Test");
        assert_eq!(directives[0]["Dimensions"], json!([["service"]]));
        let names: Vec<&str> = directives[0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["ConflictsRetried", "HiresWon", "Latency", "Requests"]
        );
        assert_eq!(
            directives[1]["Dimensions"],
            json!([["service", "route", "status_class"]])
        );
        assert_eq!(directives[1]["Metrics"].as_array().unwrap().len(), 2);
        assert_eq!(line["ConflictsRetried"], 3.0);
        assert!(
            line.get("ThrottlesRetried").is_none(),
            "a zero is not counted"
        );
        assert_eq!(line["Latency"], 12.5);
        assert_eq!(
            (&line["route"], &line["status_class"], &line["service"]),
            (
                &json!("POST /jobs/{job_id}/hire"),
                &json!("2xx"),
                &json!("marketplace")
            )
        );
        assert_eq!(line["request_id"], "r-1");
    }

    #[tokio::test]
    async fn the_first_invocation_of_a_process_is_its_cold_start_and_only_the_first() {
        let process = Process::start(emf());
        let ((), first) = process.measured(async { count("SweepRedriven", 1) }).await;
        let ((), second) = process.measured(async { count("SweepRedriven", 1) }).await;
        let first: Value = serde_json::from_str(&emf().line(&first, 1).unwrap()).unwrap();
        let cold = &first["_aws"]["CloudWatchMetrics"][1];
        assert_eq!(cold["Dimensions"], json!([["service", "function_name"]]));
        assert_eq!(first["ColdStart"], 1);
        assert!(first["InitDuration"].as_f64().unwrap() >= 0.0);
        assert_eq!(first["function_name"], "hire");
        let second: Value = serde_json::from_str(&emf().line(&second, 1).unwrap()).unwrap();
        assert!(second.get("ColdStart").is_none());
    }

    #[test]
    fn counting_outside_an_invocation_does_nothing_and_an_empty_one_writes_no_line() {
        count("HiresWon", 1);
        assert_eq!(emf().line(&Invocation::default(), 1), None);
    }
}
