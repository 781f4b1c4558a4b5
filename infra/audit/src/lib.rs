//! `make audit`: reads a whole table and reports every violation of the marketplace's
//! invariants with the ids involved. [`check`] is pure over the items read; [`read_table`]
//! reads them, read-only.

pub mod checks;
pub mod items;
pub mod reader;
pub mod report;

pub use items::{Item, Kind};
pub use reader::{dynamo_client, list_tables, read_table};
pub use report::{Check, Report, Violation};

use chrono::Duration;
use shared::time::Timestamp;

/// What counts as late. Both are measured against `now`, the audit's own clock.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub now: Timestamp,
    /// How long a closed job's pending applications may wait for `notify` to reject them.
    pub fanout_delay: Duration,
    /// How long an outbox event may stay due (undispatched) before the sweeper's redrive
    /// should have sent it.
    pub redrive_window: Duration,
}

impl Settings {
    pub const DEFAULT_FANOUT_DELAY_SECS: i64 = 5 * 60;
    pub const DEFAULT_REDRIVE_WINDOW_SECS: i64 = 15 * 60;

    pub fn at(now: Timestamp) -> Self {
        Self {
            now,
            fanout_delay: Duration::seconds(Self::DEFAULT_FANOUT_DELAY_SECS),
            redrive_window: Duration::seconds(Self::DEFAULT_REDRIVE_WINDOW_SECS),
        }
    }
}

/// Every violation in `items`, a whole table as read.
pub fn check(items: Vec<Item>, settings: &Settings) -> Report {
    let mut violations = Vec::new();
    let table = items::Table::load(items, &mut violations);
    checks::hiring::check(&table, &mut violations);
    checks::delivery::check(&table, settings, &mut violations);
    checks::trail::check(&table, &mut violations);
    checks::index::check(&table, &mut violations);
    Report {
        items: table.counts,
        violations,
    }
}
