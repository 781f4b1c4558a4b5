//! `idempotency [REQUESTS]`: a POST with an Idempotency-Key against the same POST without one.

use super::*;

/// `POST /jobs` with an `Idempotency-Key` against the same POST without one, and the replay
/// of the keyed one, interleaved one after another so that the three share the machine's
/// noise: latency, and the write units each costs.
pub async fn idempotency(requests: usize) -> Result<(), BoxError> {
    let bench = setup_with(|o| o.stream = false).await?;
    let body = json!({"title": "Bench", "budget_cents": 10_000});
    let kinds = ["without a key", "with a key", "its replay"];
    let mut latencies: [Vec<Duration>; 3] = Default::default();
    for i in 0..requests {
        let key = format!("bench-{i}");
        for (kind, key) in [None, Some(key.as_str()), Some(key.as_str())]
            .into_iter()
            .enumerate()
        {
            let started = Instant::now();
            let (status, _, replayed) = bench
                .post_keyed("owner", "/jobs", body.clone(), key)
                .await?;
            latencies[kind].push(started.elapsed());
            if status != 201 || replayed != (kind == 2) {
                return Err(format!("{}: {status}, replayed {replayed}", kinds[kind]).into());
            }
        }
    }
    // What each kind of item costs to write in a transaction, by DynamoDB's rule (2 write
    // units per KB or part of one), from the items as the table holds them: DynamoDB Local
    // reports a transaction's capacity from its first item only (probed: 2.0 units for one
    // to four 100-byte puts), and asking it for that slows its transactions down.
    let mut wcu: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for item in audit::read_table(&bench.dynamo, &bench.table, 2).await? {
        let text = |k: &str| {
            item.get(k)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        let kind = match (text(keys::PK), text(keys::SK)) {
            (_, sk) if sk == keys::JOB_SK => "job",
            (_, sk) if sk.starts_with(keys::EVENT_SK_PREFIX) => "audit record",
            (pk, _) if pk.starts_with(keys::IDEMPOTENCY_PREFIX) => "idempotency record",
            _ => continue,
        };
        let entry = wcu.entry(kind).or_default();
        entry.0 += 2.0 * (local_gateway::round_trips::item_size(&item) as f64 / 1024.0).ceil();
        entry.1 += 1;
    }
    let mean = |kind: &str| wcu.get(kind).map_or(0.0, |(units, n)| units / *n as f64);
    if wcu.get("job").map(|w| w.1) != Some(2 * requests)
        || wcu.get("idempotency record").map(|w| w.1) != Some(requests)
    {
        return Err(format!("the table holds {wcu:?}, not {requests} creates of each kind").into());
    }
    // A create announces nothing: its transaction is the job and its audit record.
    let plain = mean("job") + mean("audit record");
    println!(
        "write units by DynamoDB's rule: without a key {plain:.1} (job {:.1}, audit record {:.1}), with a key {:.1} (its record {:.1} more); a replay writes nothing (one transaction, cancelled by the record's condition)",
        mean("job"),
        mean("audit record"),
        plain + mean("idempotency record"),
        mean("idempotency record"),
    );
    for l in &mut latencies {
        l.sort();
    }
    for (kind, l) in latencies.iter().enumerate() {
        println!(
            "POST /jobs {}: p50={:.2}ms p99={:.2}ms (×{:.2} p50, ×{:.2} p99 of without a key)",
            kinds[kind],
            percentile(l, 0.5),
            percentile(l, 0.99),
            percentile(l, 0.5) / percentile(&latencies[0], 0.5),
            percentile(l, 0.99) / percentile(&latencies[0], 0.99),
        );
    }
    Ok(())
}
