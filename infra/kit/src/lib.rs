//! The test kit: what the black-box tests (`infra/local-gateway/tests/api`) and the
//! benchmarks (`infra/local-gateway/examples`) start and drive the local stack with. A
//! stack on a table of its own ([`spawn_app`]), a client that holds every answer and every
//! socket message to the published contracts, the marketplace set-ups, a DynamoDB that
//! fails on purpose, a DynamoDB Local and an SQS emulator of a test's own, the sample
//! events, and a token issuer with a JWKS. Tests and benchmarks take their set-up from
//! here, never from each other.

pub mod app;
pub mod contract;
pub mod dynamodb;
pub mod faults;
pub mod items;
pub mod jwks;
pub mod marketplace;
pub mod metrics;
pub mod notify;
pub mod reply;
pub mod samples;
pub mod socket;
pub mod socket_contract;
pub mod sqs;

pub use app::*;
pub use dynamodb::*;
pub use faults::*;
pub use items::*;
pub use marketplace::*;
pub use metrics::*;
pub use notify::*;
pub use reply::*;
pub use samples::*;
pub use socket::*;
pub use sqs::*;
