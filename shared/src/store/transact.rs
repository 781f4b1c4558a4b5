use super::{Store, StoreError};
use crate::deadline::CALL;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{CancellationReason, TransactWriteItem};
use std::time::Duration;

/// How many times a transaction cancelled by a conflicting one is sent again.
const CONFLICT_ATTEMPTS: u32 = 6;
/// How many times a transaction whose outcome is unknown (a 5xx, throttling) is sent,
/// each send already retried by the SDK: a second send is what the SDK's own retries cannot
/// give, and more would outlast the function's timeout.
const UNKNOWN_OUTCOME_ATTEMPTS: u32 = 2;

pub(crate) enum TxError {
    /// A condition failed: one reason per item, in request order, with the old item where
    /// `ReturnValuesOnConditionCheckFailure = ALL_OLD` asked for it.
    Cancelled(Vec<CancellationReason>),
    /// A timeout, or 5xx or throttling that outlasted the resends: it may have committed.
    Unknown(StoreError),
    /// Conflicts with other transactions outlasted the retries: nothing was written. The
    /// last cancellation's reasons say which items conflicted.
    Starved(StoreError, Vec<CancellationReason>),
    /// It did not commit and will not: a request DynamoDB refused outright.
    Store(StoreError),
}

pub(crate) fn reason_code(reason: &CancellationReason) -> &str {
    reason.code().unwrap_or("None")
}

/// Full jitter over an exponential ceiling: spreads a herd of retries apart.
pub(crate) async fn backoff(attempt: u32) {
    let ceiling_ms = 10u64 << attempt.min(6);
    tokio::time::sleep(Duration::from_millis(rand::random_range(1..=ceiling_ms))).await;
}

impl Store {
    /// Sends one TransactWriteItems, retrying (bounded, jittered) while it is cancelled only
    /// because another transaction touched the same items, or while DynamoDB cannot be
    /// reached.
    ///
    /// A resend after a 5xx or throttling keeps the `ClientRequestToken`: the first try may
    /// have committed, and DynamoDB then answers the retry with that success instead of
    /// running it again against conditions the first commit already changed (a committed
    /// hire would otherwise come back as `JOB_NOT_OPEN`). A retry after a cancellation takes
    /// a new token: nothing was written, so it is a new request. (DynamoDB documents a
    /// token's idempotency for a call that completed, not for a cancelled one; DynamoDB Local
    /// runs a cancelled token again, probed. A new token does not depend on either.)
    ///
    /// The two are counted apart: a conflict followed by a lost answer still gets its
    /// resend.
    /// Nothing is sent that could not end before the deadline.
    pub(crate) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TxError> {
        let (mut conflicts, mut sends) = (0, 0);
        let mut token = ulid::Ulid::generate().to_string();
        loop {
            if !self.deadline().allows(CALL) {
                // Nothing is sent that could outlive the invocation; what was sent before
                // may have committed.
                let late = StoreError::Unavailable("no time left to send the transaction".into());
                return Err(if sends > 0 {
                    TxError::Unknown(late)
                } else {
                    TxError::Store(late)
                });
            }
            sends += 1;
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(&token)
                .send()
                .await;
            let err = match sent {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            let reasons = match &err {
                SdkError::ServiceError(service) => match service.err() {
                    TransactWriteItemsError::TransactionCanceledException(c) => {
                        Some(c.cancellation_reasons().to_vec())
                    }
                    _ => None,
                },
                _ => None,
            };
            let Some(reasons) = reasons else {
                let timed_out = matches!(err, SdkError::TimeoutError(_));
                let store_err = StoreError::from(err);
                if !matches!(store_err, StoreError::Unavailable(_)) {
                    return Err(TxError::Store(store_err));
                }
                // A call whose attempts ran out its budget is not sent again (DynamoDB is not
                // answering in time, and a resend would wait as long); it is settled.
                if timed_out || sends >= UNKNOWN_OUTCOME_ATTEMPTS {
                    return Err(TxError::Unknown(store_err));
                }
                backoff(sends).await;
                continue;
            };
            let failed = reasons
                .iter()
                .any(|r| reason_code(r) == "ConditionalCheckFailed");
            let conflicted = reasons.iter().any(|r| {
                matches!(
                    reason_code(r),
                    "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
                )
            });
            if failed || !conflicted {
                return Err(TxError::Cancelled(reasons));
            }
            conflicts += 1;
            if conflicts >= CONFLICT_ATTEMPTS {
                tracing::warn!(conflicts, "transaction still conflicting after retries");
                return Err(TxError::Starved(
                    StoreError::Unavailable(Box::new(err)),
                    reasons,
                ));
            }
            // Counted only when it is sent again: the last cancellation is given up.
            let throttled = !reasons
                .iter()
                .any(|r| reason_code(r) == "TransactionConflict");
            crate::metrics::count(
                if throttled {
                    "ThrottlesRetried"
                } else {
                    "ConflictsRetried"
                },
                1,
            );
            tracing::debug!(conflicts, "transaction conflict, retrying");
            // Nothing was written: a new request, with a token of its own.
            token = ulid::Ulid::generate().to_string();
            sends = 0;
            backoff(conflicts).await;
        }
    }
}

/// The codes of cancellation reasons, for messages: the reasons themselves can carry old
/// item images, which must not reach the logs.
pub(crate) fn codes(reasons: &[CancellationReason]) -> Vec<&str> {
    reasons.iter().map(reason_code).collect()
}
