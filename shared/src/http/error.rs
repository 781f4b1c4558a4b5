use crate::domain::{FieldError, IdempotencyRecord, Rejection};
use crate::store::StoreError;
use http::StatusCode;
use serde_json::{Value, json};

/// An RFC 9457 problem: what [`ApiError::problem`] maps each error to.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub status: StatusCode,
    /// Stable, for clients to branch on.
    pub code: &'static str,
    pub title: &'static str,
    pub detail: String,
    /// More members of the document (`errors`, `current_status`), or `Null`.
    pub members: Value,
}

impl Problem {
    fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            members: Value::Null,
        }
    }

    fn with(self, members: Value) -> Self {
        Self { members, ..self }
    }
}

/// Every way a request can fail, mapped to its RFC 9457 problem in [`ApiError::problem`]
/// and nowhere else.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no valid token")]
    Unauthenticated,
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("the body is not declared JSON")]
    UnsupportedMediaType,
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("job not found")]
    JobNotFound,
    #[error("application not found")]
    ApplicationNotFound,
    #[error("notification not found")]
    NotificationNotFound,
    #[error("contract not found")]
    ContractNotFound,
    #[error("rejected: {0:?}")]
    Rejected(Rejection),
    /// The request's `Idempotency-Key` holds an answer already: replayed, or refused as
    /// [`ApiError::KeyReused`] when it answered another request.
    #[error("idempotency key taken")]
    KeyTaken(Box<IdempotencyRecord>),
    #[error("idempotency key reused for another request")]
    KeyReused,
    #[error("a request with this idempotency key is in progress")]
    KeyInUse,
    #[error("service unavailable")]
    Unavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(r) => Self::Rejected(r),
            StoreError::KeyTaken(record) => Self::KeyTaken(record),
            StoreError::KeyInUse => Self::KeyInUse,
            StoreError::Unavailable(_) => Self::Unavailable(e),
            other => Self::Internal(Box::new(other)),
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        Self::Rejected(r)
    }
}

