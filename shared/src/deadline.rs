//! The time an invocation has. Lambda kills a function at its deadline, and a client that
//! sees a raw 5xx for a change that may have committed retries it into a wrong answer; so
//! every call is made only if it can end in time, and what cannot fit is skipped.

use std::time::{Duration, Instant, SystemTime};

/// The most one DynamoDB call takes, its SDK retries included (the client's operation
/// timeout): the unit a caller budgets in.
pub const CALL: Duration = Duration::from_millis(2_500);
/// Kept back to write the answer and its log line.
pub const RESERVE: Duration = Duration::from_millis(300);
/// A function's timeout where no deadline is given (the local gateway, tests): the
/// template's `Timeout` for the HTTP functions.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn at(instant: Instant) -> Self {
        Self(instant)
    }

    pub fn after(budget: Duration) -> Self {
        Self(Instant::now() + budget)
    }

    /// From a Lambda context's deadline, in milliseconds since the epoch.
    pub fn from_epoch_millis(ms: u64) -> Self {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
        let left = at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        Self::after(left)
    }

    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Whether something taking up to `cost` still ends in time to answer.
    pub fn allows(&self, cost: Duration) -> bool {
        self.remaining() > cost + RESERVE
    }

    pub fn instant(&self) -> Instant {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_allowed_only_with_room_to_answer_after_it() {
        let d = Deadline::after(Duration::from_secs(3));
        assert!(d.allows(CALL));
        assert!(!d.allows(CALL * 2));
        assert!(!Deadline::from_epoch_millis(0).allows(Duration::ZERO));
    }
}
