//! Black-box tests of the HTTP API: through the local gateway, against DynamoDB Local.

mod applications;
mod bus;
mod conflicts;
mod contracts;
mod deadlines;
mod edge;
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
mod socket_round_trips;
mod sockets;
mod sweeps;
mod wiring;
