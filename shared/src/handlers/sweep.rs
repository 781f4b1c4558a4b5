//! `sweep`: the scheduled sweeper. Re-sends outbox events that are still undispatched
//! after the redrive delay, from the sparse due index, and stops before its time runs out.

use crate::App;
use crate::store::StoreError;
use crate::time::{self, Timestamp};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Work is claimed a page at a time; the time check runs between pages.
const PAGE: u32 = 25;
/// Left for the last page's sends and the report when the deadline nears.
const MARGIN: Duration = Duration::from_secs(3);

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Events this run claimed and sent again.
    pub redriven: usize,
    /// Due events another sweeper claimed first.
    pub skipped: usize,
    /// Whether it stopped for time with due work left; the next run continues.
    pub out_of_time: bool,
}

pub async fn sweep(
    app: &App,
    now: Timestamp,
    deadline: Instant,
) -> Result<SweepReport, StoreError> {
    let mut report = SweepReport::default();
    let due_before = now - chrono::Duration::from_std(app.redrive_delay).unwrap_or_default();
    loop {
        if Instant::now() + MARGIN >= deadline {
            report.out_of_time = true;
            break;
        }
        let due = app.store.due_outbox(due_before, PAGE).await?;
        if due.is_empty() {
            break;
        }
        let mut claimed = Vec::new();
        for row in due {
            if app.store.claim_outbox(&row, now).await? {
                claimed.push(row);
            } else {
                report.skipped += 1;
            }
        }
        report.redriven += app.publisher.send_and_mark(&app.store, &claimed, now).await;
        if claimed.is_empty() && report.skipped > 0 {
            // Everything left is another sweeper's: let it finish.
            continue;
        }
    }
    tracing::info!(
        redriven = report.redriven,
        skipped = report.skipped,
        out_of_time = report.out_of_time,
        at = %time::format(now),
        "sweep done"
    );
    Ok(report)
}
