use crate::domain::{IdempotencyRecord, Rejection};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The domain said no, decided by a condition expression.
    #[error("rejected: {0:?}")]
    Rejected(Rejection),
    /// The request's `Idempotency-Key` already holds this answer: a duplicate committed
    /// first (or this request did, and its answer was lost).
    #[error("the idempotency key is taken")]
    KeyTaken(Box<IdempotencyRecord>),
    /// A duplicate with the same `Idempotency-Key` is committing at this moment.
    #[error("the idempotency key is in use")]
    KeyInUse,
    /// Throttling, a network failure or conflicts that outlasted the retries: worth
    /// retrying later, so the API answers 503.
    #[error("DynamoDB is unavailable")]
    Unavailable(#[source] BoxError),
    #[error("DynamoDB request failed")]
    Failed(#[source] BoxError),
    /// The cause is dropped on purpose: a (de)serialization message can quote an item's
    /// values, titles and messages among them, and errors end up in the logs.
    #[error("an item does not have the expected shape")]
    Corrupt,
}

impl From<serde_dynamo::Error> for StoreError {
    fn from(_: serde_dynamo::Error) -> Self {
        Self::Corrupt
    }
}

const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
];

impl<E, R> From<SdkError<E, R>> for StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn from(err: SdkError<E, R>) -> Self {
        let transient = match &err {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
            SdkError::ServiceError(e) => {
                e.err().code().is_some_and(|c| TRANSIENT_CODES.contains(&c))
            }
            _ => false,
        };
        if transient {
            Self::Unavailable(Box::new(err))
        } else {
            Self::Failed(Box::new(err))
        }
    }
}

impl From<Rejection> for StoreError {
    fn from(r: Rejection) -> Self {
        Self::Rejected(r)
    }
}

/// The output of a conditional write, or `None` when its condition did not hold: for writes
/// where that is an answer (already delivered, already claimed), not a failure.
pub(crate) fn unless_condition_failed<O, E, R>(
    result: Result<O, SdkError<E, R>>,
) -> Result<Option<O>, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(e)
            if e.as_service_error().and_then(|e| e.code())
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}