impl ApiError {
    /// An answer about the state of what the request names (it does not exist, the caller
    /// may not, it is in the wrong state): kept for a retry with the same key, since the
    /// retry would otherwise find a state the first request may have changed the world
    /// around. Answers about the request itself (400) and failures (5xx) are not.
    pub fn is_about_state(&self) -> bool {
        matches!(
            self,
            Self::JobNotFound
                | Self::ApplicationNotFound
                | Self::NotificationNotFound
                | Self::ContractNotFound
                | Self::Rejected(_)
        )
    }

    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }

    /// Whether the answer asks the client to come back in a moment (`Retry-After`):
    /// throttling, conflicts and timeouts pass within a second or so, and so does a
    /// duplicate still committing under the same key.
    pub fn retry_later(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_) | Self::KeyInUse | Self::KeyTaken(_)
        )
    }

    /// The problem document this error answers with.
    pub fn problem(&self) -> Problem {
        use Rejection::*;
        use StatusCode as S;
        match self {
            Self::Unauthenticated => Problem::new(
                S::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "Authentication required",
                "A valid bearer token is required.",
            ),
            Self::MalformedJson(why) => Problem::new(
                S::BAD_REQUEST,
                "MALFORMED_JSON",
                "Malformed JSON",
                format!("The request body is not a JSON object: {why}"),
            ),
            Self::PayloadTooLarge => Problem::new(
                S::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "Payload too large",
                format!(
                    "The request body exceeds {} bytes.",
                    super::request::MAX_BODY_BYTES
                ),
            ),
            Self::UnsupportedMediaType => Problem::new(
                S::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "Unsupported media type",
                "A request body must be JSON, declared as Content-Type: application/json.",
            ),
            Self::Validation(errors) => Problem::new(
                S::BAD_REQUEST,
                "VALIDATION_FAILED",
                "Validation failed",
                format!("{} field(s) are invalid.", errors.len()),
            )
            .with(json!({ "errors": errors })),
            Self::InvalidCursor => Problem::new(
                S::BAD_REQUEST,
                "INVALID_CURSOR",
                "Invalid cursor",
                "The cursor is not one this listing issued.",
            ),
            Self::JobNotFound => Problem::new(
                S::NOT_FOUND,
                "JOB_NOT_FOUND",
                "Job not found",
                "No job has this id.",
            ),
            Self::ApplicationNotFound => Problem::new(
                S::NOT_FOUND,
                "APPLICATION_NOT_FOUND",
                "Application not found",
                "This job has no application with this id.",
            ),
            Self::NotificationNotFound => Problem::new(
                S::NOT_FOUND,
                "NOTIFICATION_NOT_FOUND",
                "Notification not found",
                "You have no notification with this id.",
            ),
            Self::ContractNotFound => Problem::new(
                S::NOT_FOUND,
                "CONTRACT_NOT_FOUND",
                "Contract not found",
                "You are party to no contract with this id.",
            ),
            Self::Rejected(NotContractOwner) => Problem::new(
                S::FORBIDDEN,
                "NOT_CONTRACT_OWNER",
                "Not the contract's owner",
                "Only the owner who hired may fund, release or refund.",
            ),
            Self::Rejected(NotJobParty) => Problem::new(
                S::FORBIDDEN,
                "NOT_JOB_PARTY",
                "Not a party to the job",
                "Only the job's owner and its hired freelancers may see this.",
            ),
            Self::Rejected(InvalidTransition(status)) => Problem::new(
                S::CONFLICT,
                "INVALID_TRANSITION",
                "Invalid transition",
                format!("The contract is {}.", status.as_str()),
            )
            .with(json!({ "current_status": status })),
            Self::Rejected(NotJobOwner) => Problem::new(
                S::FORBIDDEN,
                "NOT_JOB_OWNER",
                "Not the job's owner",
                "Only the job's owner may do this.",
            ),
            Self::Rejected(CannotApplyToOwnJob) => Problem::new(
                S::FORBIDDEN,
                "CANNOT_APPLY_TO_OWN_JOB",
                "Cannot apply to own job",
                "An owner cannot apply to their own job.",
            ),
            Self::Rejected(NotApplicant) => Problem::new(
                S::FORBIDDEN,
                "NOT_APPLICANT",
                "Not the applicant",
                "Only the applicant may withdraw this application.",
            ),
            Self::Rejected(AlreadyApplied) => Problem::new(
                S::CONFLICT,
                "ALREADY_APPLIED",
                "Already applied",
                "You have already applied to this job.",
            ),
            Self::Rejected(JobNotOpen(status)) => Problem::new(
                S::CONFLICT,
                "JOB_NOT_OPEN",
                "Job not open",
                format!("The job is {}.", status.as_str()),
            )
            .with(json!({ "current_status": status })),
            Self::Rejected(ApplicationNotPending(status)) => Problem::new(
                S::CONFLICT,
                "APPLICATION_NOT_PENDING",
                "Application not pending",
                format!("The application is {}.", status.as_str()),
            )
            .with(json!({ "current_status": status })),
            Self::KeyReused => Problem::new(
                S::UNPROCESSABLE_ENTITY,
                "IDEMPOTENCY_KEY_REUSED",
                "Idempotency key reused",
                "This Idempotency-Key was used for a different request.",
            ),
            // A taken key reaching here has not been judged yet: retrying judges it.
            Self::KeyInUse | Self::KeyTaken(_) => Problem::new(
                S::CONFLICT,
                "IDEMPOTENCY_IN_PROGRESS",
                "Request in progress",
                "A request with this Idempotency-Key is still being processed; retry shortly.",
            ),
            Self::Unavailable(_) => Problem::new(
                S::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "Service unavailable",
                "Please retry shortly.",
            ),
            Self::Internal(_) => Problem::new(
                S::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "Internal error",
                "Something went wrong on our side.",
            ),
        }
    }
}
