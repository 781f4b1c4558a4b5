//! `apply-burst APPLICANTS IN_FLIGHT JOBS`: APPLICANTS freelancers apply, IN_FLIGHT requests
//! at a time, spread over JOBS open jobs of one owner (1: a popular job), through the
//! gateway with the stream, the pipe and the pollers running as under `make dev`. Each
//! request carries its own `Idempotency-Key`; a 503 is sent again with it until it is
//! answered, as a well-behaved client does, so that the outcome can be checked whole.
//!
//! Reports the first try's answers (201 rate, 503s, p50/p99), applications per second and
//! how many 503s had in fact committed (their retry replayed a 201). Fails on a wrong
//! outcome only: applications lost or doubled, the owner's inbox not holding one
//! `application_received` per application at positions 1..N, a message dead-lettered, or
//! an audit violation (a parked event among them).

use super::{BoxError, percentile, setup};
use futures::StreamExt;
use serde_json::json;
use std::time::{Duration, Instant};

pub async fn apply_burst(applicants: usize, in_flight: usize, jobs: usize) -> Result<(), BoxError> {
    let bench = setup(true, true).await?;
    let mut job_ids = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        let (_, job) = bench
            .post(
                "owner",
                "/jobs",
                json!({"title": "Burst", "budget_cents": 1_000}),
            )
            .await?;
        job_ids.push(job["job_id"].as_str().ok_or("no job id")?.to_owned());
    }

    let started = Instant::now();
    let first: Vec<(usize, u16, Duration)> = futures::stream::iter(0..applicants)
        .map(|i| {
            let (bench, path) = (&bench, format!("/jobs/{}/applications", job_ids[i % jobs]));
            async move {
                let t = Instant::now();
                let key = format!("burst-{i}");
                let reply = bench
                    .post_keyed(
                        &format!("b{i}"),
                        &path,
                        json!({"bid_cents": 500}),
                        Some(&key),
                    )
                    .await;
                (i, reply.map_or(0, |(status, _, _)| status), t.elapsed())
            }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    let wall = started.elapsed();

    let created = first.iter().filter(|(_, s, _)| *s == 201).count();
    let unavailable: Vec<usize> = first
        .iter()
        .filter(|(_, s, _)| *s == 503)
        .map(|(i, _, _)| *i)
        .collect();
    if let Some((i, status, _)) = first.iter().find(|(_, s, _)| *s != 201 && *s != 503) {
        return Err(format!("applicant {i} answered {status}").into());
    }
    // Sent again with its key until answered: a 503 that had committed replays its 201.
    let mut committed_anyway = 0;
    for i in &unavailable {
        let path = format!("/jobs/{}/applications", job_ids[i % jobs]);
        let key = format!("burst-{i}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, _, replayed) = bench
                .post_keyed(
                    &format!("b{i}"),
                    &path,
                    json!({"bid_cents": 500}),
                    Some(&key),
                )
                .await?;
            match status {
                201 => {
                    committed_anyway += usize::from(replayed);
                    break;
                }
                503 if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                other => return Err(format!("applicant {i}'s retry answered {other}").into()),
            }
        }
    }

    let mut latencies: Vec<Duration> = first.iter().map(|(_, _, d)| *d).collect();
    latencies.sort();
    println!(
        "apply-burst {applicants} applicants, {in_flight} in flight, {jobs} job(s): first try \
         201 {created} ({:.1} %), 503 {} ({committed_anyway} had committed); \
         {:.0} applications/s; p50={:.0}ms p99={:.0}ms max={:.0}ms",
        100.0 * created as f64 / applicants as f64,
        unavailable.len(),
        applicants as f64 / wall.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );
    check_outcome(&bench, &job_ids, applicants).await
}

/// Every application once, the owner told of each once at gapless positions, the audit
/// clean.
async fn check_outcome(
    bench: &super::Bench,
    job_ids: &[String],
    applicants: usize,
) -> Result<(), BoxError> {
    let mut listed = 0;
    for job_id in job_ids {
        listed += bench
            .count(
                shared::store::keys::job_pk(
                    shared::domain::JobId::parse(job_id).ok_or("a job id")?,
                ),
                shared::store::keys::APPLICATION_SK_PREFIX,
                None,
            )
            .await?;
    }
    if listed != applicants {
        return Err(format!("{listed} applications for {applicants} applicants").into());
    }
    // The owner's inbox fills as the pipe and the pollers deliver.
    let deadline = Instant::now() + Duration::from_secs(120);
    let positions = loop {
        let positions = inbox_positions(bench).await?;
        if positions.len() >= applicants || Instant::now() > deadline {
            break positions;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    if positions != (1..=applicants as u64).collect::<Vec<_>>() {
        return Err(format!(
            "the owner's inbox holds {} notifications, not positions 1..={applicants}",
            positions.len()
        )
        .into());
    }
    // Nothing dead-lettered on the way: every delivery to the owner's inbox went through.
    let dlq = &bench.kit.stack.queues[&shared::domain::Consumer::Notify].dead_letter_url;
    let dead = bench
        .kit
        .queue_count(
            dlq,
            aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
        )
        .await;
    if dead > 0 {
        return Err(format!("{dead} messages in notify's DLQ").into());
    }
    let items = audit::read_table(&bench.patient, &bench.table, 2).await?;
    let report = audit::check(items, &audit::Settings::at(shared::time::now()));
    if !report.is_clean() {
        return Err(format!("audit: {report}").into());
    }
    println!(
        "  {listed} applications listed, owner's inbox positions 1..={applicants}, audit clean"
    );
    Ok(())
}

/// The positions of the owner's inbox, oldest first, as `GET /me/notifications?after=`
/// pages them.
async fn inbox_positions(bench: &super::Bench) -> Result<Vec<u64>, BoxError> {
    let mut positions = Vec::new();
    loop {
        let after = positions.last().copied().unwrap_or(0);
        let page = bench
            .get(
                "owner",
                &format!("/me/notifications?after={after}&limit=100"),
            )
            .await?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            return Ok(positions);
        }
        positions.extend(items.iter().filter_map(|n| n["position"].as_u64()));
    }
}
