//! `sweep`: the scheduled sweeper. Expires open jobs past `expires_at` and funded contracts
//! past `release_deadline`, re-sends outbox events still undispatched after the redrive
//! delay, then closes connections whose token expired. Every step reads the sparse due index (never a Scan), acts with
//! conditional writes, and stops before the time budget runs out; the next run continues.

use crate::App;
use crate::domain::transitions::{ExpireContract, ExpireJob};
use crate::domain::{Connection, Contract, Job};
use crate::metrics::{self, Unit};
use crate::store::keys::{self, Due};
use crate::store::{Committed, OutboxRow, PageKey, StoreError};
use crate::telemetry::error_chain;
use crate::time::{self, Timestamp};
use serde::Serialize;
use std::time::{Duration, Instant};

const PAGE: u32 = 25;

/// How many times an event is sent again before it is parked: with the default 60 s delay,
/// the waits double from 2 to 32 minutes, an hour of retries in all, far past a queue that
/// is merely backed up and a `notify` that is failing for a while.
pub const REDRIVES_BEFORE_PARKING: u32 = 5;

/// An event is first sent again `delay` after it was written; after the n-th send it waits
/// `delay × 2^n`. The due index holds when it was last sent pushed ahead by the rest of
/// that wait, so one query (`DUESK < now - delay`) finds what is due.
fn redrive_wait(delay: Duration, attempts: u32) -> chrono::Duration {
    let delay = chrono::Duration::from_std(delay).unwrap_or_default();
    delay * ((1 << attempts.min(16)) - 1)
}
/// An item is started only with this much time left: every call it makes is itself made
/// only if it ends before the deadline (the store and the publisher check), so one call and
/// the answer is the most an item can need to stop cleanly.
const MARGIN: Duration = crate::deadline::CALL.saturating_add(crate::deadline::RESERVE);

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub expired_jobs: usize,
    pub expired_contracts: usize,
    /// Outbox events this run claimed and sent again.
    pub redriven: usize,
    /// Connections closed because their token expired.
    pub closed_connections: usize,
    /// Due items someone else (a hire, a release, another sweeper) changed first.
    pub skipped: usize,
    /// Due items that could not be read or acted on; they stay due for the next run.
    pub failed: usize,
    /// Events sent too often without being applied, taken out of the sweeps (see
    /// [`REDRIVES_BEFORE_PARKING`]).
    pub parked: usize,
    /// Items read from the due index: what the sweep cost, in reads.
    pub read: usize,
    /// It stopped for time with due work left; the next run continues.
    pub out_of_time: bool,
    /// How long ago the oldest event still due that this run saw was written, in seconds:
    /// an event the pipe and the redrives keep failing to deliver grows it past any
    /// redrive delay. 0 when the run read the whole outbox index and found none; `None`
    /// when it saw none but did not read it all (out of time, a partition unreadable), so
    /// that a starved run never reports "nothing overdue".
    pub oldest_due_secs: Option<i64>,
}

impl SweepReport {
    /// The run's work as metrics: what the alarms on failed, parked and long-due events
    /// watch.
    fn count(&self) {
        metrics::count("SweepExpiredJobs", self.expired_jobs);
        metrics::count("SweepExpiredContracts", self.expired_contracts);
        metrics::count("SweepRedriven", self.redriven);
        metrics::count("SweepClosedConnections", self.closed_connections);
        // Zeros too: an alarm on a metric that is never written has no data to clear it.
        metrics::record("SweepParked", self.parked as f64, Unit::Count);
        metrics::record("SweepFailed", self.failed as f64, Unit::Count);
        metrics::record(
            "SweepOutOfTime",
            f64::from(u8::from(self.out_of_time)),
            Unit::Count,
        );
        if let Some(age) = self.oldest_due_secs {
            metrics::record("OutboxOldestDueAge", age as f64, Unit::Seconds);
        }
    }
}

struct Budget(Instant);

impl Budget {
    fn spent(&self) -> bool {
        Instant::now() + MARGIN >= self.0
    }
}

