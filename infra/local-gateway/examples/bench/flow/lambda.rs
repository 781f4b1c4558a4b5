//! The flows "as Lambda runs them": each handler inside the metrics process of its
//! function, warm, one flow after another, for the EMF line each invocation writes and its
//! time against DynamoDB Local.

use crate::{Bench, BoxError, percentile, setup_with};
use http::{HeaderMap, HeaderValue, Method};
use local_gateway::gateway::api_gateway_event;
use local_gateway::template::{Route, Template};
use local_gateway::worker;
use serde_json::{Value, json};
use shared::metrics::{Emf, Process};
use std::time::{Duration, Instant};

/// One request through its handler as its function runs it: the handler in a metrics
/// process. Returns the status, the body, the EMF line's bytes and the time it took.
async fn invoke(
    bench: &Bench,
    routes: &[Route],
    process: &Process,
    user: &str,
    path: &str,
    body: Value,
) -> Result<(u16, Value, usize, Duration), BoxError> {
    let (route, params) = routes
        .iter()
        .find_map(|r| r.matches(&Method::POST, path).map(|p| (r, p)))
        .ok_or("no route")?;
    let handler = shared::handlers::http_handler(&route.function).ok_or("no handler")?;
    let token = bench.auth.mint(user, chrono::Duration::hours(1));
    let claims = bench
        .auth
        .verify(Some(&format!("Bearer {token}")))
        .ok_or("a token it does not take")?;
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let event = api_gateway_event(
        route,
        &Method::POST,
        path,
        "",
        &headers,
        params,
        claims,
        body.to_string().as_bytes(),
    );
    let request = lambda_http::request::from_str(&event.to_string())?;
    let started = Instant::now();
    let (response, counted) = process
        .measured(shared::runtime::respond(
            bench.app.clone(),
            request,
            handler,
        ))
        .await;
    let took = started.elapsed();
    let line = emf_bytes(process, &counted);
    let body = match response.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text)?,
        _ => Value::Null,
    };
    Ok((response.status().as_u16(), body, line, took))
}

fn emf_bytes(process: &Process, counted: &shared::metrics::Invocation) -> usize {
    process
        .emf
        .line(counted, chrono::Utc::now().timestamp_millis())
        .map_or(0, |line| line.len() + 1)
}

/// `flows` flows one after another, each request, each batch `notify` takes and a sweep as
/// their functions run them, warm: the EMF line each writes and the time each took.
pub async fn as_lambda(flows: usize) -> Result<(), BoxError> {
    let bench = setup_with(|_| {}).await?;
    let routes = Template::load_default()?.routes()?;
    // A deployed function's name: its stack's, its logical id's and SAM's 12 characters.
    let emf = |function: &str| Emf {
        function_name: format!("marketplace-{function}-ABCDEFGHIJKL"),
        ..Emf::from_env()
    };
    let processes = [
        ("POST /jobs", Process::start(emf("CreateJobFunction"))),
        (
            "POST /jobs/{job_id}/applications",
            Process::start(emf("ApplyFunction")),
        ),
        (
            "POST /jobs/{job_id}/hire",
            Process::start(emf("HireFunction")),
        ),
        ("notify, a batch", Process::start(emf("NotifyFunction"))),
        ("sweep, a run", Process::start(emf("SweepFunction"))),
    ];
    for (_, process) in &processes {
        // The first invocation is the cold start's; the rest are what a flow costs.
        process.measured(async {}).await;
    }
    let mut seen: Vec<(Vec<usize>, Vec<Duration>)> = vec![Default::default(); processes.len()];
    let mut note = |i: usize, bytes: usize, took: Duration| {
        seen[i].0.push(bytes);
        seen[i].1.push(took);
    };
    for k in 0..flows {
        let (owner, freelancer) = ("lambda-owner", format!("lambda-f{k}"));
        let (status, job, bytes, took) = invoke(
            &bench,
            &routes,
            &processes[0].1,
            owner,
            "/jobs",
            json!({"title": "Flow", "budget_cents": 100_000}),
        )
        .await?;
        note(0, bytes, took);
        let job_id = job["job_id"]
            .as_str()
            .ok_or(format!("create answered {status}"))?;
        let (status, application, bytes, took) = invoke(
            &bench,
            &routes,
            &processes[1].1,
            &freelancer,
            &format!("/jobs/{job_id}/applications"),
            json!({"bid_cents": 1_000}),
        )
        .await?;
        note(1, bytes, took);
        let application_id = application["application_id"]
            .as_str()
            .ok_or(format!("apply answered {status}"))?;
        let (status, _, bytes, took) = invoke(
            &bench,
            &routes,
            &processes[2].1,
            owner,
            &format!("/jobs/{job_id}/hire"),
            json!({"application_id": application_id}),
        )
        .await?;
        if status != 200 {
            return Err(format!("hire answered {status}").into());
        }
        note(2, bytes, took);
    }
    bench.kit.stack.pipe.pipe_once().await?;
    loop {
        let started = Instant::now();
        let (received, counted) = processes[3]
            .1
            .measured(worker::pump_once(
                &bench.app,
                shared::domain::Consumer::Notify,
                &bench.sqs,
                &bench.queue_url,
                Duration::ZERO,
            ))
            .await;
        if received? == 0 {
            break;
        }
        note(3, emf_bytes(&processes[3].1, &counted), started.elapsed());
    }
    let started = Instant::now();
    let (swept, counted) = processes[4].1.measured(worker::sweep_now(&bench.app)).await;
    swept?;
    note(4, emf_bytes(&processes[4].1, &counted), started.elapsed());

    println!(
        "\nAs Lambda runs them ({flows} flows one after another, warm; notify's time includes its receive and delete here):"
    );
    println!("| invocation | invocations | EMF line, mean | time p50 | p99 |");
    println!("|---|---|---|---|---|");
    for (i, (name, _)) in processes.iter().enumerate() {
        let (bytes, times) = &mut seen[i];
        times.sort();
        println!(
            "| {name} | {} | {:.0} B | {:.2} ms | {:.2} ms |",
            bytes.len(),
            bytes.iter().sum::<usize>() as f64 / bytes.len().max(1) as f64,
            percentile(times, 0.5),
            percentile(times, 0.99)
        );
    }
    Ok(())
}
