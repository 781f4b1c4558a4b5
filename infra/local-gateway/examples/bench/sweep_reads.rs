//! `sweep-reads [DISPATCHED] [DUE]`: what a sweep reads, against what the table holds.

use super::*;

pub async fn sweep_reads(dispatched: usize, due: usize) -> Result<(), BoxError> {
    let bench = setup(true, false).await?;
    let long_ago = shared::time::now() - chrono::Duration::hours(1);
    let mut requests = Vec::with_capacity(dispatched + due);
    for i in 0..dispatched + due {
        let event = OutboxEvent::new(
            EventKind::JobClosed {
                job_id: JobId::generate(),
                reason: shared::domain::CloseReason::Cancelled,
            },
            long_ago,
        );
        let delivery = event
            .deliveries()
            .next()
            .ok_or("an event without consumers")?;
        let row = OutboxRow::of(&delivery)?;
        let still_due = i < due;
        let item = serde_dynamo::to_item(keys::Row {
            pk: keys::outbox_pk(event.event_id),
            sk: keys::outbox_sk(row.consumer),
            index: keys::IndexKeys {
                duepk: still_due.then(|| keys::Due::Outbox.pk(event.event_id)),
                duesk: still_due.then(|| keys::due_at(long_ago, event.event_id)),
                ..keys::IndexKeys::default()
            },
            body: &row,
        })?;
        requests.push(
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build()?)
                .build(),
        );
    }
    for chunk in requests.chunks(25) {
        let mut pending = Some(std::collections::HashMap::from([(
            bench.table.clone(),
            chunk.to_vec(),
        )]));
        while let Some(items) = pending.take().filter(|p| !p.is_empty()) {
            pending = bench
                .dynamo
                .batch_write_item()
                .set_request_items(Some(items))
                .send()
                .await?
                .unprocessed_items;
        }
    }
    let started = Instant::now();
    let report = shared::handlers::sweep(
        &bench.app,
        shared::time::now(),
        Instant::now() + Duration::from_secs(55),
    )
    .await?;
    println!(
        "sweep-reads: {dispatched} dispatched + {due} due outbox events: read={} redriven={} in {:.2}s",
        report.read,
        report.redriven,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
