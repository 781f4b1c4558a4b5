//! `flow-calls [CLIENTS] [FLOWS] [offline]`: the AWS calls of the flows, asynchronous ones
//! included, and the request units DynamoDB would bill for them. The stack runs in this
//! process as `make dev` runs it (the pipe, the pollers feeding `notify` and `index`), every
//! client counted by the round-trip recorder, one recorder for each part (each consumer
//! apart); then one sweep, counted alone. The users are online (`live.rs`: sockets open, so `notify` pushes), unless
//! `offline` is given (no socket: `notify` still looks each recipient's connections up).
//!
//! Units follow DynamoDB's on-demand rules: a write unit per KB of item per item written,
//! twice that for each item of a TransactWriteItems (condition checks included); a read unit
//! per 4 KB strongly consistent, half eventually consistent; each global secondary index
//! whose entry a write adds, changes or removes, a write unit per KB of the entry. Sizes are
//! those of the items as written: every write is read back from the table's stream (old and
//! new images), and an index entry counts as its item (the indexes project every
//! attribute). Then a few flows "as Lambda runs them": each handler in a metrics process,
//! for its EMF line and its time.

#[path = "lambda.rs"]
mod lambda;
#[path = "live.rs"]
mod live;

use crate::{Bench, BoxError, setup_with};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use local_gateway::pipe::{PipeSettings, stream_record_json};
use local_gateway::round_trips::{Background, Call, Recorder, item_size};
use local_gateway::template::Template;
use local_gateway::worker;
use shared::store::keys;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

const IDLE: Duration = Duration::from_secs(10);

/// Flows run one after another as Lambda runs their handlers, for EMF lines and times.
const AS_LAMBDA: usize = 50;

type Item = HashMap<String, AttributeValue>;

/// Calls by operation.
fn by_operation(calls: &[Call]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for call in calls {
        *counts
            .entry(format!("{} {}", call.service, call.operation))
            .or_default() += 1;
    }
    counts
}

/// Write units of the table's own items (indexes apart) the calls took, every item at most
/// `kb` KB.
fn write_units(calls: &[Call], kb: f64) -> Result<f64, BoxError> {
    let mut units = 0.0;
    for call in calls.iter().filter(|c| c.service == "DynamoDB") {
        units += match call.operation.as_str() {
            "TransactWriteItems" => 2.0 * kb * call.items.len() as f64,
            "PutItem" | "UpdateItem" | "DeleteItem" => kb,
            "BatchWriteItem" => return Err("a BatchWriteItem: its items are not recorded".into()),
            _ => 0.0,
        };
    }
    Ok(units)
}

/// Read units the calls took. A Query reads what its filter then drops too, of which only
/// the count is known: each such item is taken at `largest`, the largest item written.
fn read_units(calls: &[Call], largest: usize) -> f64 {
    let chunks = |bytes: usize| (bytes as f64 / 4096.0).ceil().max(1.0);
    calls
        .iter()
        .filter_map(|c| c.read.as_ref().map(|r| (c, r)))
        .map(|(call, read)| {
            let rate = if read.consistent { 1.0 } else { 0.5 };
            let units = if call.operation == "Query" {
                let dropped = read.scanned.saturating_sub(read.returned.len());
                chunks(read.returned.iter().sum::<usize>() + dropped * largest)
            } else {
                // Each key its own read; a key that found nothing costs the smallest unit.
                let missing = read.keys.saturating_sub(read.returned.len());
                read.returned.iter().map(|b| chunks(*b)).sum::<f64>() + missing as f64
            };
            rate * units
        })
        .fold(0.0, |sum, units| sum + units)
}

/// What the table's stream says of one item write.
struct Write {
    kind: &'static str,
    event: String,
    /// The larger of the old and new images.
    bytes: usize,
    /// Index entries added, changed or removed, and their write units.
    index_writes: usize,
    index_units: f64,
    /// Whether the pipe's filter lets it through to the queue, and as how many bytes.
    announced: Option<usize>,
}

fn image(
    image: Option<&HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>,
) -> Option<Item> {
    image.map(|i| serde_dynamo::Item::from(i.clone()).into())
}

