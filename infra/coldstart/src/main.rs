//! The cold start of every function of template.yaml against a floor that does what they
//! all do before their first event (`infra/hello-dynamodb`: the runtime, the DynamoDB client
//! they build, its connection opened), with the bare runtime (`infra/hello-lambda`) beside
//! it, in one run: release binaries, the environment Lambda gives, a Runtime API emulator,
//! DynamoDB Local and the SQS emulator over plain HTTP.
//!
//!   cargo build --release --workspace --bins
//!   cargo run --release -p coldstart -- [ROUNDS]
//!
//! `COLDSTART_BINARIES=<dir>` runs the binaries of another build (kept from an earlier
//! commit) instead of `target/release`.
//!
//! Needs DYNAMODB_ENDPOINT and SQS_ENDPOINT, as the other benchmarks do (BENCHMARKS.md).
//! Each round starts every binary once, in a rotated order; the figures are medians over
//! the rounds, and the ratios are to the floor's medians of the same run.

use coldstart::{ColdStart, Setting, binary, cold_start, sample};
use local_gateway::auth::Auth;
use local_gateway::template::Template;
use local_gateway::{LocalStack, Options};
use shared::config::Config;
use std::time::Duration;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const FLOOR: &str = "hello-dynamodb";

/// Shown beside the floor, not a function: what the runtime alone costs.
const BARE: &str = "hello-lambda";

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

struct Figures {
    name: String,
    init_ms: f64,
    init_min_ms: f64,
    init_max_ms: f64,
    first_ms: f64,
    rss_mib: f64,
}

fn figures(name: &str, runs: &[ColdStart]) -> Figures {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let inits: Vec<f64> = runs.iter().map(|r| ms(r.init)).collect();
    Figures {
        name: name.to_owned(),
        init_min_ms: inits.iter().copied().fold(f64::INFINITY, f64::min),
        init_max_ms: inits.iter().copied().fold(0.0, f64::max),
        init_ms: median(inits),
        first_ms: median(runs.iter().map(|r| ms(r.first_invocation)).collect()),
        rss_mib: median(
            runs.iter()
                .map(|r| r.peak_rss_kib as f64 / 1024.0)
                .collect(),
        ),
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let rounds: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 7,
    };
    let dynamodb_endpoint = std::env::var("DYNAMODB_ENDPOINT")?;
    let sqs_endpoint = std::env::var("SQS_ENDPOINT")?;
    let template = Template::load_default()?;
    let functions = template.functions()?;

    let table = format!(
        "coldstart-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    let config = Config {
        table_name: table.clone(),
        cursor_secret: "cold-start-cursor-secret-at-least-32-bytes".into(),
        queue_urls: Default::default(),
        redrive_delay: Config::DEFAULT_REDRIVE_DELAY,
        release_window: chrono::Duration::days(Config::DEFAULT_RELEASE_WINDOW_DAYS),
        connections_endpoint: None,
    };
    let stack = LocalStack::start(Options::new(
        dynamodb_endpoint.clone(),
        sqs_endpoint.clone(),
        config,
        Auth::new("cold-start-secret-that-is-at-least-32-bytes"),
    )?)
    .await?;

    let dir = std::env::var("COLDSTART_BINARIES").ok();
    let path_of = |name: &str| match &dir {
        Some(dir) => std::path::Path::new(dir).join(name),
        None => binary("release", name),
    };
    let mut names = vec![FLOOR.to_owned(), BARE.to_owned()];
    names.extend(functions.iter().cloned());
    for name in &names {
        let path = path_of(name);
        if !path.exists() {
            return Err(format!(
                "{} is missing: `cargo build --release --workspace --bins` first",
                path.display()
            )
            .into());
        }
    }

    let mut runs: Vec<Vec<ColdStart>> = vec![Vec::new(); names.len()];
    for round in 0..rounds {
        // Rotated, so that no binary always runs right after the same neighbour.
        for k in 0..names.len() {
            let i = (k + round) % names.len();
            let name = &names[i];
            let event = sample(if [FLOOR, BARE].contains(&name.as_str()) {
                "list-jobs"
            } else {
                name
            })?;
            let setting = Setting {
                function: name.clone(),
                table: table.clone(),
                queue_urls: stack.queue_urls(),
                dynamodb_endpoint: dynamodb_endpoint.clone(),
                sqs_endpoint: sqs_endpoint.clone(),
                extra: Vec::new(),
            };
            let run = cold_start(&path_of(name), &setting, event).await?;
            if run.answer.kind != "response" {
                return Err(
                    format!("{name} answered {}: {}", run.answer.kind, run.answer.body).into(),
                );
            }
            runs[i].push(run);
        }
    }

    let all: Vec<Figures> = names
        .iter()
        .zip(&runs)
        .map(|(name, runs)| figures(name, runs))
        .collect();
    let floor = &all[0];
    println!(
        "{rounds} rounds; medians; ratios to {FLOOR} ({:.2} ms init, {:.2} ms first invocation, {:.1} MiB peak RSS)\n",
        floor.init_ms, floor.first_ms, floor.rss_mib
    );
    println!(
        "| binary | init | init min–max | × floor | first invocation | × floor | peak RSS | × floor |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for f in &all {
        println!(
            "| {} | {:.2} ms | {:.2}–{:.2} ms | {:.2} | {:.2} ms | {:.2} | {:.1} MiB | {:.2} |",
            f.name,
            f.init_ms,
            f.init_min_ms,
            f.init_max_ms,
            f.init_ms / floor.init_ms,
            f.first_ms,
            f.first_ms / floor.first_ms,
            f.rss_mib,
            f.rss_mib / floor.rss_mib,
        );
    }
    let worst = all[2..]
        .iter()
        .map(|f| f.init_ms / floor.init_ms)
        .fold(0.0, f64::max);
    println!("\nworst init ratio: {worst:.2}");
    Ok(())
}
