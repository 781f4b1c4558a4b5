//! The inbox: notifications delivered exactly once per event and recipient, and the
//! fan-out that rejects a closed job's pending applications.

use super::keys::{self, IndexKeys};
use super::ops::s;
use super::{Page, PageKey, Store, StoreError};
use crate::domain::transitions::Reject;
use crate::domain::{
    Application, ApplicationStatus, EventId, JobId, Notification, OutboxEvent, UserId,
};
use futures::StreamExt;

const REJECT_CONCURRENCY: usize = 16;

impl Store {
    /// Writes `n` unless this recipient already has the notification of this event.
    /// Returns whether it was new. A plain conditional put: half the cost of a transaction.
    pub async fn deliver(&self, n: &Notification) -> Result<bool, StoreError> {
        let item = serde_dynamo::to_item(keys::Row {
            pk: keys::user_pk(&n.recipient_id),
            sk: keys::notification_sk(n.notification_id),
            index: IndexKeys::for_notification(n),
            body: n,
        })?;
        let result = self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        Ok(super::error::unless_condition_failed(result)?.is_some())
    }

    /// Rejects every pending application of a closed job and notifies each applicant, one
    /// small transaction per application (no 100-item limit however many applied). An
    /// application no longer pending (already rejected by an earlier delivery, or withdrawn)
    /// is skipped. Returns how many were rejected now.
    pub async fn reject_pending(
        &self,
        job_id: JobId,
        event: &OutboxEvent,
    ) -> Result<usize, StoreError> {
        let mut rejected = 0;
        let mut start: Option<PageKey> = None;
        loop {
            let query = self
                .client
                .query()
                .key_condition_expression("PK = :pk AND begins_with(SK, :app)")
                .filter_expression("#status = :pending")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":pk", s(keys::job_pk(job_id)))
                .expression_attribute_values(":app", s(keys::APPLICATION_SK_PREFIX))
                .expression_attribute_values(":pending", s(ApplicationStatus::Pending.as_str()))
                .consistent_read(true);
            let page: Page<Application> = self.page(query, 200, start).await?;
            start = page.next;
            // Independent small transactions: a few at a time keeps thousands of applicants
            // well inside the consumer's timeout.
            let outcomes: Vec<Result<bool, StoreError>> = futures::stream::iter(page.items)
                .map(|application| async move { self.reject_one(application, event).await })
                .buffer_unordered(REJECT_CONCURRENCY)
                .collect()
                .await;
            for outcome in outcomes {
                if outcome? {
                    rejected += 1;
                }
            }
            if start.is_none() {
                return Ok(rejected);
            }
        }
    }

    async fn reject_one(
        &self,
        application: Application,
        closed: &OutboxEvent,
    ) -> Result<bool, StoreError> {
        let reject = Reject {
            application,
            closed: closed.clone(),
        };
        match self.run(reject).await {
            Ok(_) => Ok(true),
            // No longer pending: rejected by an earlier delivery of this event, or withdrawn.
            Err(StoreError::Rejected(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A user's notifications, newest first; only unread ones when `unread_only`.
    pub async fn notifications(
        &self,
        user: &UserId,
        unread_only: bool,
        limit: u32,
        start: Option<PageKey>,
    ) -> Result<Page<Notification>, StoreError> {
        let query = if unread_only {
            self.client
                .query()
                .index_name(keys::USER_INDEX)
                .key_condition_expression("GSI1PK = :pk")
                .expression_attribute_values(":pk", s(keys::unread(user)))
        } else {
            self.client
                .query()
                .key_condition_expression("PK = :pk AND begins_with(SK, :notif)")
                .expression_attribute_values(":pk", s(keys::user_pk(user)))
                .expression_attribute_values(":notif", s(keys::NOTIFICATION_SK_PREFIX))
        };
        self.page(query, limit, start).await
    }

    /// The recipient's notification; `None` for anyone else.
    pub async fn notification(
        &self,
        user: &UserId,
        id: EventId,
    ) -> Result<Option<Notification>, StoreError> {
        self.get(keys::user_pk(user), &keys::notification_sk(id))
            .await
    }
}
