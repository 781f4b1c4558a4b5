//! Pure domain: types that parse instead of validate, and the state machines.
//! Nothing here does I/O.

mod application;
mod audit;
mod change;
mod connection;
mod contract;
mod delivery;
mod idempotency;
mod ids;
mod job;
mod money;
mod notification;
mod rejection;
pub mod search;
mod skill;
pub mod transitions;
mod validation;
pub mod words;

pub use application::{Application, ApplicationStatus, Bid};
pub use audit::{AuditRecord, Entity, Step};
pub use change::{Change, Cond, Item, Transition, Write, stamp_after};
pub use connection::{
    ClientMessage, Connection, ConnectionId, MAX_CONNECTIONS, SYNC_BATCH, ServerMessage,
    SocketError, beyond_limit,
};
pub use contract::{Contract, ContractAction, ContractStatus};
pub use delivery::{Consumer, Delivery};
pub use idempotency::{
    IdempotencyKey, IdempotencyRecord, KeepRefusal, KeyReused, Keyed, KeyedRequest,
    RECORD_LIFETIME, StoredAnswer,
};
pub use ids::{ApplicationId, ContractId, EventId, JobId, UserId};
pub use job::{Description, ExpiresAt, Job, JobStatus, NewJob, Openings, Title};
pub use money::{Cents, Currency};
pub use notification::{
    CloseReason, EventKind, InboxHead, Notification, NotificationType, OutboxEvent,
};
pub use rejection::Rejection;
pub use search::{Findable, JobSearch, Sort, Source};
pub use skill::Skill;
pub use validation::{FieldError, Fields};
