use super::job::string_field;
use super::{ApplicationId, Cents, FieldError, Fields, JobId, Rejection, UserId};
use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplicationStatus {
    Pending,
    Hired,
    Rejected,
    Withdrawn,
}

impl ApplicationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Hired => "hired",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    pub application_id: ApplicationId,
    pub job_id: JobId,
    pub freelancer_id: UserId,
    pub bid_cents: Cents,
    pub message: String,
    pub status: ApplicationStatus,
    #[serde(with = "time::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::rfc3339")]
    pub updated_at: Timestamp,
}

impl Application {
    pub fn check_pending(&self) -> Result<(), Rejection> {
        match self.status {
            ApplicationStatus::Pending => Ok(()),
            status => Err(Rejection::ApplicationNotPending(status)),
        }
    }

    pub fn check_may_withdraw(&self, caller: &UserId) -> Result<(), Rejection> {
        if &self.freelancer_id != caller {
            return Err(Rejection::NotApplicant);
        }
        self.check_pending()
    }
}

/// A bid: its amount and an optional cover message of at most 2,000 characters.
#[derive(Debug, Clone, PartialEq)]
pub struct Bid {
    pub bid_cents: Cents,
    pub message: String,
}

impl Bid {
    pub const MAX_MESSAGE_CHARS: usize = 2_000;

    pub fn parse(body: &Map<String, Value>) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new();
        let bid_cents = f.check(
            "bid_cents",
            body.get("bid_cents")
                .ok_or_else(|| "is required".to_owned())
                .and_then(Cents::parse),
        );
        let message = f.check(
            "message",
            string_field(body, "message", false).and_then(|m| {
                let m = m.trim();
                if m.chars().count() > Self::MAX_MESSAGE_CHARS {
                    Err(format!(
                        "must be at most {} characters",
                        Self::MAX_MESSAGE_CHARS
                    ))
                } else {
                    Ok(m.to_owned())
                }
            }),
        );
        f.finish(|| {
            Some(Self {
                bid_cents: bid_cents?,
                message: message?,
            })
        })
    }

    pub fn into_application(
        self,
        job_id: JobId,
        freelancer_id: UserId,
        now: Timestamp,
    ) -> Application {
        Application {
            application_id: ApplicationId::at(now),
            job_id,
            freelancer_id,
            bid_cents: self.bid_cents,
            message: self.message,
            status: ApplicationStatus::Pending,
            created_at: now,
            updated_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bids_need_cents_and_a_short_message() {
        let ok = Bid::parse(
            json!({"bid_cents": 100, "message": " hi "})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!((ok.bid_cents.get(), ok.message.as_str()), (100, "hi"));
        let bad =
            Bid::parse(json!({"message": "x".repeat(2001)}).as_object().unwrap()).unwrap_err();
        let fields: Vec<_> = bad.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["bid_cents", "message"]);
    }

    #[test]
    fn only_the_applicant_withdraws_and_only_while_pending() {
        let me = UserId::parse("f1").unwrap();
        let mut app = Bid::parse(json!({"bid_cents": 1}).as_object().unwrap())
            .unwrap()
            .into_application(JobId::generate(), me.clone(), time::now());
        assert_eq!(
            app.check_may_withdraw(&UserId::parse("f2").unwrap()),
            Err(Rejection::NotApplicant)
        );
        assert_eq!(app.check_may_withdraw(&me), Ok(()));
        app.status = ApplicationStatus::Hired;
        assert_eq!(
            app.check_may_withdraw(&me),
            Err(Rejection::ApplicationNotPending(ApplicationStatus::Hired))
        );
    }
}