/// One run of the schedule: `tick` is the event EventBridge sent. The sweep runs at the
/// time it starts, not the tick's: a tick delivered late (EventBridge retries one for up
/// to a minute) must not expire less than is due now.
pub async fn scheduled(
    app: &App,
    tick: aws_lambda_events::event::eventbridge::EventBridgeEvent,
    deadline: Instant,
) -> Result<SweepReport, StoreError> {
    tracing::info!(
        tick = tick.id.as_deref().unwrap_or_default(),
        fired_at = tick.time.map(time::format).unwrap_or_default(),
        "scheduled sweep"
    );
    sweep(app, time::now(), deadline).await
}

pub async fn sweep(
    app: &App,
    now: Timestamp,
    deadline: Instant,
) -> Result<SweepReport, StoreError> {
    let app = &app.until(crate::deadline::Deadline::at(deadline));
    let budget = &Budget(deadline);
    let mut report = SweepReport::default();
    let (mut finished, jobs) = each_due(app, Due::Job, now, budget, &mut report, |jobs| {
        one_by_one(jobs, budget, Due::Job, move |job: Job| async move {
            tracing::info!(job_id = %job.job_id, "expiring job");
            expired(app.store.run_at(ExpireJob { job }, now).await)
        })
    })
    .await;
    report.expired_jobs = jobs;
    if finished {
        let contracts;
        (finished, contracts) = each_due(app, Due::Contract, now, budget, &mut report, |due| {
            one_by_one(due, budget, Due::Contract, move |c: Contract| async move {
                tracing::info!(contract_id = %c.contract_id, "expiring contract");
                let contract = c;
                expired(app.store.run_at(ExpireContract { contract }, now).await)
            })
        })
        .await;
        report.expired_contracts = contracts;
    }
    if finished {
        let due_before = now - chrono::Duration::from_std(app.redrive_delay).unwrap_or_default();
        let failed_before = report.failed;
        let redriven;
        (finished, redriven) = each_due(
            app,
            Due::Outbox,
            due_before,
            budget,
            &mut report,
            |rows: Vec<OutboxRow>| async move {
                // Claim one by one, send the claimed together (ten to a SendMessageBatch).
                let mut tally = Tally {
                    oldest_secs: rows.iter().map(|r| (now - r.created_at).num_seconds()).max(),
                    ..Tally::default()
                };
                let mut claimed = Vec::new();
                for row in rows {
                    if budget.spent() {
                        tally.out_of_time = true;
                        break;
                    }
                    // When the claim is made, not when the sweep started.
                    let at = time::now().max(now);
                    if row.attempts >= REDRIVES_BEFORE_PARKING {
                        tracing::error!(event_id = %row.event_id, consumer = %row.consumer, attempts = row.attempts, "event parked: sent too often without its consumer applying it");
                        match app.store.park_outbox(&row, at).await {
                            Ok(true) => tally.parked += 1,
                            other => tally.count(Due::Outbox, other),
                        }
                        continue;
                    }
                    let due_again = at + redrive_wait(app.redrive_delay, row.attempts + 1);
                    match app.store.claim_outbox(&row, at, due_again).await {
                        Ok(true) => claimed.push(row),
                        other => tally.count(Due::Outbox, other),
                    }
                }
                let sent = app.publisher.send(&claimed, app.store.deadline()).await;
                tally.done += sent.len();
                // Claimed but not sent: due again after its backoff.
                tally.failed += claimed.len() - sent.len();
                tally
            },
        )
        .await;
        report.redriven = redriven;
        if finished && report.failed == failed_before {
            // Every partition read, nothing unreadable: what it saw is all there is.
            report.oldest_due_secs.get_or_insert(0);
        }
    }
    if finished {
        let closed;
        (finished, closed) = each_due(app, Due::Connection, now, budget, &mut report, |due| {
            one_by_one(
                due,
                budget,
                Due::Connection,
                move |c: Connection| async move { close_expired(app, c).await },
            )
        })
        .await;
        report.closed_connections = closed;
    }
    report.out_of_time = !finished;
    tracing::info!(
        expired_jobs = report.expired_jobs,
        closed_connections = report.closed_connections,
        expired_contracts = report.expired_contracts,
        redriven = report.redriven,
        parked = report.parked,
        skipped = report.skipped,
        failed = report.failed,
        read = report.read,
        out_of_time = report.out_of_time,
        at = %time::format(now),
        "sweep done"
    );
    report.count();
    Ok(report)
}

