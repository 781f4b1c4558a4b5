//! Black-box tests of the HTTP API: through the local gateway, against DynamoDB Local.

mod applications;
mod bus;
mod chaos_switches;
mod conflicts;
mod consumers;
mod contracts;
mod deadlines;
mod edge;
mod hire;
mod idempotency;
mod indexing;
mod invariants;
mod jobs;
mod late;
mod metrics;
mod notifications;
mod outages;
mod outcomes;
mod pipe;
mod races;
mod redrive;
mod round_trips;
mod runtime_api;
mod samples;
mod search;
mod settling;
mod socket_round_trips;
mod sockets;
mod sweeps;
mod wiring;

/// The table holds every invariant, at any delay: nothing is left pending on the closed
/// job, nothing was hired on it, nobody heard of one thing twice.
pub async fn assert_audit_clean(app: &test_kit::TestApp) {
    let items = ::audit::read_table(&app.dynamo, &app.table, 2)
        .await
        .expect("table read");
    let settings = ::audit::Settings {
        fanout_delay: chrono::Duration::zero(),
        ..::audit::Settings::at(shared::time::now())
    };
    let report = ::audit::check(items, &settings);
    assert!(report.is_clean(), "{report}");
}
