//! What an audit found: items read per kind and every violation with the ids involved.
//! Ids and keys only: titles, descriptions and messages are personal and never printed.

use crate::kind::Kind;
use std::collections::BTreeMap;
use std::fmt;

/// One invariant, as violations are grouped and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    /// An item that does not parse as the kind its key names, or whose key names no kind.
    Unreadable,
    /// A filled job whose hired applications are not its openings.
    FilledHires,
    /// A job whose `hired_count` is not its hired applications.
    HiredCount,
    /// More contracts for a job than it has openings.
    TooManyContracts,
    /// A hired application without exactly one contract.
    HiredContracts,
    /// A contract whose amount is not the bid it was hired on.
    ContractAmount,
    /// Something that points at a job, application or contract that does not exist (or is
    /// not the one it should be).
    Dangling,
    /// A pending application on a job that left `open` longer ago than the fan-out delay.
    PendingAfterClose,
    /// An outbox event still due long past its redrive window.
    StuckOutbox,
    /// An outbox event the sweeper parked after sending it too often: never applied.
    ParkedOutbox,
    /// Two notifications of one type about one subject for one recipient.
    DuplicateNotification,
    /// An inbox whose positions are not 1, 2, … up to its head, each once.
    InboxPositions,
    /// An entity's records do not chain from nothing to its current status.
    TrailReplay,
    /// An entity's record goes back in time.
    TrailTime,
    /// The job's trail, replayed in order, breaks the hiring rules.
    TrailOrder,
    /// Index attributes that disagree with the item's state.
    IndexKeys,
    /// An open job missing from a discovery index it belongs in, or a closed one still in
    /// one, once indexing has had time; or a discovery item of no job.
    Findable,
    /// A suggestion count that is not the number of open jobs using the word.
    SuggestCount,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreadable => "unreadable",
            Self::FilledHires => "filled_hires",
            Self::HiredCount => "hired_count",
            Self::TooManyContracts => "too_many_contracts",
            Self::HiredContracts => "hired_contracts",
            Self::ContractAmount => "contract_amount",
            Self::Dangling => "dangling",
            Self::PendingAfterClose => "pending_after_close",
            Self::StuckOutbox => "stuck_outbox",
            Self::ParkedOutbox => "parked_outbox",
            Self::DuplicateNotification => "duplicate_notification",
            Self::InboxPositions => "inbox_positions",
            Self::TrailReplay => "trail_replay",
            Self::TrailTime => "trail_time",
            Self::TrailOrder => "trail_order",
            Self::IndexKeys => "index_keys",
            Self::Findable => "findable",
            Self::SuggestCount => "suggest_count",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub check: Check,
    /// What is involved, as (name, id) pairs: `job`, `application`, `contract`, keys.
    pub ids: Vec<(&'static str, String)>,
    /// What is wrong, in ids, statuses and counts only.
    pub detail: String,
}

impl Violation {
    pub fn new(
        check: Check,
        ids: impl Into<Vec<(&'static str, String)>>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            check,
            ids: ids.into(),
            detail: detail.into(),
        }
    }

    /// Whether the violation involves `id` as a `name` (a job, an application, a key...).
    pub fn involves(&self, name: &str, id: &str) -> bool {
        self.ids.iter().any(|(n, i)| *n == name && i == id)
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.check.as_str())?;
        for (name, id) in &self.ids {
            write!(f, " {name}={id}")?;
        }
        write!(f, ": {}", self.detail)
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub items: BTreeMap<Kind, usize>,
    pub violations: Vec<Violation>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    pub fn by_check(&self) -> BTreeMap<Check, usize> {
        let mut counts = BTreeMap::new();
        for v in &self.violations {
            *counts.entry(v.check).or_default() += 1;
        }
        counts
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for v in &self.violations {
            writeln!(f, "  {v}")?;
        }
        let total: usize = self.items.values().sum();
        write!(f, "  items read: {total}")?;
        for (kind, n) in &self.items {
            write!(f, ", {} {n}", kind.as_str())?;
        }
        writeln!(f)?;
        write!(f, "  violations: {}", self.violations.len())?;
        for (check, n) in self.by_check() {
            write!(f, ", {} {n}", check.as_str())?;
        }
        writeln!(f)
    }
}
