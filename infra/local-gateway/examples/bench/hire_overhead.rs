//! `hire-overhead [HIRES]`: a hire through the gateway against its bare calls.

use super::*;

/// `bench hire-overhead N`: N hires one after another through the local gateway, with the
/// queue pumped as `make dev` does, against the calls a hire needs (its one read, then its
/// one transaction) made straight on the same DynamoDB Local through the store. Each pair
/// runs back to back on fresh one-application jobs, so both see the same machine.
pub async fn hire_overhead(hires: usize) -> Result<(), BoxError> {
    let bench = setup_with(|o| {
        o.pump = true;
        o.pipe = true;
    })
    .await?;
    let owner = UserId::parse(test_kit::OWNER).ok_or("user")?;
    let (mut gateway, mut direct) = (Vec::with_capacity(hires), Vec::with_capacity(hires));
    for _ in 0..hires {
        let (job_id, applications) = bench.job_with_applicants(1, 1).await?;
        let path = format!("/jobs/{job_id}/hire");
        let started = Instant::now();
        let (status, _) = bench
            .post(
                test_kit::OWNER,
                &path,
                json!({"application_id": applications[0]}),
            )
            .await?;
        gateway.push(started.elapsed());
        if status != 200 {
            return Err(format!("hire through the gateway answered {status}").into());
        }

        let (job_id, applications) = bench.job_with_applicants(1, 1).await?;
        let (job_id, application_id) = (
            JobId::parse(&job_id).ok_or("job id")?,
            shared::domain::ApplicationId::parse(&applications[0]).ok_or("application id")?,
        );
        let started = Instant::now();
        let (job, application) = bench
            .app
            .store
            .job_and_application(job_id, application_id)
            .await?;
        let hire = shared::domain::transitions::Hire {
            job: job.ok_or("no job")?,
            application: application.ok_or("no application")?,
            caller: owner.clone(),
        };
        bench.app.store.run(hire).await?;
        direct.push(started.elapsed());
    }
    gateway.sort();
    direct.sort();
    let ratio = |p| percentile(&gateway, p) / percentile(&direct, p);
    println!(
        "hire-overhead over {hires} hires: gateway p50={:.2}ms p99={:.2}ms, direct p50={:.2}ms p99={:.2}ms, ratio p50={:.2} p99={:.2}",
        percentile(&gateway, 0.5),
        percentile(&gateway, 0.99),
        percentile(&direct, 0.5),
        percentile(&direct, 0.99),
        ratio(0.5),
        ratio(0.99),
    );
    Ok(())
}
