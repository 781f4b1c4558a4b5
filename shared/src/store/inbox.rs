//! The inbox: notifications delivered exactly once per event and recipient, and the
//! fan-out that rejects a closed job's pending applications.

use super::keys::{self, IndexKeys};
use super::ops::{cancelled, failed, s};
use super::transact::TxError;
use super::{Page, PageKey, Store, StoreError};
use crate::domain::{
    Application, ApplicationStatus, AuditRecord, Entity, EventId, JobId, Notification, OutboxEvent,
    UserId,
};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt;

const REJECT_CONCURRENCY: usize = 16;

/// Unread notifications carry a UserIndex key, so `unread=true` is one Query of them only.
fn unread_index(n: &Notification) -> IndexKeys {
    IndexKeys {
        gsi1pk: Some(keys::unread(&n.recipient_id)),
        gsi1sk: Some(keys::notification_sk(n.notification_id)),
        ..IndexKeys::default()
    }
}

impl Store {
    fn notification_put(
        &self,
        n: &Notification,
    ) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
        self.put(
            keys::user_pk(&n.recipient_id),
            keys::notification_sk(n.notification_id),
            unread_index(n),
            n,
            true,
        )
    }

    /// Writes `n` unless this recipient already has the notification of this event.
    /// Returns whether it was new. A plain conditional put: half the cost of a transaction.
    pub async fn deliver(&self, n: &Notification) -> Result<bool, StoreError> {
        let item = serde_dynamo::to_item(keys::Row {
            pk: keys::user_pk(&n.recipient_id),
            sk: keys::notification_sk(n.notification_id),
            index: unread_index(n),
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
                .map(|application| async move { self.reject_one(&application, event).await })
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
        application: &Application,
        event: &OutboxEvent,
    ) -> Result<bool, StoreError> {
        let Some(notification) =
            event.rejection_for(&application.freelancer_id, application.application_id)
        else {
            return Ok(false);
        };
        // When it happens, and never in the same millisecond as the change that caused it:
        // the trail must read the hire (or cancel, or expiry) before its rejections.
        let now = crate::time::now().max(event.created_at + chrono::Duration::milliseconds(1));
        let audit = AuditRecord::new(
            Entity::Application,
            application.application_id,
            "rejected",
            &UserId::system(),
            Some(ApplicationStatus::Pending.as_str()),
            ApplicationStatus::Rejected.as_str(),
            now,
        );
        let items = vec![
            self.application_leaves_pending(application, ApplicationStatus::Rejected, None, now)?,
            self.notification_put(&notification)?,
            self.audit(application.job_id, &audit)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            // No longer pending: rejected by an earlier delivery of this event, or withdrawn.
            Err(TxError::Cancelled(reasons)) if failed(reasons.first()) => Ok(false),
            Err(TxError::Cancelled(reasons)) => Err(cancelled("rejection", &reasons)),
            Err(TxError::Store(e)) => Err(e),
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

    /// Marks the recipient's notification read; `None` if they have no such notification.
    pub async fn mark_read(
        &self,
        user: &UserId,
        id: EventId,
    ) -> Result<Option<Notification>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .key(keys::PK, s(keys::user_pk(user)))
            .key(keys::SK, s(keys::notification_sk(id)))
            .update_expression("SET #read = :true REMOVE GSI1PK, GSI1SK")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#read", "read")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        let Some(out) = super::error::unless_condition_failed(result)? else {
            return Ok(None);
        };
        Ok(out.attributes.map(serde_dynamo::from_item).transpose()?)
    }

    /// A freelancer's applications, newest first.
    pub async fn applications_of(
        &self,
        freelancer: &UserId,
        limit: u32,
        start: Option<PageKey>,
    ) -> Result<Page<Application>, StoreError> {
        let query = self
            .client
            .query()
            .index_name(keys::USER_INDEX)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(keys::freelancer_applications(freelancer)));
        self.page(query, limit, start).await
    }
}
