//! What a hire reads: the job and the application, in one round trip.

use super::keys;
use super::{Store, StoreError};
use crate::domain::{Application, ApplicationId, Job, JobId};

impl Store {
    /// The job and one of its applications, in one consistent BatchGetItem: both live in
    /// the job's item collection.
    pub async fn job_and_application(
        &self,
        job_id: JobId,
        application_id: ApplicationId,
    ) -> Result<(Option<Job>, Option<Application>), StoreError> {
        let job_key = (keys::job_pk(job_id), keys::JOB_SK.to_owned());
        let app_key = (keys::job_pk(job_id), keys::application_sk(application_id));
        let mut found = self.get_many(vec![job_key, app_key.clone()]).await?;
        let application = found
            .remove(&app_key)
            .map(serde_dynamo::from_item)
            .transpose()?;
        let job = found
            .into_values()
            .next()
            .map(serde_dynamo::from_item)
            .transpose()?;
        Ok((job, application))
    }
}
