//! A job's trail: the audit records of the job, its applications and its contracts, all in
//! the job's item collection.

use super::keys;
use super::ops::s;
use super::{Page, PageKey, Store, StoreError};
use crate::domain::{ApplicationId, ApplicationStatus, AuditRecord, JobId, UserId};
use serde::Deserialize;

impl Store {
    /// A job's audit trail, oldest first: the order its changes committed.
    pub async fn job_events(
        &self,
        job_id: JobId,
        limit: u32,
        start: Option<PageKey>,
    ) -> Result<Page<AuditRecord>, StoreError> {
        let query = self
            .client
            .query()
            .key_condition_expression("PK = :pk AND begins_with(SK, :event)")
            .expression_attribute_values(":pk", s(keys::job_pk(job_id)))
            .expression_attribute_values(":event", s(keys::EVENT_SK_PREFIX))
            .scan_index_forward(true)
            .consistent_read(true);
        self.page_in_order(query, limit, start).await
    }

    /// Whether `user` holds a hired application on the job: who may read its trail.
    pub async fn is_hired_on(&self, job_id: JobId, user: &UserId) -> Result<bool, StoreError> {
        #[derive(Deserialize)]
        struct Guard {
            application_id: ApplicationId,
        }
        let guard: Option<Guard> = self
            .get(keys::job_pk(job_id), &keys::applicant_guard_sk(user))
            .await?;
        let Some(guard) = guard else {
            return Ok(false);
        };
        Ok(self
            .application(job_id, guard.application_id)
            .await?
            .is_some_and(|a| a.status == ApplicationStatus::Hired))
    }
}
