//! Escrow contracts: owner-driven transitions, party links for `/me/contracts`, and the
//! sweeper's expiries of jobs and contracts.

use super::keys::{self, IndexKeys};
use super::ops::{cancelled, failed, names, s, state_now, values};
use super::transact::TxError;
use super::{Page, PageKey, Store, StoreError};
use crate::domain::{
    AuditRecord, CloseReason, Contract, ContractAction, ContractId, ContractStatus, Entity,
    EventKind, Job, JobStatus, OutboxEvent, Rejection, UserId,
};
use crate::time::{self, Timestamp};
use aws_sdk_dynamodb::types::{KeysAndAttributes, TransactWriteItem};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Serialize, Deserialize)]
struct ContractLink {
    contract_id: ContractId,
}

fn contract_changed(contract: &Contract, now: Timestamp) -> OutboxEvent {
    OutboxEvent::new(
        EventKind::ContractChanged {
            job_id: contract.job_id,
            contract_id: contract.contract_id,
            status: contract.status,
            owner_id: contract.owner_id.clone(),
            freelancer_id: contract.freelancer_id.clone(),
        },
        now,
    )
}

impl Store {
    /// A party's pointer to a contract, so each side lists its contracts with one Query.
    pub(super) fn contract_link(
        &self,
        party: &UserId,
        contract: &Contract,
    ) -> Result<TransactWriteItem, StoreError> {
        self.put(
            keys::user_pk(party),
            keys::contract_link_sk(contract.contract_id),
            IndexKeys::default(),
            &ContractLink {
                contract_id: contract.contract_id,
            },
            true,
        )
    }

    pub async fn contract(&self, id: ContractId) -> Result<Option<Contract>, StoreError> {
        self.get(keys::contract_pk(id), keys::CONTRACT_SK).await
    }

    /// Fund, release or refund: one conditional write on the expected state and version
    /// (and, for release and refund, the deadline not passed), with its audit event and the
    /// outbox event that tells the freelancer.
    pub async fn transition_contract(
        &self,
        contract: &Contract,
        action: ContractAction,
        caller: &UserId,
        now: Timestamp,
        release_window: chrono::Duration,
    ) -> Result<(Contract, Vec<OutboxEvent>), StoreError> {
        let after = contract.after(action, now, release_window);
        let (from, to) = action.transition();
        let mut vals = values([
            (":from", s(from.as_str())),
            (":to", s(to.as_str())),
            (":version", super::ops::n(contract.version)),
            (":next", super::ops::n(after.version)),
            (":now", s(time::format(now))),
            (":caller", s(caller.as_str())),
        ]);
        let (expression, condition) = match action {
            ContractAction::Fund => {
                let deadline = after.release_deadline.unwrap_or(now);
                vals.insert(":funded_at".into(), s(time::format(now)));
                vals.insert(":deadline".into(), s(time::format(deadline)));
                vals.insert(
                    ":duepk".into(),
                    s(keys::Due::Contract.pk(contract.contract_id)),
                );
                vals.insert(
                    ":duesk".into(),
                    s(keys::due_at(deadline, contract.contract_id)),
                );
                (
                    "SET #status = :to, version = :next, updated_at = :now, funded_at = :funded_at, \
                     release_deadline = :deadline, DUEPK = :duepk, DUESK = :duesk",
                    "#status = :from AND version = :version AND owner_id = :caller",
                )
            }
            ContractAction::Release | ContractAction::Refund => (
                "SET #status = :to, version = :next, updated_at = :now REMOVE DUEPK, DUESK",
                "#status = :from AND version = :version AND owner_id = :caller AND release_deadline > :now",
            ),
        };
        let event = contract_changed(&after, now);
        let audit = AuditRecord::new(
            Entity::Contract,
            contract.contract_id,
            action.verb(),
            caller,
            Some(from.as_str()),
            to.as_str(),
            now,
        );
        let items = vec![
            self.update(
                (
                    keys::contract_pk(contract.contract_id),
                    keys::CONTRACT_SK.to_owned(),
                ),
                expression,
                condition,
                names([("#status", "status")]),
                vals,
            )?,
            self.audit(contract.job_id, &audit)?,
            self.outbox_put(&event)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok((after, vec![event])),
            Err(TxError::Store(e)) => Err(e),
            Err(TxError::Cancelled(reasons)) => {
                let current = state_now("contract transition", &reasons, contract)?;
                Err(current
                    .check(action, caller, now)
                    .err()
                    .unwrap_or(Rejection::InvalidTransition(current.status_at(now)))
                    .into())
            }
        }
    }

