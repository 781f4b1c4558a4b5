//! `make chaos`: a stack of its own (DynamoDB Local on disk, the SQS emulator, the local
//! gateway), many well-behaved clients doing everything a marketplace does, faults injected
//! on a schedule drawn from the seed, then, once the stack is quiet, proof that nothing was
//! lost or doubled: [`checks`] and the audit of the whole table.

pub mod api;
pub mod checks;
pub mod faults;
pub mod settings;
pub mod sockets;
pub mod stack;
pub mod summary;
pub mod switch;
pub mod workload;

use api::Api;
use checks::Finding;
use faults::Window;
use settings::Settings;
use sockets::Holder;
use stack::Stack;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use summary::Summary;
use tokio::time::Instant;
use workload::{Client, World};

pub async fn run(settings: &Settings) -> Result<Summary, String> {
    let stack = Stack::start(settings.seed, settings.broken).await?;
    let dir = stack.dir().to_owned();
    let api = Api::new(stack.api(), Instant::now());
    let dynamodb = stack.dynamodb_endpoint();
    let stack = Arc::new(tokio::sync::Mutex::new(stack));
    let world = Arc::new(Mutex::new(World::default()));
    let windows = Arc::new(Mutex::new(Vec::<Window>::new()));

    // Each client's owner and first freelancer hold a live socket throughout.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let holders: Vec<Arc<Mutex<Holder>>> =
        (0..settings.clients * 2).map(|_| Arc::default()).collect();
    let socket_tasks: Vec<_> = holders
        .iter()
        .enumerate()
        .map(|(i, holder)| {
            let user = if i % 2 == 0 {
                workload::owner(i / 2)
            } else {
                workload::freelancer(i / 2, 0)
            };
            tokio::spawn(sockets::hold(
                api.base().to_owned(),
                user.clone(),
                api.token(&user),
                holder.clone(),
                stopped.clone(),
            ))
        })
        .collect();

    let schedule = faults::schedule(settings.seed, settings.load);
    let injector = tokio::spawn(faults::inject(
        stack.clone(),
        schedule,
        api.start,
        windows.clone(),
    ));
    let until = api.start + settings.load;
    let clients = (0..settings.clients).map(|i| {
        tokio::spawn(Client::new(i, settings.seed, api.clone(), world.clone()).run(until))
    });
    for client in futures::future::join_all(clients).await {
        client.map_err(|e| format!("a client failed: {e}"))?;
    }
    let load_ended = api.start.elapsed();
    injector
        .await
        .map_err(|e| format!("the injector failed: {e}"))??;

    let (quiet_after, audit) = wait_for_quiet(&dynamodb, settings.settle).await?;
    let pipe = checks::pipe_delivers_and_pushes(&api, &world).await;
    // The last pushes of what settled are on their way, and an idle sync catches a lost one.
    tokio::time::sleep(sockets::IDLE_SYNC + Duration::from_secs(2)).await;
    let _ = stop.send(true);
    for task in socket_tasks {
        let _ = task.await;
    }

    let owners: Vec<String> = (0..settings.clients).map(workload::owner).collect();
    let freelancers: Vec<String> = (0..settings.clients)
        .flat_map(|c| {
            (0..workload::FREELANCERS_PER_CLIENT).map(move |k| workload::freelancer(c, k))
        })
        .collect();
    let log_before_checks = api.log.lock().unwrap().clone();
    let windows = windows.lock().unwrap().clone();
    let mut findings = checks::answers(&log_before_checks, &windows);
    findings.extend(pipe);
    let world = std::mem::take(&mut *world.lock().unwrap());
    findings.extend(checks::marketplace(&api, &world, &owners, &freelancers).await);
    let holders: Vec<Holder> = holders
        .iter()
        .map(|h| std::mem::take(&mut *h.lock().unwrap()))
        .collect();
    let mut inboxes = BTreeMap::new();
    for holder in &holders {
        match checks::read_inbox(&api, &holder.user).await {
            Ok(items) => {
                inboxes.insert(holder.user.clone(), items);
            }
            Err(f) => findings.push(f),
        }
    }
    findings.extend(checks::sockets(&holders, &inboxes));
    findings.extend(audit.violations.iter().map(|v| Finding {
        check: "audit",
        detail: v.to_string(),
    }));
    stack.lock().await.stop();
    Ok(Summary::new(
        settings,
        &log_before_checks,
        &windows,
        load_ended,
        quiet_after,
        findings,
        dir,
    ))
}

/// Audits the table until nothing is left to settle (nothing due, nothing pending on a
/// closed job, every index and count in step, at zero delays) or `within` has passed: the last audit, and how long the stack took to go quiet. What cannot settle (a
/// double hire, a broken inbox) is in the report either way.
async fn wait_for_quiet(
    dynamodb: &str,
    within: Duration,
) -> Result<(Option<Duration>, audit::Report), String> {
    use audit::Check::{Findable, PendingAfterClose, StuckOutbox, SuggestCount};
    let client = audit::dynamo_client(Some(dynamodb)).await;
    let start = Instant::now();
    loop {
        let items = audit::read_table(&client, stack::TABLE, 4)
            .await
            .map_err(|e| format!("reading the table: {e}"))?;
        let settings = audit::Settings {
            fanout_delay: chrono::Duration::zero(),
            redrive_window: chrono::Duration::zero(),
            ..audit::Settings::at(shared::time::now())
        };
        let report = audit::check(items, &settings);
        let settling = report.violations.iter().any(|v| {
            matches!(
                v.check,
                StuckOutbox | PendingAfterClose | Findable | SuggestCount
            )
        });
        if !settling {
            return Ok((Some(start.elapsed()), report));
        }
        if start.elapsed() > within {
            return Ok((None, report));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
