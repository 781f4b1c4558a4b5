//! Live WebSocket connections: recorded by `$connect`, found by a push, deleted by
//! `$disconnect`, by a push that finds one gone, or by the sweeper once its token expired.
//! None of them is part of a transition: a connection is one item of its own, written
//! whole or deleted whole.

use super::keys::{self, IndexKeys, Row};
use super::ops::s;
use super::{Store, StoreError};
use crate::domain::{Connection, ConnectionId, UserId};

/// More than a user ever keeps at once: [`crate::domain::MAX_CONNECTIONS`] plus connects
/// racing each other, before the oldest are closed.
const CONNECTIONS_READ: i32 = 50;

impl Store {
    /// Records a new connection (one PutItem).
    pub async fn connect(&self, connection: &Connection) -> Result<(), StoreError> {
        let item = serde_dynamo::to_item(Row {
            pk: keys::user_pk(&connection.user_id),
            sk: keys::connection_sk(&connection.connection_id),
            index: IndexKeys::for_connection(connection),
            body: connection,
        })?;
        self.client
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .send()
            .await?;
        Ok(())
    }

    /// A user's recorded connections, expired ones included (one Query of their item
    /// collection, eventually consistent: a connection made a moment ago may be missing,
    /// which costs it one push, never the notification).
    pub async fn connections(&self, user: &UserId) -> Result<Vec<Connection>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("PK = :pk AND begins_with(SK, :conn)")
            .expression_attribute_values(":pk", s(keys::user_pk(user)))
            .expression_attribute_values(":conn", s(keys::CONNECTION_SK_PREFIX))
            .limit(CONNECTIONS_READ)
            .send()
            .await?;
        Ok(serde_dynamo::from_items(out.items.unwrap_or_default())?)
    }

    /// Forgets a connection (one DeleteItem); forgetting one already gone is no error.
    pub async fn disconnect(&self, user: &UserId, id: &ConnectionId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(self.table())
            .key(keys::PK, s(keys::user_pk(user)))
            .key(keys::SK, s(keys::connection_sk(id)))
            .send()
            .await?;
        Ok(())
    }
}
