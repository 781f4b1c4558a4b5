//! The DynamoDB store: one table, keys and indexes as in the README's access-pattern table.
//! Every state change is a domain transition committed by [`Store::run`], one
//! TransactWriteItems whose conditions decide every race; the rest is reads.

mod applications;
mod audit;
mod commit;
mod connections;
mod contracts;
mod error;
mod findex;
mod hire;
mod idempotency;
mod inbox;
mod items;
mod jobs;
pub mod keys;
mod ops;
mod outbox;
mod page;
mod search;
mod transact;

pub use commit::Committed;
pub use error::StoreError;
pub use findex::{Indexed, discovery_keys};
pub use idempotency::KeyedRead;
pub use outbox::{DuePage, OutboxRow};
pub use page::{Page, PageKey};
pub use search::{SHARD_READ, SUGGEST_READ, Suggestion};

use crate::deadline::Deadline;
use aws_sdk_dynamodb::Client;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: Arc<str>,
    /// Where the invocation using this store must have answered by; nothing is sent
    /// that could not end before it.
    deadline: Option<Deadline>,
    /// The request this store serves, when it was sent with an `Idempotency-Key`: its
    /// first read also fetches the key's record.
    keyed: Option<Arc<KeyedRead>>,
}

impl Store {
    pub fn new(client: Client, table: impl Into<Arc<str>>) -> Self {
        Self {
            client,
            table: table.into(),
            deadline: None,
            keyed: None,
        }
    }

    /// This store, for an invocation that must answer by `deadline`.
    pub fn until(&self, deadline: Deadline) -> Self {
        Self {
            deadline: Some(deadline),
            ..self.clone()
        }
    }

    pub(crate) fn deadline(&self) -> Deadline {
        self.deadline
            .unwrap_or_else(|| Deadline::after(crate::deadline::DEFAULT_BUDGET))
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}
