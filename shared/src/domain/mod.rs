//! Pure domain: types that parse instead of validate, and the state machines.
//! Nothing here does I/O.

mod application;
mod contract;
mod event;
mod ids;
mod job;
mod money;
mod notification;
mod rejection;
mod validation;

pub use application::{Application, ApplicationStatus, Bid};
pub use contract::{Contract, ContractAction, ContractStatus};
pub use event::{AuditEvent, Entity};
pub use ids::{ApplicationId, ContractId, EventId, JobId, UserId};
pub use job::{Description, ExpiresAt, Job, JobStatus, NewJob, Openings, Title};
pub use money::{Cents, Currency};
pub use notification::{CloseReason, EventKind, Notification, NotificationType, OutboxEvent};
pub use rejection::Rejection;
pub use validation::{FieldError, Fields};

/// Whether `caller` may hire `application` onto `job` now. Permission comes before state,
/// and a job that is not open wins over an application that is not pending.
pub fn check_hire(
    job: &Job,
    application: &Application,
    caller: &UserId,
    now: crate::time::Timestamp,
) -> Result<(), Rejection> {
    job.check_owner_may_change(caller, now)?;
    application.check_pending()
}
