use super::{ApplicationId, ContractId, ContractStatus, EventId, Job, JobId, JobStatus, UserId};
use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};

/// Something that happened that others must hear of. It is written to the outbox in the
/// same transaction as the change, so it exists exactly when the change does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    pub event_id: EventId,
    #[serde(with = "time::rfc3339")]
    pub created_at: Timestamp,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A job was posted: nobody is told; it exists for consumers that follow the board.
    JobPosted {
        job_id: JobId,
        owner_id: UserId,
    },
    ApplicationReceived {
        job_id: JobId,
        application_id: ApplicationId,
        owner_id: UserId,
    },
    Hired {
        job_id: JobId,
        application_id: ApplicationId,
        contract_id: ContractId,
        freelancer_id: UserId,
    },
    /// The job left `open`: each pending application is rejected and its applicant told.
    JobClosed {
        job_id: JobId,
        reason: CloseReason,
    },
    JobExpired {
        job_id: JobId,
        owner_id: UserId,
    },
    ContractChanged {
        job_id: JobId,
        contract_id: ContractId,
        status: ContractStatus,
        owner_id: UserId,
        freelancer_id: UserId,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    Filled,
    Cancelled,
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationType {
    ApplicationReceived,
    Hired,
    ApplicationRejected,
    JobExpired,
    ContractFunded,
    ContractReleased,
    ContractRefunded,
    ContractExpired,
}

/// One inbox entry. Its id is the id of the event it announces: a user gets at most one
/// notification per event, which is what makes redelivery harmless.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub notification_id: EventId,
    pub recipient_id: UserId,
    #[serde(rename = "type")]
    pub kind: NotificationType,
    pub message: String,
    pub read: bool,
    pub job_id: JobId,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub application_id: Option<ApplicationId>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub contract_id: Option<ContractId>,
    #[serde(with = "time::rfc3339")]
    pub created_at: Timestamp,
    /// Where it stands in its recipient's inbox: 1 for the first delivered, then one more
    /// for each, with no gaps, in the order they were delivered.
    #[serde(default)]
    pub position: u64,
}

/// How many notifications a user has been delivered: the last position of their inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxHead {
    pub user_id: UserId,
    pub delivered: u64,
}

impl OutboxEvent {
    pub fn new(kind: EventKind, at: Timestamp) -> Self {
        Self {
            event_id: EventId::at(at),
            created_at: at,
            kind,
        }
    }

    /// The notifications this event sends straight to users (nobody is told of their own
    /// action); fan-out to the pending applicants of a closed job is
    /// [`OutboxEvent::rejection_for`].
    pub fn direct_notifications(&self) -> Vec<Notification> {
        let note = |recipient: &UserId,
                    kind: NotificationType,
                    message: &str,
                    job_id: JobId,
                    application_id: Option<ApplicationId>,
                    contract_id: Option<ContractId>| Notification {
            notification_id: self.event_id,
            recipient_id: recipient.clone(),
            kind,
            message: message.to_owned(),
            read: false,
            job_id,
            application_id,
            contract_id,
            created_at: self.created_at,
            position: 0,
        };
        match &self.kind {
            EventKind::JobPosted { .. } => Vec::new(),
            EventKind::ApplicationReceived {
                job_id,
                application_id,
                owner_id,
            } => vec![note(
                owner_id,
                NotificationType::ApplicationReceived,
                "A freelancer applied to your job.",
                *job_id,
                Some(*application_id),
                None,
            )],
            EventKind::Hired {
                job_id,
                application_id,
                contract_id,
                freelancer_id,
            } => vec![note(
                freelancer_id,
                NotificationType::Hired,
                "You were hired.",
                *job_id,
                Some(*application_id),
                Some(*contract_id),
            )],
            EventKind::JobClosed { .. } => Vec::new(),
            EventKind::JobExpired { job_id, owner_id } => vec![note(
                owner_id,
                NotificationType::JobExpired,
                "Your job expired before all its openings were filled.",
                *job_id,
                None,
                None,
            )],
            EventKind::ContractChanged {
                job_id,
                contract_id,
                status,
                owner_id,
                freelancer_id,
            } => {
                let (kind, message) = match status {
                    ContractStatus::Funded => (
                        NotificationType::ContractFunded,
                        "Your contract was funded.",
                    ),
                    ContractStatus::Released => (
                        NotificationType::ContractReleased,
                        "The escrow was released to you.",
                    ),
                    ContractStatus::Refunded => (
                        NotificationType::ContractRefunded,
                        "The escrow was refunded to the owner.",
                    ),
                    ContractStatus::Expired => (
                        NotificationType::ContractExpired,
                        "The contract expired: the escrow returned to the owner.",
                    ),
                    ContractStatus::Created => return Vec::new(),
                };
                let mut to = vec![freelancer_id];
                if *status == ContractStatus::Expired {
                    to.push(owner_id);
                }
                to.into_iter()
                    .map(|r| note(r, kind, message, *job_id, None, Some(*contract_id)))
                    .collect()
            }
        }
    }

    /// The job whose pending applications this event rejects.
    pub fn closed_job(&self) -> Option<(JobId, CloseReason)> {
        match &self.kind {
            EventKind::JobClosed { job_id, reason } => Some((*job_id, *reason)),
            _ => None,
        }
    }

