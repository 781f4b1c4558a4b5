//! Every state change of the marketplace, one [`Transition`](super::Transition) each: its
//! rules, the conditions its writes need, and the records and announcements it implies.
//! Each is unit-tested here without a database; the store only commits what they return.

mod applications;
mod contracts;
mod hire;
mod inbox;
mod jobs;

pub use applications::{Apply, Reject, Withdraw};
pub use contracts::{ChangeContract, ExpireContract};
pub use hire::{Hire, Hired};
pub use inbox::{Deliver, Delivered, MarkRead};
pub use jobs::{CancelJob, CreateJob, ExpireJob};

#[cfg(test)]
pub(crate) mod fixtures;
