//! `notify [EVENTS]`: events applied per second by `notify`.

use super::*;

pub async fn notify_throughput(events: usize) -> Result<(), BoxError> {
    let bench = setup(false, false).await?;
    // Applications announce themselves to the owner: `events` outbox events, none sent.
    bench.job_with_applicants(1, events).await?;
    // Each as its queue delivers it: the bus's envelope around the outbox item's body.
    let bodies = test_kit::outbox_bodies(&bench.kit).await;
    let started = Instant::now();
    for batch in bodies.chunks(10) {
        let event = test_kit::sqs_event(batch);
        let response = shared::handlers::notify(bench.app.clone(), event).await;
        if !response.batch_item_failures.is_empty() {
            return Err("a batch item failed".into());
        }
    }
    let elapsed = started.elapsed();
    let owner = UserId::parse(test_kit::OWNER).ok_or("user")?;
    let delivered = bench
        .count(keys::user_pk(&owner), keys::NOTIFICATION_SK_PREFIX, None)
        .await?;
    // The job's own `job_posted` is among the events and notifies nobody.
    println!(
        "notify: {} events in batches of 10 in {:.2}s = {:.0} notifications/s; inbox holds {delivered}",
        bodies.len(),
        elapsed.as_secs_f64(),
        delivered as f64 / elapsed.as_secs_f64(),
    );
    if delivered != events {
        return Err("not every event became one notification".into());
    }
    Ok(())
}