    pub fn rejection_for(
        &self,
        applicant: &UserId,
        application_id: ApplicationId,
    ) -> Option<Notification> {
        let (job_id, reason) = self.closed_job()?;
        let message = match reason {
            CloseReason::Filled => "Your application was not selected: the job was filled.",
            CloseReason::Cancelled => "Your application was closed: the job was cancelled.",
            CloseReason::Expired => "Your application was closed: the job expired.",
        };
        Some(Notification {
            notification_id: self.event_id,
            recipient_id: applicant.clone(),
            kind: NotificationType::ApplicationRejected,
            message: message.to_owned(),
            read: false,
            job_id,
            application_id: Some(application_id),
            contract_id: None,
            created_at: self.created_at,
            position: 0,
        })
    }

    /// The closing that rejects the application this event announced, when its job is no
    /// longer open at `now`. Applying does not condition on the job, so an application read
    /// open can commit after its job left `open`, even after the close's fan-out ran; it is
    /// rejected when its arrival is applied, as the fan-out would have. The applicant's
    /// notification takes this event's id (the close's fan-out uses the close's): only one
    /// of the two rejections can commit, since each needs the application pending.
    pub fn late_closing(&self, job: &Job, now: Timestamp) -> Option<OutboxEvent> {
        let EventKind::ApplicationReceived { job_id, .. } = &self.kind else {
            return None;
        };
        let reason = match job.status_at(now) {
            JobStatus::Open => return None,
            JobStatus::Filled => CloseReason::Filled,
            JobStatus::Cancelled => CloseReason::Cancelled,
            JobStatus::Expired => CloseReason::Expired,
        };
        Some(OutboxEvent {
            event_id: self.event_id,
            created_at: self.created_at,
            kind: EventKind::JobClosed {
                job_id: *job_id,
                reason,
            },
        })
    }

    pub fn type_name(&self) -> &'static str {
        match self.kind {
            EventKind::JobPosted { .. } => "job_posted",
            EventKind::ApplicationReceived { .. } => "application_received",
            EventKind::Hired { .. } => "hired",
            EventKind::JobClosed { .. } => "job_closed",
            EventKind::JobExpired { .. } => "job_expired",
            EventKind::ContractChanged { .. } => "contract_changed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_as_the_json_sent_to_sqs() {
        let event = OutboxEvent::new(
            EventKind::JobClosed {
                job_id: JobId::generate(),
                reason: CloseReason::Filled,
            },
            time::now(),
        );
        let json = serde_json::to_string(&event).unwrap();
        assert!(json.contains(r#""type":"job_closed""#), "{json}");
        let back: OutboxEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back.event_id, event.event_id);
        assert_eq!(back.kind, event.kind);
    }

    #[test]
    fn an_application_received_after_its_job_left_open_is_closed_as_the_job_was() {
        let mut job = crate::domain::transitions::fixtures::job(1);
        let received = OutboxEvent::new(
            EventKind::ApplicationReceived {
                job_id: job.job_id,
                application_id: ApplicationId::generate(),
                owner_id: job.owner_id.clone(),
            },
            job.created_at,
        );
        let before = job.expires_at - chrono::Duration::milliseconds(1);
        assert_eq!(received.late_closing(&job, before), None, "still open");
        let closed = received.late_closing(&job, job.expires_at).unwrap();
        assert_eq!(
            closed.closed_job(),
            Some((job.job_id, CloseReason::Expired))
        );
        assert_eq!(closed.event_id, received.event_id);
        for (status, reason) in [
            (JobStatus::Filled, CloseReason::Filled),
            (JobStatus::Cancelled, CloseReason::Cancelled),
        ] {
            job.status = status;
            let closed = received.late_closing(&job, before).unwrap();
            assert_eq!(closed.closed_job(), Some((job.job_id, reason)));
        }
        // Only an application's arrival is ever late.
        let hired = OutboxEvent::new(
            EventKind::JobExpired {
                job_id: job.job_id,
                owner_id: job.owner_id.clone(),
            },
            job.created_at,
        );
        assert_eq!(hired.late_closing(&job, before), None);
    }

    #[test]
    fn a_hire_notifies_the_freelancer_and_a_closure_fans_out() {
        let freelancer = UserId::parse("bob").unwrap();
        let hired = OutboxEvent::new(
            EventKind::Hired {
                job_id: JobId::generate(),
                application_id: ApplicationId::generate(),
                contract_id: ContractId::generate(),
                freelancer_id: freelancer.clone(),
            },
            time::now(),
        );
        let n = hired.direct_notifications().remove(0);
        assert_eq!(
            (n.recipient_id, n.kind, n.notification_id),
            (freelancer.clone(), NotificationType::Hired, hired.event_id)
        );
        assert!(hired.closed_job().is_none());

        let closed = OutboxEvent::new(
            EventKind::JobClosed {
                job_id: JobId::generate(),
                reason: CloseReason::Cancelled,
            },
            time::now(),
        );
        assert!(closed.direct_notifications().is_empty());
        let r = closed
            .rejection_for(&freelancer, ApplicationId::generate())
            .unwrap();
        assert_eq!(r.kind, NotificationType::ApplicationRejected);
    }
}