    /// Contracts where `user` is owner or freelancer, newest first: one Query of their
    /// links, one BatchGetItem of the contracts.
    pub async fn contracts_of(
        &self,
        user: &UserId,
        limit: u32,
        start: Option<PageKey>,
    ) -> Result<Page<Contract>, StoreError> {
        let query = self
            .client
            .query()
            .key_condition_expression("PK = :pk AND begins_with(SK, :link)")
            .expression_attribute_values(":pk", s(keys::user_pk(user)))
            .expression_attribute_values(":link", s(keys::CONTRACT_LINK_PREFIX));
        let links: Page<ContractLink> = self.page(query, limit, start).await?;
        if links.items.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next: links.next,
            });
        }
        let mut wanted = KeysAndAttributes::builder().consistent_read(true);
        for link in &links.items {
            wanted = wanted.keys(HashMap::from([
                (keys::PK.to_owned(), s(keys::contract_pk(link.contract_id))),
                (keys::SK.to_owned(), s(keys::CONTRACT_SK)),
            ]));
        }
        let mut request = HashMap::from([(
            self.table().to_owned(),
            wanted.build().map_err(super::ops::build_err)?,
        )]);
        let mut found: HashMap<ContractId, Contract> = HashMap::new();
        // BatchGetItem may return part of the keys as unprocessed; ask again for those, and
        // answer 503 rather than a page with holes if they stay unprocessed.
        for attempt in 0..5 {
            let out = self
                .client
                .batch_get_item()
                .set_request_items(Some(request))
                .send()
                .await?;
            for item in out.responses.unwrap_or_default().into_values().flatten() {
                let contract: Contract = serde_dynamo::from_item(item)?;
                found.insert(contract.contract_id, contract);
            }
            match out.unprocessed_keys.filter(|u| !u.is_empty()) {
                Some(rest) => {
                    request = rest;
                    super::transact::backoff(attempt).await;
                }
                None => {
                    let items = links
                        .items
                        .iter()
                        .filter_map(|l| found.remove(&l.contract_id))
                        .collect();
                    return Ok(Page {
                        items,
                        next: links.next,
                    });
                }
            }
        }
        Err(StoreError::Unavailable(
            "contracts still unprocessed after retries".into(),
        ))
    }

    /// Expires an open job whose deadline has passed. Returns the events to publish, or
    /// `None` when a hire, a cancel or another sweep changed it first.
    pub async fn expire_job(
        &self,
        job: &Job,
        now: Timestamp,
    ) -> Result<Option<Vec<OutboxEvent>>, StoreError> {
        let mut after = job.clone();
        after.status = JobStatus::Expired;
        let index = IndexKeys::for_job(&after);
        let audit = AuditRecord::new(
            Entity::Job,
            job.job_id,
            "expired",
            &UserId::system(),
            Some(JobStatus::Open.as_str()),
            JobStatus::Expired.as_str(),
            now,
        );
        let events = vec![
            OutboxEvent::new(
                EventKind::JobClosed {
                    job_id: job.job_id,
                    reason: CloseReason::Expired,
                },
                now,
            ),
            OutboxEvent::new(
                EventKind::JobExpired {
                    job_id: job.job_id,
                    owner_id: job.owner_id.clone(),
                },
                now,
            ),
        ];
        let mut items = vec![
            self.update(
                (keys::job_pk(job.job_id), keys::JOB_SK.to_owned()),
                "SET #status = :expired, version = version + :one, updated_at = :now, \
                 GSI1PK = :gsi1pk, GSI2PK = :gsi2pk REMOVE DUEPK, DUESK",
                "#status = :open AND expires_at <= :now",
                names([("#status", "status")]),
                values([
                    (":expired", s(JobStatus::Expired.as_str())),
                    (":open", s(JobStatus::Open.as_str())),
                    (":one", super::ops::n(1)),
                    (":now", s(time::format(now))),
                    (":gsi1pk", s(index.gsi1pk.unwrap_or_default())),
                    (":gsi2pk", s(index.gsi2pk.unwrap_or_default())),
                ]),
            )?,
            self.audit(job.job_id, &audit)?,
        ];
        for e in &events {
            items.push(self.outbox_put(e)?);
        }
        self.sweep_transact(items, events).await
    }

    /// Expires a funded contract past its release deadline: the funds return to the owner.
    pub async fn expire_contract(
        &self,
        contract: &Contract,
        now: Timestamp,
    ) -> Result<Option<Vec<OutboxEvent>>, StoreError> {
        let mut after = contract.clone();
        after.status = ContractStatus::Expired;
        let audit = AuditRecord::new(
            Entity::Contract,
            contract.contract_id,
            "expired",
            &UserId::system(),
            Some(ContractStatus::Funded.as_str()),
            ContractStatus::Expired.as_str(),
            now,
        );
        let events = vec![contract_changed(&after, now)];
        let items = vec![
            self.update(
                (keys::contract_pk(contract.contract_id), keys::CONTRACT_SK.to_owned()),
                "SET #status = :expired, version = version + :one, updated_at = :now REMOVE DUEPK, DUESK",
                "#status = :funded AND release_deadline <= :now",
                names([("#status", "status")]),
                values([
                    (":expired", s(ContractStatus::Expired.as_str())),
                    (":funded", s(ContractStatus::Funded.as_str())),
                    (":one", super::ops::n(1)),
                    (":now", s(time::format(now))),
                ]),
            )?,
            self.audit(contract.job_id, &audit)?,
            self.outbox_put(&events[0])?,
        ];
        self.sweep_transact(items, events).await
    }

    async fn sweep_transact(
        &self,
        items: Vec<TransactWriteItem>,
        events: Vec<OutboxEvent>,
    ) -> Result<Option<Vec<OutboxEvent>>, StoreError> {
        match self.transact(items).await {
            Ok(()) => Ok(Some(events)),
            Err(TxError::Cancelled(reasons)) if failed(reasons.first()) => Ok(None),
            Err(TxError::Cancelled(reasons)) => Err(cancelled("expiry", &reasons)),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    /// A job's audit trail, oldest first.
    pub async fn job_events(
        &self,
        job_id: crate::domain::JobId,
        limit: u32,
        start: Option<PageKey>,
    ) -> Result<Page<AuditRecord>, StoreError> {
        let query = self
            .client
            .query()
            .key_condition_expression("PK = :pk AND begins_with(SK, :event)")
            .expression_attribute_values(":pk", s(keys::job_pk(job_id)))
            .expression_attribute_values(":event", s("EVENT#"))
            .scan_index_forward(true)
            .consistent_read(true);
        self.page_in_order(query, limit, start).await
    }

    /// Whether `user` holds a hired application on the job.
    pub async fn is_hired_on(
        &self,
        job_id: crate::domain::JobId,
        user: &UserId,
    ) -> Result<bool, StoreError> {
        #[derive(Deserialize)]
        struct Guard {
            application_id: crate::domain::ApplicationId,
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
            .is_some_and(|a| a.status == crate::domain::ApplicationStatus::Hired))
    }
}
