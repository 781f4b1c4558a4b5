//! Jobs, applications and hiring.

use super::keys::{self, IndexKeys};
use super::ops::{build_err, cancelled, failed, n, names, old_item, s, state_now, values};
use super::transact::TxError;
use super::{Page, PageKey, Store, StoreError};
use crate::domain::{
    Application, ApplicationId, ApplicationStatus, AuditRecord, CloseReason, Contract, Entity,
    EventId, EventKind, Job, JobId, JobStatus, OutboxEvent, Rejection, UserId,
};
use crate::time::{self, Timestamp};
use aws_sdk_dynamodb::types::{
    ConditionCheck, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use serde::Serialize;

/// Stale-count retries of one hire on a multi-opening job; each retry follows another
/// hire that succeeded, so the bound is the number of openings in practice.
const HIRE_ATTEMPTS: u32 = 60;

#[derive(Debug, Clone, Serialize)]
pub struct Hired {
    pub job: Job,
    pub application: Application,
    pub contract: Contract,
    /// Committed with the hire; to be published.
    #[serde(skip)]
    pub events: Vec<OutboxEvent>,
}

/// What one hire transaction found.
enum HireAttempt {
    Hired(Box<Hired>),
    /// Another hire moved `hired_count` first; here is the job as it is now.
    Stale(Job),
    /// Conflicts, throttling or lost answers outlasted the retries: this hire may or may not
    /// have committed.
    Unknown(Box<Hired>, BoxError),
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Store {
    /// `pending → to` for one application, on condition that it is still pending (and, for
    /// a withdrawal, that `only_by` is its applicant). Every way out of `pending` is this.
    pub(super) fn application_leaves_pending(
        &self,
        application: &Application,
        to: ApplicationStatus,
        only_by: Option<&UserId>,
        now: Timestamp,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut vals = values([
            (":to", s(to.as_str())),
            (":pending", s(ApplicationStatus::Pending.as_str())),
            (":now", s(time::format(now))),
        ]);
        let condition = match only_by {
            Some(user) => {
                vals.insert(":caller".into(), s(user.as_str()));
                "#status = :pending AND freelancer_id = :caller"
            }
            None => "#status = :pending",
        };
        self.update(
            (
                keys::job_pk(application.job_id),
                keys::application_sk(application.application_id),
            ),
            "SET #status = :to, updated_at = :now",
            condition,
            names([("#status", "status")]),
            vals,
        )
    }

    pub async fn create_job(&self, job: &Job) -> Result<(), StoreError> {
        let event = AuditRecord::new(
            Entity::Job,
            job.job_id,
            "created",
            &job.owner_id,
            None,
            job.status.as_str(),
            job.created_at,
        );
        let items = vec![
            self.put(
                keys::job_pk(job.job_id),
                keys::JOB_SK.to_owned(),
                IndexKeys::for_job(job),
                job,
                true,
            )?,
            self.audit(job.job_id, &event)?,
        ];
        self.transact(items).await.map_err(|e| match e {
            TxError::Store(e) => e,
            TxError::Cancelled(_) => StoreError::Failed("a new job id collided".into()),
        })
    }

    pub async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        self.get(keys::job_pk(id), keys::JOB_SK).await
    }

    pub async fn application(
        &self,
        job_id: JobId,
        id: ApplicationId,
    ) -> Result<Option<Application>, StoreError> {
        self.get(keys::job_pk(job_id), &keys::application_sk(id))
            .await
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

    /// Applies to an open job. The guard item (one per job and freelancer) makes a second
    /// application impossible, however many race.
    pub async fn apply(
        &self,
        job: &Job,
        application: &Application,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let now = application.created_at;
        let job_check = ConditionCheck::builder()
            .table_name(self.table())
            .key(keys::PK, s(keys::job_pk(job.job_id)))
            .key(keys::SK, s(keys::JOB_SK))
            .condition_expression("#status = :open AND expires_at > :now AND owner_id <> :caller")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":open", s(JobStatus::Open.as_str()))
            .expression_attribute_values(":now", s(time::format(now)))
            .expression_attribute_values(":caller", s(application.freelancer_id.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_err)?;
        let guard = serde_json::json!({"application_id": application.application_id});
        let event = AuditRecord::new(
            Entity::Application,
            application.application_id,
            "applied",
            &application.freelancer_id,
            None,
            application.status.as_str(),
            now,
        );
        let items = vec![
            TransactWriteItem::builder()
                .condition_check(job_check)
                .build(),
            self.put(
                keys::job_pk(job.job_id),
                keys::applicant_guard_sk(&application.freelancer_id),
                IndexKeys::default(),
                &guard,
                true,
            )?,
            self.put(
                keys::job_pk(job.job_id),
                keys::application_sk(application.application_id),
                IndexKeys {
                    gsi1pk: Some(keys::freelancer_applications(&application.freelancer_id)),
                    gsi1sk: Some(keys::by_creation(now, application.application_id)),
                    ..IndexKeys::default()
                },
                application,
                true,
            )?,
            self.audit(job.job_id, &event)?,
        ];
        let mut items = items;
        let events = vec![OutboxEvent::new(
            EventKind::ApplicationReceived {
                job_id: job.job_id,
                application_id: application.application_id,
                owner_id: job.owner_id.clone(),
            },
            now,
        )];
        for e in &events {
            items.push(self.outbox_put(e)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(events),
            Err(TxError::Store(e)) => Err(e),
            Err(TxError::Cancelled(reasons)) => {
                if failed(reasons.first()) {
                    let current: Job = old_item(&reasons[0]).unwrap_or_else(|| job.clone());
                    let rejection = current
                        .check_may_apply(&application.freelancer_id, now)
                        .err()
                        .unwrap_or(Rejection::JobNotOpen(current.status_at(now)));
                    Err(rejection.into())
                } else if failed(reasons.get(1)) {
                    Err(Rejection::AlreadyApplied.into())
                } else {
                    Err(cancelled("apply", &reasons))
                }
            }
        }
    }

    pub async fn withdraw(
        &self,
        application: &Application,
        caller: &UserId,
        now: Timestamp,
    ) -> Result<Application, StoreError> {
        let mut after = application.clone();
        after.status = ApplicationStatus::Withdrawn;
        after.updated_at = now;
        let event = AuditRecord::new(
            Entity::Application,
            application.application_id,
            "withdrawn",
            caller,
            Some(ApplicationStatus::Pending.as_str()),
            after.status.as_str(),
            now,
        );
        let items = vec![
            self.application_leaves_pending(application, after.status, Some(caller), now)?,
            self.audit(application.job_id, &event)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(after),
            Err(TxError::Store(e)) => Err(e),
            Err(TxError::Cancelled(reasons)) => {
                let current = state_now("withdraw", &reasons, application)?;
                Err(current
                    .check_may_withdraw(caller)
                    .err()
                    .unwrap_or(Rejection::ApplicationNotPending(current.status))
                    .into())
            }
        }
    }

    pub async fn cancel_job(
        &self,
        job: &Job,
        caller: &UserId,
        now: Timestamp,
    ) -> Result<(Job, Vec<OutboxEvent>), StoreError> {
        let mut after = job.clone();
        after.status = JobStatus::Cancelled;
        after.version += 1;
        after.updated_at = now;
        let index = IndexKeys::for_job(&after);
        let event = AuditRecord::new(
            Entity::Job,
            job.job_id,
            "cancelled",
            caller,
            Some(JobStatus::Open.as_str()),
            after.status.as_str(),
            now,
        );
        let items = vec![
            self.update(
                (keys::job_pk(job.job_id), keys::JOB_SK.to_owned()),
                "SET #status = :cancelled, version = version + :one, updated_at = :now, \
                 GSI1PK = :gsi1pk, GSI2PK = :gsi2pk REMOVE DUEPK, DUESK",
                "#status = :open AND owner_id = :caller AND expires_at > :now",
                names([("#status", "status")]),
                values([
                    (":cancelled", s(after.status.as_str())),
                    (":open", s(JobStatus::Open.as_str())),
                    (":one", n(1)),
                    (":now", s(time::format(now))),
                    (":caller", s(caller.as_str())),
                    (":gsi1pk", s(index.gsi1pk.unwrap_or_default())),
                    (":gsi2pk", s(index.gsi2pk.unwrap_or_default())),
                ]),
            )?,
            self.audit(job.job_id, &event)?,
        ];
        let mut items = items;
        let events = vec![OutboxEvent::new(
            EventKind::JobClosed {
                job_id: job.job_id,
                reason: CloseReason::Cancelled,
            },
            now,
        )];
        for e in &events {
            items.push(self.outbox_put(e)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok((after, events)),
            Err(TxError::Store(e)) => Err(e),
            Err(TxError::Cancelled(reasons)) => {
                let current = state_now("cancel", &reasons, job)?;
                Err(current
                    .check_owner_may_change(caller, now)
                    .err()
                    .unwrap_or(Rejection::JobNotOpen(current.status_at(now)))
                    .into())
            }
        }
    }

    /// Hires `application` onto `job` (§4 of the design): one transaction whose conditions
    /// make a double hire impossible. A stale count on a multi-opening job is retried with
    /// the job as the failed condition returned it, so no second read is needed.
    ///
    /// Only the job is checked before writing (a refusal there needs no write). Whether the
    /// application is still pending is left to the transaction's condition: the application
    /// may have been read after a hire that the job was read before, and the condition, with
    /// the job's checked first, makes `JOB_NOT_OPEN` win as it must.
    pub async fn hire(
        &self,
        mut job: Job,
        application: Application,
        caller: &UserId,
        now: Timestamp,
    ) -> Result<Hired, StoreError> {
        for attempt in 1..=HIRE_ATTEMPTS {
            job.check_owner_may_change(caller, now)?;
            match self.hire_once(&job, &application, caller, now).await? {
                HireAttempt::Hired(hired) => return Ok(*hired),
                HireAttempt::Unknown(hired, error) => {
                    return self.settle(*hired, caller, now, error).await;
                }
                HireAttempt::Stale(current) => {
                    tracing::debug!(attempt, job_id = %job.job_id, "stale hired_count, retrying");
                    job = current;
                    super::transact::backoff(attempt.min(3)).await;
                }
            }
        }
        Err(StoreError::Unavailable(
            "hire kept losing to other hires".into(),
        ))
    }

    /// Settles a hire whose outcome is unknown. Its contract says whether it committed:
    /// then it is the caller's hire. If not and the job has left `open` meanwhile, the caller
    /// lost the race and hears 409 as every other loser does; otherwise 503. The reads only
    /// choose the answer; nothing is written on them.
    async fn settle(
        &self,
        hired: Hired,
        caller: &UserId,
        now: Timestamp,
        error: BoxError,
    ) -> Result<Hired, StoreError> {
        if let Ok(Some(_)) = self.contract(hired.contract.contract_id).await {
            return Ok(hired);
        }
        if let Ok(Some(current)) = self.job(hired.job.job_id).await {
            current.check_owner_may_change(caller, now)?;
        }
        Err(StoreError::Unavailable(error))
    }

    async fn hire_once(
        &self,
        job: &Job,
        application: &Application,
        caller: &UserId,
        now: Timestamp,
    ) -> Result<HireAttempt, StoreError> {
        let mut job_after = job.clone();
        job_after.hired_count += 1;
        job_after.status = job.status_after_hire();
        job_after.version += 1;
        job_after.updated_at = now;
        let mut application_after = application.clone();
        application_after.status = ApplicationStatus::Hired;
        application_after.updated_at = now;
        let contract = Contract::for_hire(job, application, now);
        let index = IndexKeys::for_job(&job_after);

        let mut events = vec![
            AuditRecord::new(
                Entity::Application,
                application.application_id,
                "hired",
                caller,
                Some(application.status.as_str()),
                application_after.status.as_str(),
                now,
            ),
            AuditRecord::new(
                Entity::Contract,
                contract.contract_id,
                "created",
                caller,
                None,
                contract.status.as_str(),
                now,
            ),
        ];
        if job_after.status != job.status {
            events.push(AuditRecord::new(
                Entity::Job,
                job.job_id,
                "filled",
                caller,
                Some(job.status.as_str()),
                job_after.status.as_str(),
                now,
            ));
        }

        // One instant, but the trail must read hired, contract created, filled, in that order.
        let ids = EventId::sequence(now, events.len());
        for (event, id) in events.iter_mut().zip(ids) {
            event.event_id = id;
        }

        let mut items = vec![
            self.update(
                (keys::job_pk(job.job_id), keys::JOB_SK.to_owned()),
                if job_after.status == JobStatus::Open {
                    "SET hired_count = :next, #status = :status, version = version + :one, \
                     updated_at = :now, GSI1PK = :gsi1pk, GSI2PK = :gsi2pk"
                } else {
                    // A filled job is no longer due to expire.
                    "SET hired_count = :next, #status = :status, version = version + :one, \
                     updated_at = :now, GSI1PK = :gsi1pk, GSI2PK = :gsi2pk REMOVE DUEPK, DUESK"
                },
                "#status = :open AND owner_id = :caller AND hired_count = :seen AND expires_at > :now",
                names([("#status", "status")]),
                values([
                    (":next", n(job_after.hired_count)),
                    (":seen", n(job.hired_count)),
                    (":status", s(job_after.status.as_str())),
                    (":open", s(JobStatus::Open.as_str())),
                    (":one", n(1)),
                    (":now", s(time::format(now))),
                    (":caller", s(caller.as_str())),
                    (":gsi1pk", s(index.gsi1pk.unwrap_or_default())),
                    (":gsi2pk", s(index.gsi2pk.unwrap_or_default())),
                ]),
            )?,
            self.application_leaves_pending(application, application_after.status, None, now)?,
            self.put(
                keys::contract_pk(contract.contract_id),
                keys::CONTRACT_SK.to_owned(),
                IndexKeys::default(),
                &contract,
                true,
            )?,
            self.contract_link(&contract.owner_id, &contract)?,
            self.contract_link(&contract.freelancer_id, &contract)?,
        ];
        for event in &events {
            items.push(self.audit(job.job_id, event)?);
        }
        let mut announcements = vec![OutboxEvent::new(
            EventKind::Hired {
                job_id: job.job_id,
                application_id: application.application_id,
                contract_id: contract.contract_id,
                freelancer_id: application.freelancer_id.clone(),
            },
            now,
        )];
        if job_after.status == JobStatus::Filled {
            announcements.push(OutboxEvent::new(
                EventKind::JobClosed {
                    job_id: job.job_id,
                    reason: CloseReason::Filled,
                },
                now,
            ));
        }
        for event in &announcements {
            items.push(self.outbox_put(event)?);
        }

        let hired = Box::new(Hired {
            job: job_after,
            application: application_after,
            contract,
            events: announcements,
        });
        match self.transact(items).await {
            Ok(()) => Ok(HireAttempt::Hired(hired)),
            Err(TxError::Store(StoreError::Unavailable(e))) => Ok(HireAttempt::Unknown(hired, e)),
            Err(TxError::Store(e)) => Err(e),
            Err(TxError::Cancelled(reasons)) => {
                if failed(reasons.first()) {
                    let current: Job = old_item(&reasons[0]).ok_or_else(|| {
                        StoreError::Failed("hire cancelled without the job's old image".into())
                    })?;
                    match current.check_owner_may_change(caller, now) {
                        Err(rejection) => Err(rejection.into()),
                        Ok(()) => Ok(HireAttempt::Stale(current)),
                    }
                } else if failed(reasons.get(1)) {
                    let current: Application =
                        old_item(&reasons[1]).unwrap_or_else(|| application.clone());
                    Err(Rejection::ApplicationNotPending(current.status).into())
                } else {
                    Err(cancelled("hire", &reasons))
                }
            }
        }
    }
}
