//! `audit [--table NAME | --all-tables --prefix P] [--fanout-delay-secs N]
//! [--redrive-window-secs N] [--segments N]`: audits a table (or every table whose name
//! starts with P), prints what it read and every violation, and exits 1 on any violation.
//!
//! DynamoDB Local at `DYNAMODB_ENDPOINT` (default http://127.0.0.1:8000, table
//! `marketplace-local`), or, when `TABLE_NAME` is set without `DYNAMODB_ENDPOINT`, the real
//! table with the ambient AWS credentials. It only ever reads.

use audit::{Settings, check, dynamo_client, list_tables, read_table};
use std::process::ExitCode;

const USAGE: &str = "usage: audit [--table NAME | --all-tables --prefix PREFIX] \
[--fanout-delay-secs N] [--redrive-window-secs N] [--segments N]";

struct Args {
    tables: Option<String>,
    table: Option<String>,
    fanout_delay_secs: i64,
    redrive_window_secs: i64,
    segments: u32,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn parse_args() -> Result<Args, String> {
    let number = |name: &str, default: i64| -> Result<i64, String> {
        env(name).map_or(Ok(default), |v| {
            v.parse().map_err(|_| format!("{name}: not a number"))
        })
    };
    let mut args = Args {
        tables: None,
        table: None,
        fanout_delay_secs: number(
            "AUDIT_FANOUT_DELAY_SECS",
            Settings::DEFAULT_FANOUT_DELAY_SECS,
        )?,
        redrive_window_secs: number(
            "AUDIT_REDRIVE_WINDOW_SECS",
            Settings::DEFAULT_REDRIVE_WINDOW_SECS,
        )?,
        segments: 4,
    };
    let mut all = false;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--all-tables" {
            all = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let n = || {
            value
                .parse::<i64>()
                .map_err(|_| format!("{flag}: not a number"))
        };
        match flag.as_str() {
            "--table" => args.table = Some(value.clone()),
            "--prefix" => args.tables = Some(value.clone()),
            "--fanout-delay-secs" => args.fanout_delay_secs = n()?,
            "--redrive-window-secs" => args.redrive_window_secs = n()?,
            "--segments" => args.segments = n()?.clamp(1, 64) as u32,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    match (all, &args.tables, &args.table) {
        (true, Some(_), None) | (false, None, _) => Ok(args),
        _ => Err("--all-tables and --prefix go together, without --table".to_owned()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("audit: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("audit: {e}");
            ExitCode::from(2)
        }
    }
}

/// Whether every table audited is clean.
async fn run(args: Args) -> Result<bool, audit::reader::BoxError> {
    let table_env = env("TABLE_NAME");
    // `TABLE_NAME` without an endpoint names a real table, as it does for the Lambdas.
    let endpoint = env("DYNAMODB_ENDPOINT").or_else(|| {
        table_env
            .is_none()
            .then(|| "http://127.0.0.1:8000".to_owned())
    });
    let client = dynamo_client(endpoint.as_deref()).await;
    let tables = match (&args.tables, &args.table) {
        (Some(prefix), _) => list_tables(&client, prefix).await?,
        (None, Some(table)) => vec![table.clone()],
        (None, None) => vec![table_env.unwrap_or_else(|| "marketplace-local".to_owned())],
    };
    println!(
        "audit of {} table(s) at {}",
        tables.len(),
        endpoint.as_deref().unwrap_or("AWS")
    );
    let mut dirty = Vec::new();
    for table in &tables {
        let items = read_table(&client, table, args.segments).await?;
        let settings = Settings {
            fanout_delay: chrono::Duration::seconds(args.fanout_delay_secs),
            redrive_window: chrono::Duration::seconds(args.redrive_window_secs),
            ..Settings::at(shared::time::now())
        };
        let report = check(items, &settings);
        if report.is_clean() && args.tables.is_some() {
            let n: usize = report.items.values().sum();
            println!("{table}: {n} items, no violation");
        } else {
            println!("{table}:\n{report}");
        }
        if !report.is_clean() {
            dirty.push(table.as_str());
        }
    }
    if dirty.is_empty() {
        println!("no violation in {} table(s)", tables.len());
    } else {
        println!(
            "violations in {} of {} table(s): {}",
            dirty.len(),
            tables.len(),
            dirty.join(", ")
        );
    }
    Ok(dirty.is_empty())
}
