//! Reading applications: one, a job's, and a freelancer's own.

use super::keys;
use super::ops::s;
use super::{Page, PageKey, Store, StoreError};
use crate::domain::{Application, ApplicationId, JobId, UserId};

impl Store {
    pub async fn application(
        &self,
        job_id: JobId,
        id: ApplicationId,
    ) -> Result<Option<Application>, StoreError> {
        self.get(keys::job_pk(job_id), &keys::application_sk(id))
            .await
    }

    pub async fn list_applications(
        &self,
        job_id: JobId,
        limit: u32,
        start: Option<PageKey>,
    ) -> Result<Page<Application>, StoreError> {
        let query = self
            .client
            .query()
            .key_condition_expression("PK = :pk AND begins_with(SK, :app)")
            .expression_attribute_values(":pk", s(keys::job_pk(job_id)))
            .expression_attribute_values(":app", s(keys::APPLICATION_SK_PREFIX))
            .consistent_read(true);
        self.page(query, limit, start).await
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
