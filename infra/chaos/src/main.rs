//! `chaos [--seconds N] [--seed N] [--clients N] [--break]`: one chaos run; exits 1 when it
//! finds anything lost, doubled or wrong. `chaos gateway` is the run's local gateway, this
//! binary started again so the run can kill it.

use chaos::settings::{Settings, USAGE};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("gateway") {
        return gateway().await;
    }
    let settings = match Settings::parse(args, |name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("chaos: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    println!(
        "chaos: seed {} ({} s, {} clients): replay with CHAOS_SEED={}",
        settings.seed,
        settings.load.as_secs(),
        settings.clients,
        settings.seed
    );
    match chaos::run(&settings).await {
        Ok(summary) => {
            println!("{summary}");
            if summary.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("chaos: {e}");
            ExitCode::from(2)
        }
    }
}

/// The local gateway as `make dev` runs it, from the environment the run sets.
async fn gateway() -> ExitCode {
    shared::telemetry::init();
    let stack = match local_gateway::Options::from_env() {
        Ok(options) => local_gateway::LocalStack::start(options).await,
        Err(e) => Err(e),
    };
    match stack {
        Ok(_stack) => {
            std::future::pending::<()>().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("chaos gateway: {e}");
            ExitCode::FAILURE
        }
    }
}
