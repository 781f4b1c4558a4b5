//! `sweep`: the scheduled sweeper. Expires open jobs past `expires_at` and funded contracts
//! past `release_deadline`, then re-sends outbox events still undispatched after the
//! redrive delay. Every step reads the sparse due index (never a Scan), acts with
//! conditional writes, and stops before the time budget runs out; the next run continues.

use crate::App;
use crate::domain::{Contract, Job, OutboxEvent};
use crate::store::{OutboxRow, PageKey, StoreError, keys};
use crate::time::{self, Timestamp};
use serde::Serialize;
use std::time::{Duration, Instant};

const PAGE: u32 = 25;
/// Left for the last writes and the report when the deadline nears.
const MARGIN: Duration = Duration::from_secs(3);

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub expired_jobs: usize,
    pub expired_contracts: usize,
    /// Outbox events this run claimed and sent again.
    pub redriven: usize,
    /// Due items someone else (a hire, a release, another sweeper) changed first.
    pub skipped: usize,
    /// Items read from the due index: what the sweep cost, in reads.
    pub read: usize,
    /// It stopped for time with due work left; the next run continues.
    pub out_of_time: bool,
}

struct Budget(Instant);

impl Budget {
    fn spent(&self) -> bool {
        Instant::now() + MARGIN >= self.0
    }
}

pub async fn sweep(
    app: &App,
    now: Timestamp,
    deadline: Instant,
) -> Result<SweepReport, StoreError> {
    let budget = Budget(deadline);
    let mut report = SweepReport::default();
    let (mut finished, jobs) = expire_due(
        app,
        keys::DUE_JOB,
        now,
        &budget,
        &mut report,
        |job: Job| async move {
            tracing::info!(job_id = %job.job_id, "expiring job");
            app.store.expire_job(&job, now).await
        },
    )
    .await?;
    report.expired_jobs = jobs;
    if finished {
        let contracts;
        (finished, contracts) = expire_due(
            app,
            keys::DUE_CONTRACT,
            now,
            &budget,
            &mut report,
            |c: Contract| async move {
                tracing::info!(contract_id = %c.contract_id, "expiring contract");
                app.store.expire_contract(&c, now).await
            },
        )
        .await?;
        report.expired_contracts = contracts;
    }
    if finished {
        finished = redrive(app, now, &budget, &mut report).await?;
    }
    report.out_of_time = !finished;
    tracing::info!(
        expired_jobs = report.expired_jobs,
        expired_contracts = report.expired_contracts,
        redriven = report.redriven,
        skipped = report.skipped,
        read = report.read,
        out_of_time = report.out_of_time,
        at = %time::format(now),
        "sweep done"
    );
    Ok(report)
}

/// Pages through one kind of due work, applying `expire` to each item; returns whether
/// the step finished (false: out of time) and how many items it expired.
async fn expire_due<T, F, Fut>(
    app: &App,
    kind: &str,
    now: Timestamp,
    budget: &Budget,
    report: &mut SweepReport,
    expire: F,
) -> Result<(bool, usize), StoreError>
where
    T: serde::de::DeserializeOwned,
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<Option<Vec<OutboxEvent>>, StoreError>>,
{
    let mut expired = 0;
    let mut start: Option<PageKey> = None;
    loop {
        if budget.spent() {
            return Ok((false, expired));
        }
        let (page, read) = app.store.due::<T>(kind, now, PAGE, start).await?;
        report.read += read;
        for item in page.items {
            match expire(item).await? {
                Some(events) => {
                    expired += 1;
                    app.publisher.publish(&app.store, &events, now).await;
                }
                None => report.skipped += 1,
            }
        }
        start = page.next;
        if start.is_none() {
            return Ok((true, expired));
        }
    }
}

async fn redrive(
    app: &App,
    now: Timestamp,
    budget: &Budget,
    report: &mut SweepReport,
) -> Result<bool, StoreError> {
    let due_before = now - chrono::Duration::from_std(app.redrive_delay).unwrap_or_default();
    let mut start: Option<PageKey> = None;
    loop {
        if budget.spent() {
            return Ok(false);
        }
        let (page, read) = app
            .store
            .due::<OutboxRow>(keys::DUE_OUTBOX, due_before, PAGE, start)
            .await?;
        report.read += read;
        let mut claimed = Vec::new();
        for row in page.items {
            if app.store.claim_outbox(&row, now).await? {
                claimed.push(row);
            } else {
                report.skipped += 1;
            }
        }
        report.redriven += app.publisher.send_and_mark(&app.store, &claimed, now).await;
        start = page.next;
        if start.is_none() {
            return Ok(true);
        }
    }
}
