//! The DynamoDB store: one table, keys and indexes as in the README's access-pattern table.
//! Every state change is one conditional write or one TransactWriteItems; nothing here
//! decides a race with a read.

mod contracts;
mod error;
mod inbox;
mod jobs;
pub mod keys;
mod ops;
mod outbox;
mod page;
mod transact;

pub use error::StoreError;
pub use jobs::Hired;
pub use outbox::{DuePage, OutboxRow};
pub use page::{Page, PageKey};

use aws_sdk_dynamodb::Client;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: Arc<str>,
}

impl Store {
    pub fn new(client: Client, table: impl Into<Arc<str>>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}
