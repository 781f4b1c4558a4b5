//! Index attributes: each item carries exactly the index keys its current state calls for,
//! as `keys.rs` computes them, so no index shows an item in a state it has left.

use crate::items::{Stored, Table};
use crate::report::{Check, Violation};
use shared::domain::EventId;
use shared::store::keys::{self, Due, IndexKeys};

pub fn check(t: &Table, out: &mut Vec<Violation>) {
    for job in t.jobs.values() {
        let expected = IndexKeys::for_job(&job.value);
        report(out, job, &expected, [("job", job.value.job_id.to_string())]);
    }
    for a in t.applications.values() {
        let v = &a.value;
        let expected = IndexKeys::for_application(v);
        report(
            out,
            a,
            &expected,
            [("application", v.application_id.to_string())],
        );
    }
    for c in t.contracts.values() {
        let v = &c.value;
        let expected = IndexKeys::for_contract(v);
        report(out, c, &expected, [("contract", v.contract_id.to_string())]);
    }
    for n in &t.notifications {
        let v = &n.value;
        let expected = IndexKeys::for_notification(v);
        report(
            out,
            n,
            &expected,
            [
                ("user", v.recipient_id.to_string()),
                ("notification", v.notification_id.to_string()),
            ],
        );
    }
    for o in &t.outbox {
        let id = o.value.0.event_id;
        report(
            out,
            o,
            &outbox_expected(&o.index, id),
            [("event", id.to_string())],
        );
    }
}

/// An undispatched event is due in its partition at some time (when written, or when a
/// sweeper last claimed it): the time is whatever the key says, if it reads as one.
fn outbox_expected(actual: &IndexKeys, id: EventId) -> IndexKeys {
    let due_time = actual
        .duesk
        .as_deref()
        .and_then(|sk| sk.split('#').next())
        .and_then(shared::time::parse);
    let due = actual.duepk.is_some() || actual.duesk.is_some();
    let parked = actual.duepk.as_deref() == Some(keys::PARKED_OUTBOX);
    IndexKeys {
        duepk: due.then(|| {
            if parked {
                keys::PARKED_OUTBOX.to_owned()
            } else {
                Due::Outbox.pk(id)
            }
        }),
        // A due key that does not read as a time expects what the sweeper could never match.
        duesk: due.then(|| {
            due_time.map_or_else(
                || "<a time>#<event id>".to_owned(),
                |at| keys::due_at(at, id),
            )
        }),
        ..IndexKeys::default()
    }
}

fn report<T>(
    out: &mut Vec<Violation>,
    item: &Stored<T>,
    expected: &IndexKeys,
    ids: impl Into<Vec<(&'static str, String)>>,
) {
    let a = &item.index;
    let names = [keys::USER_INDEX, keys::BOARD_INDEX, keys::DUE_INDEX]
        .into_iter()
        .flat_map(|index| keys::position_attributes(Some(index))[2..].iter());
    let values = [
        (&expected.gsi1pk, &a.gsi1pk),
        (&expected.gsi1sk, &a.gsi1sk),
        (&expected.gsi2pk, &a.gsi2pk),
        (&expected.gsi2sk, &a.gsi2sk),
        (&expected.duepk, &a.duepk),
        (&expected.duesk, &a.duesk),
    ];
    let wrong: Vec<String> = names
        .zip(values)
        .map(|(name, (want, have))| (name, want, have))
        .filter(|(_, want, have)| want != have)
        .map(|(name, want, have)| match (want, have) {
            (None, Some(_)) => format!("{name} present"),
            (Some(_), None) => format!("{name} missing"),
            // Index keys hold ids and times, not personal text.
            _ => format!("{name} is {have:?}, expected {want:?}"),
        })
        .collect();
    if !wrong.is_empty() {
        out.push(Violation::new(Check::IndexKeys, ids, wrong.join("; ")));
    }
}
