//! `local-gateway [serve]` runs the local API; `local-gateway token <user>` prints a token.

use local_gateway::auth::Auth;
use local_gateway::template::Template;
use local_gateway::{Gateway, GatewayConfig, seed, stack};
use std::process::ExitCode;
use std::time::Duration;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

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
    let port = env_or("PORT", "3000");
    let endpoint = env_or("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000");
    let sqs_endpoint = env_or("SQS_ENDPOINT", "http://127.0.0.1:9324");
    let sweep_every = Duration::from_secs(env_or("SWEEP_INTERVAL_SECS", "10").parse()?);
    let table = env_or("TABLE_NAME", "marketplace-local");
    let template = match std::env::var("TEMPLATE") {
        Ok(path) => Template::load(path.as_ref())?,
        Err(_) => Template::load_default()?,
    };
    let auth = Auth::from_env();

    let dynamo = stack::dynamo_client(&endpoint);
    let mut waited = 0;
    let created = loop {
        match stack::ensure_table(&dynamo, &table, &template).await {
            Ok(created) => break created,
            Err(e) if waited < 60 => {
                tracing::info!(error = %e, "waiting for DynamoDB Local");
                tokio::time::sleep(Duration::from_millis(500)).await;
                waited += 1;
            }
            Err(e) => return Err(e.into()),
        }
    };
    let sqs = stack::sqs_client(&sqs_endpoint);
    // Failed messages come back after 5 s locally instead of the template's minutes.
    let queues = stack::ensure_queues(&sqs, &table, &template, Duration::from_secs(5)).await?;
    let gateway = Gateway::new(
        GatewayConfig {
            dynamodb_endpoint: endpoint,
            sqs_endpoint,
            table_name: table.clone(),
            queue_url: Some(queues.url.clone()),
            cursor_secret: env_or("CURSOR_SECRET", "local-cursor-secret-not-for-production"),
            redrive_delay: Duration::from_secs(env_or("REDRIVE_DELAY_SECS", "30").parse()?),
            auth: auth.clone(),
        },
        &template,
    )?;
    local_gateway::worker::spawn_pump(gateway.app().clone(), sqs, queues.url.clone());
    local_gateway::worker::spawn_sweeper(gateway.app().clone(), sweep_every);
    if created {
        seed::demo(gateway.app()).await?;
    }
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let addr = gateway.spawn(listener).await?;

    println!(
        "Marketplace API on http://{addr} (table {table}{})",
        if created { ", demo data seeded" } else { "" }
    );
    println!(
        "Health: curl http://{addr}/_local/health   Sweep now: curl -X POST http://{addr}/_local/sweep"
    );
    println!(
        "Events queue {} (DLQ after {} receives); sweep every {}s",
        queues.url,
        queues.max_receive_count,
        sweep_every.as_secs()
    );
    for user in seed::DEMO_USERS {
        println!(
            "export TOKEN_{}={}",
            user.to_uppercase(),
            auth.mint(user, chrono::Duration::hours(24))
        );
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}
