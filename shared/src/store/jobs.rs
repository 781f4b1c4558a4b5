//! Reading jobs: one job, a job with its applications, the board and an owner's jobs.
//! Every change to a job is a domain transition committed by [`Store::run`].

use super::keys;
use super::ops::s;
use super::{Page, PageKey, Store, StoreError};
use crate::domain::{Application, Job, JobId, JobStatus, UserId};
use crate::time::{self, Timestamp};

impl Store {
    pub async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        self.get(keys::job_pk(id), keys::JOB_SK).await
    }

    /// The job and all its applications, newest first, from one Query of its item
    /// collection (paged through when it exceeds 1 MB).
    pub async fn job_with_applications(
        &self,
        id: JobId,
    ) -> Result<Option<(Job, Vec<Application>)>, StoreError> {
        let mut job = None;
        let mut applications = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(self.table())
                .key_condition_expression("PK = :pk AND begins_with(SK, :job)")
                .expression_attribute_values(":pk", s(keys::job_pk(id)))
                .expression_attribute_values(":job", s(keys::JOB_SK))
                .scan_index_forward(false)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await?;
            for item in out.items.unwrap_or_default() {
                let is_job = item
                    .get(keys::SK)
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
                    == Some(keys::JOB_SK);
                if is_job {
                    job = Some(serde_dynamo::from_item::<_, Job>(item)?);
                } else {
                    applications.push(serde_dynamo::from_item(item)?);
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(job.map(|job| (job, applications)))
    }

    /// Jobs with `status`, newest first; the owner's only when `owner` is given.
    /// An open job past its deadline is left out even before the sweeper expires it.
    pub async fn list_jobs(
        &self,
        status: JobStatus,
        owner: Option<&UserId>,
        limit: u32,
        start: Option<PageKey>,
        now: Timestamp,
    ) -> Result<Page<Job>, StoreError> {
        let (index, pk, sk) = match owner {
            Some(owner) => (keys::USER_INDEX, "GSI1PK", keys::owner_jobs(owner, status)),
            None => (keys::BOARD_INDEX, "GSI2PK", keys::board(status)),
        };
        let mut query = self
            .client
            .query()
            .index_name(index)
            .key_condition_expression(format!("{pk} = :pk"))
            .expression_attribute_values(":pk", s(sk));
        if status == JobStatus::Open {
            query = query
                .filter_expression("expires_at > :now")
                .expression_attribute_values(":now", s(time::format(now)));
        }
        self.page(query, limit, start).await
    }
}
