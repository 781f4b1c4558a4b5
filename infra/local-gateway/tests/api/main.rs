//! Black-box tests of the HTTP API: through the local gateway, against DynamoDB Local.

mod applications;
mod bus;
mod conflicts;
mod contract;
mod contracts;
mod edge;
mod fixtures;
mod helpers;
mod hire;
mod idempotency;
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
mod settling;
mod sweeps;
mod wiring;
