//! `delay [HIRES]`: from a hire's 200 to its notification in the inbox. Each hire waits a
//! random part of the pipe's poll interval first, as `push-delay`'s do: hires one straight
//! after another lock onto the pipe's timer (each starts just after a pass, so each waits
//! nearly a whole interval) and would measure the timer, not the pipeline.

use super::*;

pub async fn delay(hires: usize) -> Result<(), BoxError> {
    let bench = setup(true, true).await?;
    let mut delays = Vec::with_capacity(hires);
    for i in 0..hires {
        let freelancer = format!("d{i}");
        tokio::time::sleep(random_part_of(local_gateway::pipe::POLL_INTERVAL)).await;
        bench
            .hire_on_a_new_job("owner", &freelancer, "Delay")
            .await?;
        let hired_at = Instant::now();
        loop {
            let inbox = bench.get(&freelancer, "/me/notifications").await?;
            if inbox["items"]
                .as_array()
                .is_some_and(|a| a.iter().any(|n| n["type"] == "hired"))
            {
                delays.push(hired_at.elapsed());
                break;
            }
            if hired_at.elapsed() > Duration::from_secs(30) {
                return Err("notification never arrived".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    delays.sort();
    println!(
        "delay hire→inbox over {hires} hires (one after another, each after a random pause below {:?}): p50={:.1}ms p99={:.1}ms max={:.1}ms",
        local_gateway::pipe::POLL_INTERVAL,
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        percentile(&delays, 1.0)
    );
    Ok(())
}
