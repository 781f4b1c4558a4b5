//! Everything the marketplace Lambdas share. `functions/*` and the local gateway only wire
//! this crate to a runtime.
//!
//! Dependencies point one way: `handlers` → (`domain`, `store`, `http`); `domain` does no I/O.

pub mod app;
pub mod auth;
pub mod bus;
pub mod config;
pub mod deadline;
pub mod domain;
pub mod handlers;
pub mod http;
pub mod metrics;
pub mod publisher;
pub mod runtime;
pub mod sockets;
pub mod store;
pub mod telemetry;
pub mod time;

pub use app::App;
