//! The inbox: notifications delivered exactly once per event and recipient, the fan-out
//! that rejects a closed job's pending applications, and the rejection of one that arrived
//! after its job closed.

use super::keys;
use super::ops::s;
use super::{Page, PageKey, Store, StoreError};
use crate::domain::transitions::{Deliver, Delivered, Reject};
use crate::domain::{
    Application, ApplicationStatus, EventId, EventKind, InboxHead, JobId, Notification,
    OutboxEvent, UserId,
};
use futures::StreamExt;

const REJECT_CONCURRENCY: usize = 16;

impl Store {
    /// Delivers `notifications`, all to one recipient, at the next positions of their inbox
    /// in one write, leaving out any they already have; answers both, with their positions.
    pub async fn deliver(&self, notifications: Vec<Notification>) -> Result<Delivered, StoreError> {
        let Some(first) = notifications.first() else {
            return Ok(Delivered::default());
        };
        let head = self.inbox_head(&first.recipient_id).await?;
        Ok(self.run(Deliver::new(notifications, head)).await?.answer)
    }

    async fn inbox_head(&self, user: &UserId) -> Result<Option<InboxHead>, StoreError> {
        self.get(keys::user_pk(user), keys::INBOX_HEAD_SK).await
    }

    /// Rejects every pending application of a closed job and notifies each applicant, one
    /// small transaction per application (no 100-item limit however many applied). An
    /// application no longer pending (already rejected by an earlier delivery, or withdrawn)
    /// is skipped. Returns the notifications of those rejected now, as delivered.
    pub async fn reject_pending(
        &self,
        job_id: JobId,
        event: &OutboxEvent,
    ) -> Result<Vec<Notification>, StoreError> {
        let mut rejected = Vec::new();
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
            let outcomes: Vec<Result<Option<Notification>, StoreError>> =
                futures::stream::iter(page.items)
                    .map(|application| async move { self.reject_one(application, event).await })
                    .buffer_unordered(REJECT_CONCURRENCY)
                    .collect()
                    .await;
            for outcome in outcomes {
                rejected.extend(outcome?);
            }
            if start.is_none() {
                return Ok(rejected);
            }
        }
    }

    /// Rejects the application `received` announced if its job is no longer open: it
    /// committed after the job left `open`, perhaps after the close's fan-out ran. One
    /// strongly consistent read of the job and the application; the applicant's
    /// notification if it rejected it now.
    pub async fn reject_if_late(
        &self,
        received: &OutboxEvent,
        now: crate::time::Timestamp,
    ) -> Result<Option<Notification>, StoreError> {
        let EventKind::ApplicationReceived {
            job_id,
            application_id,
            ..
        } = &received.kind
        else {
            return Ok(None);
        };
        let (Some(job), Some(application)) =
            self.job_and_application(*job_id, *application_id).await?
        else {
            return Ok(None);
        };
        match received.late_closing(&job, now) {
            Some(closed) if application.status == ApplicationStatus::Pending => {
                self.reject_one(application, &closed).await
            }
            _ => Ok(None),
        }
    }

    async fn reject_one(
        &self,
        application: Application,
        closed: &OutboxEvent,
    ) -> Result<Option<Notification>, StoreError> {
        let head = self.inbox_head(&application.freelancer_id).await?;
        let reject = Reject {
            application,
            closed: closed.clone(),
            head,
        };
        match self.run(reject).await {
            Ok(committed) => Ok(Some(committed.answer.1)),
            // No longer pending: rejected by an earlier delivery of this event, or withdrawn.
            Err(StoreError::Rejected(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A user's notifications in the order they were delivered, newest first; only unread
    /// ones when `unread_only`.
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
                .index_name(keys::BOARD_INDEX)
                .key_condition_expression("GSI2PK = :pk")
                .expression_attribute_values(":pk", s(keys::inbox(user)))
        };
        self.page(query, limit, start).await
    }

    /// What was delivered to `user` after position `after`, oldest first, up to `limit`,
    /// and never past a gap: positions have none, so a missing one is a delivery the index
    /// does not show yet (it is eventually consistent), and stopping before it is what lets
    /// a client that asks again from its last position never miss one delivered late.
    pub async fn delivered_after(
        &self,
        user: &UserId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(self.table())
            .index_name(keys::BOARD_INDEX)
            .key_condition_expression("GSI2PK = :pk AND GSI2SK > :after")
            .expression_attribute_values(":pk", s(keys::inbox(user)))
            .expression_attribute_values(":after", s(keys::inbox_position(after)))
            .scan_index_forward(true)
            .limit(limit as i32)
            .send()
            .await?;
        let mut items = Vec::new();
        for item in out.items.unwrap_or_default() {
            let n: Notification = serde_dynamo::from_item(item)?;
            if n.position != after + items.len() as u64 + 1 {
                break;
            }
            items.push(n);
        }
        Ok(items)
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