/// Every record of the table's stream, from its start: one for each item write.
async fn stream_writes(bench: &Bench) -> Result<Vec<Write>, BoxError> {
    let streams = aws_sdk_dynamodbstreams::Client::new(&shared::app::local_sdk_config(
        &std::env::var("DYNAMODB_ENDPOINT")?,
    ));
    let arn = bench
        .patient
        .describe_table()
        .table_name(&bench.table)
        .send()
        .await?
        .table
        .and_then(|t| t.latest_stream_arn)
        .ok_or("the table has no stream")?;
    let filter = PipeSettings::from_template(&Template::load_default()?)?.filter;
    let (mut records, mut start): (Vec<Record>, Option<String>) = (Vec::new(), None);
    loop {
        let description = streams
            .describe_stream()
            .stream_arn(&arn)
            .set_exclusive_start_shard_id(start)
            .send()
            .await?
            .stream_description
            .ok_or("no stream description")?;
        for shard in description.shards() {
            let mut iterator = streams
                .get_shard_iterator()
                .stream_arn(&arn)
                .shard_id(shard.shard_id().unwrap_or_default())
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await?
                .shard_iterator;
            while let Some(it) = iterator {
                let out = streams.get_records().shard_iterator(it).send().await?;
                let page = out.records.unwrap_or_default();
                iterator = out.next_shard_iterator.filter(|_| !page.is_empty());
                records.extend(page);
            }
        }
        start = description.last_evaluated_shard_id;
        if start.is_none() {
            break;
        }
    }
    let indexes = [keys::USER_INDEX, keys::BOARD_INDEX, keys::DUE_INDEX];
    let mut writes = Vec::with_capacity(records.len());
    for record in &records {
        let change = record
            .dynamodb
            .as_ref()
            .ok_or("a record without its change")?;
        let (old, new) = (
            image(change.old_image.as_ref()),
            image(change.new_image.as_ref()),
        );
        let sized = |i: &Option<Item>| i.as_ref().map_or(0, item_size);
        let bytes = sized(&old).max(sized(&new));
        let (mut index_writes, mut index_units) = (0, 0.0);
        for index in indexes {
            let names = &keys::position_attributes(Some(index))[2..];
            let entry = |i: &Option<Item>| {
                let i = i.as_ref()?;
                let text = |n: &str| i.get(n).and_then(|v| v.as_s().ok()).cloned();
                Some((text(names[0])?, text(names[1])?))
            };
            let kb = |i: &Option<Item>| (sized(i) as f64 / 1024.0).ceil();
            let (was, is) = (entry(&old), entry(&new));
            let (n, units) = match (&was, &is) {
                (None, None) => (0, 0.0),
                (Some(_), None) => (1, kb(&old)),
                (None, Some(_)) => (1, kb(&new)),
                (Some(a), Some(b)) if a == b => (1, kb(&new)),
                (Some(_), Some(_)) => (2, kb(&old) + kb(&new)),
            };
            index_writes += n;
            index_units += units;
        }
        let item = new
            .as_ref()
            .or(old.as_ref())
            .ok_or("a record with no image")?;
        let loaded = audit::items::Table::load(vec![item.clone()], &mut Vec::new());
        let kind = loaded
            .counts
            .keys()
            .next()
            .map_or("unknown", |k| k.as_str());
        let body = stream_record_json(record, &arn);
        writes.push(Write {
            kind,
            event: record
                .event_name()
                .map_or("?".into(), |e| e.as_str().to_owned()),
            bytes,
            index_writes,
            index_units,
            announced: filter.matches(&body).then(|| body.to_string().len()),
        });
    }
    Ok(writes)
}

/// Calls per flow in the window, per second when idle, and beyond what idling would have
/// made in the window, per flow.
fn print_calls(name: &str, window: &[Call], idle: &[Call], secs: f64, flows: usize) {
    let (window, idle) = (by_operation(window), by_operation(idle));
    let mut operations: Vec<&String> = window.keys().chain(idle.keys()).collect();
    operations.sort();
    operations.dedup();
    for op in operations {
        let (w, i) = (
            *window.get(op).unwrap_or(&0) as f64,
            *idle.get(op).unwrap_or(&0) as f64 / IDLE.as_secs_f64(),
        );
        println!(
            "| {name} | {op} | {:.3} | {:.2} | {:.3} |",
            w / flows as f64,
            i,
            (w - i * secs).max(0.0) / flows as f64
        );
    }
}

