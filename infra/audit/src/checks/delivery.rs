//! Delivery: what the outbox, `notify` and the sweeper must have done by now. Applicants of
//! a closed job are rejected within the fan-out delay, events are sent within their redrive
//! window, and no one hears of one thing twice.

use crate::Settings;
use crate::items::Table;
use crate::report::{Check, Violation};
use shared::domain::{ApplicationStatus, Job, JobStatus};
use shared::store::keys;
use shared::time::{self, Timestamp};
use std::collections::BTreeMap;

pub fn check(t: &Table, settings: &Settings, out: &mut Vec<Violation>) {
    pending_after_close(t, settings, out);
    stuck_outbox(t, settings, out);
    inbox_positions(t, out);
    duplicates(t, out);
}

/// When the job left `open`, if it has: the write that closed it (its last), or, for an open
/// job past its deadline, the deadline. No write reaches an open job after its deadline
/// (each is conditioned on `expires_at > now`), so a deadline before the job's last write was
/// moved back by hand later: the job left open no earlier than that write.
fn left_open(job: &Job, now: Timestamp) -> Option<Timestamp> {
    match job.status {
        JobStatus::Open if job.expires_at <= now => Some(job.expires_at.max(job.updated_at)),
        JobStatus::Open => None,
        _ => Some(job.updated_at),
    }
}

fn pending_after_close(t: &Table, settings: &Settings, out: &mut Vec<Violation>) {
    for a in t.applications.values().map(|a| &a.value) {
        if a.status != ApplicationStatus::Pending {
            continue;
        }
        let Some(job) = t.jobs.get(&a.job_id).map(|j| &j.value) else {
            continue;
        };
        let Some(left) = left_open(job, settings.now) else {
            continue;
        };
        if left + settings.fanout_delay < settings.now {
            out.push(Violation::new(
                Check::PendingAfterClose,
                [
                    ("job", job.job_id.to_string()),
                    ("application", a.application_id.to_string()),
                ],
                format!(
                    "still pending; the job is {} since {}",
                    job.status_at(settings.now).as_str(),
                    time::format(left)
                ),
            ));
        }
    }
}

fn stuck_outbox(t: &Table, settings: &Settings, out: &mut Vec<Violation>) {
    for o in &t.outbox {
        let row = &o.value.0;
        if o.index.duepk.as_deref() == Some(keys::PARKED_OUTBOX) {
            out.push(Violation::new(
                Check::ParkedOutbox,
                [
                    ("event", row.event_id.to_string()),
                    ("consumer", row.consumer.to_string()),
                ],
                format!("parked after {} sends, never applied", row.attempts),
            ));
            continue;
        }
        // Due since the time in its due key (written, or last claimed by a sweeper); a due
        // key that does not read as a time is the index check's to report.
        let Some(due) = row
            .due
            .as_deref()
            .and_then(|sk| sk.split('#').next())
            .and_then(time::parse)
        else {
            continue;
        };
        if due + settings.redrive_window < settings.now {
            out.push(Violation::new(
                Check::StuckOutbox,
                [
                    ("event", row.event_id.to_string()),
                    ("consumer", row.consumer.to_string()),
                ],
                format!("undispatched, due since {}", time::format(due)),
            ));
        }
    }
}

fn duplicates(t: &Table, out: &mut Vec<Violation>) {
    let mut seen = BTreeMap::new();
    for n in t.notifications.iter().map(|n| &n.value) {
        let subject = (
            n.recipient_id.as_str(),
            serde_json::to_value(n.kind)
                .ok()
                .and_then(|k| k.as_str().map(str::to_owned))
                .unwrap_or_default(),
            n.job_id,
            n.application_id,
            n.contract_id,
        );
        seen.entry(subject)
            .or_insert_with(Vec::new)
            .push(n.notification_id);
    }
    for ((recipient, kind, job, application, contract), ids) in seen {
        if ids.len() < 2 {
            continue;
        }
        let mut v = Violation::new(
            Check::DuplicateNotification,
            [("user", recipient.to_owned()), ("job", job.to_string())],
            format!("{} notifications of type {kind}", ids.len()),
        );
        v.ids
            .extend(application.map(|a| ("application", a.to_string())));
        v.ids.extend(contract.map(|c| ("contract", c.to_string())));
        v.ids
            .extend(ids.iter().map(|id| ("notification", id.to_string())));
        out.push(v);
    }
}

/// Each inbox holds positions 1 to its head's count, each once: deliveries are numbered in
/// the order they commit, with no gap a client catching up could stop at forever.
fn inbox_positions(t: &Table, out: &mut Vec<Violation>) {
    let mut positions: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for n in &t.notifications {
        positions
            .entry(n.value.recipient_id.as_str())
            .or_default()
            .push(n.value.position);
    }
    let heads: BTreeMap<&str, u64> = t
        .inbox_heads
        .iter()
        .map(|h| (h.user_id.as_str(), h.delivered))
        .collect();
    let users: std::collections::BTreeSet<&str> =
        positions.keys().chain(heads.keys()).copied().collect();
    for user in users {
        let mut held = positions.remove(user).unwrap_or_default();
        held.sort_unstable();
        let head = heads.get(user).copied().unwrap_or(0);
        if held != (1..=head).collect::<Vec<_>>() {
            out.push(Violation::new(
                Check::InboxPositions,
                [("user", user.to_owned())],
                format!(
                    "head at {head}, {} notifications, positions not 1..={head} once each",
                    held.len()
                ),
            ));
        }
    }
}
