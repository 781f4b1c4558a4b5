//! The local stack's concurrency limit: at most so many functions run at once, the routes'
//! invocations and the pollers' batches together, as an account's concurrency limit caps
//! every Lambda function's invocations together. One beyond it waits, first come first
//! served, for one to end, before its deadline starts; Lambda would throttle it instead,
//! but the limit here is the machine's, not an account's.
//!
//! Every function here calls one DynamoDB Local, which serves a fixed rate on two cores
//! however many call it: more invocations at once add only waiting inside its queue, where
//! a call waiting past the SDK's 800 ms attempt timeout cannot be told from a hung service,
//! is given up and sent again while the engine still does the first one's work. See
//! docs/decisions.md, "The local stack's concurrency limit".

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many functions at once keep one DynamoDB Local busy without queueing their calls
/// past the attempt timeout (BENCHMARKS.md, "A popular job").
pub const LOCAL_CONCURRENCY: usize = 32;

/// Clones share one limit.
#[derive(Debug, Clone)]
pub struct Concurrency(Arc<Semaphore>);

/// One running function's place under the limit, given back when dropped.
#[derive(Debug)]
pub struct Running {
    _permit: OwnedSemaphorePermit,
}

impl Concurrency {
    /// At most `limit` at once (at least one).
    pub fn new(limit: usize) -> Self {
        Self(Arc::new(Semaphore::new(limit.max(1))))
    }

    /// Waits until fewer than the limit run.
    pub async fn start(&self) -> Running {
        Running {
            _permit: self
                .0
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed"),
        }
    }
}

impl Default for Concurrency {
    fn default() -> Self {
        Self::new(LOCAL_CONCURRENCY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_beyond_the_limit_waits_for_one_to_end() {
        let limit = Concurrency::new(2);
        let first = limit.start().await;
        let _second = limit.start().await;
        let third = tokio::spawn({
            let limit = limit.clone();
            async move { limit.start().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!third.is_finished(), "a third ran while two were running");
        drop(first);
        tokio::time::timeout(Duration::from_secs(1), third)
            .await
            .expect("the third starts once the first ends")
            .unwrap();
    }
}