pub async fn calls(clients: usize, flows: usize, online: bool) -> Result<(), BoxError> {
    // First, while DynamoDB Local is fresh: its writes slow down with the stream records it
    // holds, which the counted flows below leave behind by the thousand.
    lambda::as_lambda(AS_LAMBDA).await?;
    let handlers = Recorder::new();
    let background = Background::default();
    let bench = setup_with(|o| {
        o.pump = true;
        o.pipe = true;
        o.round_trips = Some(handlers.clone());
        o.background_calls = Some(background.clone());
    })
    .await?;
    let sources = [
        ("requests", &handlers),
        ("pipe", &background.pipe),
        ("notify and its pollers", &background.notify),
        ("index and its pollers", &background.index),
    ];
    let snapshot = || -> Vec<Vec<Call>> { sources.iter().map(|(_, r)| r.calls()).collect() };
    let reset = || sources.iter().for_each(|(_, r)| r.reset());

    // The pipe's first pass describes the table and finds its shards; idle from then on.
    tokio::time::sleep(Duration::from_secs(1)).await;
    reset();
    tokio::time::sleep(IDLE).await;
    let idle = snapshot();

    let run = super::run_name();
    // The owners connect before the window: one socket each for the whole run.
    let live = match online {
        true => Some(live::Live::owners(&bench, &run, clients).await?),
        false => None,
    };
    reset();
    let started = Instant::now();
    let done = super::run_with(&bench, clients, flows, &run, |_, freelancer| {
        let (live, bench) = (live.as_ref(), &bench);
        async move {
            match live {
                Some(live) => live.freelancer(bench, freelancer).await,
                None => Ok(()),
            }
        }
    })
    .await?;
    let store = shared::store::Store::new(bench.patient.clone(), bench.table.as_str());
    let queues = [&bench.queue_url, &bench.kit.index_queues.url];
    super::settled(&store, &bench.sqs, &queues.map(String::as_str)).await?;
    if let Some(live) = &live {
        live.freelancers_done().await?;
        disconnected(&handlers, flows).await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let window = snapshot();
    let (largest_push, repeated) = match live {
        Some(live) => live.close_owners(&done).await?,
        None => (0, Vec::new()),
    };
    for (owner, freelancer) in &done {
        for (user, kind) in [(owner, "application_received"), (freelancer, "hired")] {
            let pk = keys::user_pk(&shared::domain::UserId::parse(user).ok_or("user")?);
            let n = bench
                .count_where(pk, keys::NOTIFICATION_SK_PREFIX, Some(("type", kind)))
                .await?;
            if n == 0 {
                return Err(format!("{user} has no {kind} once no event was due").into());
            }
        }
    }

    background.sweep.reset();
    let sweeper = shared::App::with_clients(
        background.sweep.attach(&bench.kit.stack.clients),
        &bench.kit.stack.config,
    );
    let swept = worker::sweep_now(&sweeper).await?;
    let sweep = background.sweep.calls();

    let writes = stream_writes(&bench).await?;
    let largest = writes.iter().map(|w| w.bytes).max().unwrap_or(0);
    let kb = (largest as f64 / 1024.0).ceil();

    println!(
        "flow-calls: {clients} clients, {flows} flows in {secs:.1} s until every event was applied; idle {} s before; users {}",
        IDLE.as_secs(),
        match online {
            true => "online (each owner a socket for the run, each freelancer one for their flow)",
            false => "offline",
        }
    );
    println!("\n| made by | call | per flow | idle, per second | per flow beyond idle |");
    println!("|---|---|---|---|---|");
    for (i, (name, _)) in sources.iter().enumerate() {
        print_calls(name, &window[i], &idle[i], secs, flows);
    }
    println!("\nOne sweep run (its report: {swept:?}):");
    for (op, n) in by_operation(&sweep) {
        println!("  {op}: {n}");
    }

    println!(
        "\nItem writes the stream recorded: {:.2} per flow; largest item {largest} bytes",
        writes.len() as f64 / flows as f64
    );
    let mut kinds: BTreeMap<(&str, &str), (usize, usize, usize, f64)> = BTreeMap::new();
    for w in &writes {
        let entry = kinds.entry((w.kind, w.event.as_str())).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(w.bytes);
        entry.2 += w.index_writes;
        entry.3 += w.index_units;
    }
    println!("| item | write | per flow | largest | index entries written per flow |");
    println!("|---|---|---|---|---|");
    for ((kind, event), (n, bytes, index_writes, _)) in &kinds {
        println!(
            "| {kind} | {event} | {:.2} | {bytes} B | {:.2} |",
            *n as f64 / flows as f64,
            *index_writes as f64 / flows as f64
        );
    }
    let counted_writes: usize = window
        .iter()
        .flatten()
        .filter(|c| c.service == "DynamoDB")
        .map(|c| match c.operation.as_str() {
            "TransactWriteItems" => c
                .items
                .iter()
                .filter(|a| **a != "ConditionCheckItem")
                .count(),
            "PutItem" | "UpdateItem" | "DeleteItem" => 1,
            _ => 0,
        })
        .sum();
    println!(
        "(item writes the recorders counted in the window, condition checks apart: {counted_writes}; the stream holds {})",
        writes.len()
    );

    let per_flow = |x: f64| x / flows as f64;
    let announced: Vec<usize> = writes.iter().filter_map(|w| w.announced).collect();
    println!("\nRequest units per flow (items at most {kb} KB each):");
    for (i, (name, _)) in sources.iter().enumerate() {
        println!(
            "  {name}: {:.2} write units, {:.2} read units",
            per_flow(write_units(&window[i], kb)?),
            per_flow(read_units(&window[i], largest))
        );
        for (call, calls) in by_read(&window[i]) {
            let sizes: Vec<usize> = calls
                .iter()
                .filter_map(|c| c.read.as_ref())
                .flat_map(|r| r.returned.iter().copied())
                .collect();
            println!(
                "    {call}: {:.2} read units, {:.2} items returned per call, the largest {} bytes",
                per_flow(read_units(&calls, largest)),
                sizes.len() as f64 / calls.len() as f64,
                sizes.iter().max().unwrap_or(&0)
            );
        }
    }
    if online {
        println!(
            "  the largest message pushed: {largest_push} bytes; pushed twice to an owner: {}",
            repeated.len()
        );
        for line in repeated.iter().take(10) {
            println!("    {line}");
        }
    }
    println!(
        "  index entries: {:.2} writes, {:.2} write units",
        per_flow(writes.iter().map(|w| w.index_writes).sum::<usize>() as f64),
        per_flow(writes.iter().map(|w| w.index_units).sum::<f64>())
    );
    println!(
        "  one sweep run: {:.2} write units, {:.2} read units",
        write_units(&sweep, kb)?,
        read_units(&sweep, largest)
    );
    println!(
        "  events through the pipe's filter: {:.2} per flow, the largest message {} bytes",
        per_flow(announced.len() as f64),
        announced.iter().max().unwrap_or(&0)
    );
    Ok(())
}

/// A source's reads by operation and consistency, for the read units of each.
fn by_read(calls: &[Call]) -> BTreeMap<String, Vec<Call>> {
    let mut reads: BTreeMap<String, Vec<Call>> = BTreeMap::new();
    for call in calls {
        if let Some(read) = &call.read {
            let consistency = match read.consistent {
                true => "consistent",
                false => "eventually consistent",
            };
            reads
                .entry(format!(
                    "{} {}, {consistency}",
                    call.service, call.operation
                ))
                .or_default()
                .push(call.clone());
        }
    }
    reads
}

/// Waits until every freelancer's `$disconnect` has forgotten their connection (one
/// DeleteItem each, the only one the requests' and routes' clients make), so that the window
/// holds them all.
async fn disconnected(handlers: &Recorder, flows: usize) -> Result<(), BoxError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let deletes = handlers
            .calls()
            .iter()
            .filter(|c| c.operation == "DeleteItem" && c.end.is_some())
            .count();
        if deletes >= flows {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(
                format!("{deletes} of {flows} connections forgotten after their close").into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
