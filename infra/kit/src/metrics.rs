//! What one invocation of a warm function writes as metrics.

use serde_json::Value;
use shared::metrics::{Emf, Process};
use std::future::Future;

/// Runs `work` as one invocation of a warm function and parses the EMF line it writes
/// (`Null` when it counted nothing).
pub async fn counted<F: Future>(work: F) -> (F::Output, Value) {
    let process = Process::start(Emf {
        namespace: "MarketplaceTest".into(),
        service: "marketplace".into(),
        function_name: "test".into(),
    });
    process.measured(async {}).await;
    let (output, invocation) = process.measured(work).await;
    let line = process
        .emf
        .line(&invocation, 0)
        .map(|l| serde_json::from_str(&l).unwrap())
        .unwrap_or(Value::Null);
    (output, line)
}