/// What a page of due work came to.
#[derive(Debug, Default)]
struct Tally {
    /// Acted on: expired, or sent.
    done: usize,
    /// Someone else changed it first, or another sweeper claimed it.
    skipped: usize,
    /// Could not be acted on; it stays due for the next run.
    failed: usize,
    /// Events parked.
    parked: usize,
    /// The time budget ran out within the page.
    out_of_time: bool,
    /// How long ago the page's oldest item was written, in seconds, for outbox events.
    oldest_secs: Option<i64>,
}

impl Tally {
    /// Counts one item: acted on (true), changed by someone else first (false), or failed,
    /// which is logged and never allowed to stop the items behind it.
    fn count(&mut self, kind: Due, outcome: Result<bool, StoreError>) {
        match outcome {
            Ok(true) => self.done += 1,
            Ok(false) => self.skipped += 1,
            Err(e) => {
                tracing::warn!(?kind, error = %error_chain(&e), "due item failed; left for the next run");
                self.failed += 1;
            }
        }
    }
}

/// Acts on a page's items one after another while the budget lasts.
async fn one_by_one<T, F, Fut>(items: Vec<T>, budget: &Budget, kind: Due, act: F) -> Tally
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<bool, StoreError>>,
{
    let mut tally = Tally::default();
    for item in items {
        if budget.spent() {
            tally.out_of_time = true;
            break;
        }
        tally.count(kind, act(item).await);
    }
    tally
}

/// Pages through every partition of one kind of due work, handing each page to `on_page`,
/// until none is left or the time budget is spent; returns whether it finished and how many
/// items were acted on. A partition that cannot be read is logged and counted, and the
/// others are still swept.
async fn each_due<T, F, Fut>(
    app: &App,
    kind: Due,
    before: Timestamp,
    budget: &Budget,
    report: &mut SweepReport,
    on_page: F,
) -> (bool, usize)
where
    T: serde::de::DeserializeOwned,
    F: Fn(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = Tally>,
{
    let mut done = 0;
    for partition in kind.partitions(rand::random_range(0..keys::DUE_SHARDS)) {
        let mut start: Option<PageKey> = None;
        loop {
            if budget.spent() {
                return (false, done);
            }
            let page = match app.store.due::<T>(&partition, before, PAGE, start).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(%partition, error = %error_chain(&e), "due index unreadable");
                    report.failed += 1;
                    break;
                }
            };
            report.read += page.read;
            report.failed += page.unreadable;
            let tally = on_page(page.items).await;
            done += tally.done;
            report.skipped += tally.skipped;
            report.failed += tally.failed;
            report.parked += tally.parked;
            report.oldest_due_secs = report.oldest_due_secs.max(tally.oldest_secs);
            if tally.out_of_time {
                return (false, done);
            }
            start = page.next;
            if start.is_none() {
                break;
            }
        }
    }
    (true, done)
}

/// Closes a connection whose token expired (API Gateway runs its `$disconnect`, which
/// deletes the item) and deletes the item itself, in case that `$disconnect` never comes.
async fn close_expired(app: &App, connection: Connection) -> Result<bool, StoreError> {
    tracing::info!(connection_id = %connection.connection_id, "closing a connection whose token expired");
    app.sockets
        .close(&connection.connection_id, app.store.deadline())
        .await
        .map_err(|e| StoreError::Failed(e.into()))?;
    app.store
        .disconnect(&connection.user_id, &connection.connection_id)
        .await?;
    Ok(true)
}

/// An expiry's outcome; what it announced reaches the queue through the table's stream. A
/// refusal means someone else (a hire, a release, another sweep) changed the item first.
fn expired<A>(outcome: Result<Committed<A>, StoreError>) -> Result<bool, StoreError> {
    match outcome {
        Ok(_) => Ok(true),
        Err(StoreError::Rejected(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redrives_back_off_doubling_and_the_first_comes_after_the_delay() {
        let delay = Duration::from_secs(60);
        let minutes = |n| chrono::Duration::minutes(n);
        // What is added to the claim's time; the query adds the delay itself.
        let waits: Vec<_> = (1..=REDRIVES_BEFORE_PARKING)
            .map(|n| redrive_wait(delay, n) + minutes(1))
            .collect();
        assert_eq!(
            waits,
            [minutes(2), minutes(4), minutes(8), minutes(16), minutes(32)]
        );
        assert_eq!(redrive_wait(delay, 0), chrono::Duration::zero());
    }
}
