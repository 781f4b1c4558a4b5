//! `hire-race [N] [OPENINGS]`: N hires of one job's applications at once.

use super::*;

pub async fn hire_race(n: usize, openings: u32) -> Result<(), BoxError> {
    let bench = setup(true, false).await?;
    let (job_id, applications) = bench.job_with_applicants(openings, n).await?;
    let path = format!("/jobs/{job_id}/hire");
    let started = Instant::now();
    let replies = join_all(applications.iter().map(|id| {
        let (bench, path) = (&bench, &path);
        async move {
            let t = Instant::now();
            let r = bench
                .post(test_kit::OWNER, path, json!({"application_id": id}))
                .await;
            (r.map(|(s, _)| s).unwrap_or(0), t.elapsed())
        }
    }))
    .await;
    let wall = started.elapsed();
    let mut codes = BTreeMap::new();
    let mut latencies: Vec<Duration> = replies.iter().map(|(_, d)| *d).collect();
    latencies.sort();
    for (status, _) in &replies {
        *codes.entry(*status).or_insert(0) += 1;
    }
    let hired = bench
        .count(
            keys::job_pk(JobId::parse(&job_id).ok_or("id")?),
            keys::APPLICATION_SK_PREFIX,
            Some("hired"),
        )
        .await?;
    let winners = codes.get(&200).copied().unwrap_or(0);
    println!(
        "hire-race n={n} openings={openings}: winners={winners} codes={codes:?} p50={:.0}ms p99={:.0}ms max={:.0}ms wall={:.2}s hired_in_table={hired}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
        wall.as_secs_f64()
    );
    // Exactly `openings` hires in the table, whatever the answers. An answer is a win, a
    // lost race (409), or 503 when the engine's queue outlasted the Lambda's call budget: the
    // client may retry it, and it was never half done. Anything else is wrong.
    if winners > openings as usize
        || hired != openings as usize
        || codes.keys().any(|c| ![200, 409, 503].contains(c))
    {
        return Err("wrong outcome".into());
    }
    Ok(())
}
