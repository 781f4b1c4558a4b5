use super::{Store, StoreError};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{CancellationReason, TransactWriteItem};
use std::time::Duration;

/// How many times a transaction cancelled by a conflicting one is sent again.
const CONFLICT_ATTEMPTS: u32 = 6;
/// How many times a transaction whose outcome is unknown (timeout, 5xx, throttling) is sent,
/// each send already retried by the SDK: a second send is what the SDK's own retries cannot
/// give, and more would outlast the function's timeout.
const UNKNOWN_OUTCOME_ATTEMPTS: u32 = 2;

pub(crate) enum TxError {
    /// A condition failed: one reason per item, in request order, with the old item where
    /// `ReturnValuesOnConditionCheckFailure = ALL_OLD` asked for it.
    Cancelled(Vec<CancellationReason>),
    Store(StoreError),
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
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
    /// A retry after a timeout or a 5xx keeps the `ClientRequestToken`: the first try may
    /// have committed, and DynamoDB then answers the retry with that success instead of
    /// running it again against conditions the first commit already changed (a committed
    /// hire would otherwise come back as `JOB_NOT_OPEN`). A retry after a cancellation takes
    /// a new token: nothing was written, and the same token would repeat the cancellation.
    pub(crate) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TxError> {
        let mut attempt = 0;
        let mut token = ulid::Ulid::generate().to_string();
        loop {
            attempt += 1;
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
                let store_err = StoreError::from(err);
                if matches!(store_err, StoreError::Unavailable(_))
                    && attempt < UNKNOWN_OUTCOME_ATTEMPTS
                {
                    backoff(attempt).await;
                    continue;
                }
                return Err(store_err.into());
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
            if attempt >= CONFLICT_ATTEMPTS {
                tracing::warn!(attempt, "transaction still conflicting after retries");
                return Err(StoreError::Unavailable(Box::new(err)).into());
            }
            tracing::debug!(attempt, "transaction conflict, retrying");
            token = ulid::Ulid::generate().to_string();
            backoff(attempt).await;
        }
    }
}

/// The codes of cancellation reasons, for messages: the reasons themselves can carry old
/// item images, which must not reach the logs.
pub(crate) fn codes(reasons: &[CancellationReason]) -> Vec<&str> {
    reasons.iter().map(reason_code).collect()
}
