//! `local-gateway [serve]` runs the local API; `local-gateway token <user>` prints a token.

use local_gateway::auth::Auth;
use local_gateway::{LocalStack, Options, seed};
use std::process::ExitCode;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["token", user] => {
            println!(
                "{}",
                Auth::from_env().mint(user, chrono::Duration::hours(24))
            );
            Ok(())
        }
        [] | ["serve"] => serve().await,
        _ => {
            eprintln!("usage: local-gateway [serve] | local-gateway token <user>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), BoxError> {
    shared::telemetry::init();
    let options = Options::from_env()?;
    let sweep_every = options.sweep_every.unwrap_or_default();
    let stack = LocalStack::start(options).await?;
    let addr = stack.address;

    println!(
        "Marketplace API on http://{addr} (table {}{})",
        stack.config.table_name,
        if stack.created {
            ", demo data seeded"
        } else {
            ""
        }
    );
    println!(
        "Health: curl http://{addr}/_local/health   Sweep now: curl -X POST http://{addr}/_local/sweep"
    );
    for (consumer, queue) in &stack.queues {
        println!(
            "{consumer}'s queue {} (DLQ after {} receives), fed by the table's stream through the local pipe and bus",
            queue.url, queue.max_receive_count,
        );
    }
    println!("Console: http://{addr}/_local/console");
    println!(
        "Live notifications: ws://{addr}/ws?token=<token> (send {{\"action\": \"sync\", \"after\": null}})"
    );
    println!("Sweep every {}s", sweep_every.as_secs());
    if stack.faults.is_some() {
        println!(
            "LOCAL_FAULTS=1: fault switch on http://{addr}/_local/faults (POST {{\"dynamodb\": \"off\"|\"throttle\"|\"conflict\"|\"unconditional\", \"rate\": 0..1, \"seed\": n, \"pipe\": \"run\"|\"stop\"}})"
        );
    }
    for user in seed::DEMO_USERS {
        println!(
            "export TOKEN_{}={}",
            user.to_uppercase(),
            stack.auth.mint(user, chrono::Duration::hours(24))
        );
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}
