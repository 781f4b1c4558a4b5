use super::skill::job_skills;
use super::{Cents, Currency, FieldError, Fields, JobId, Rejection, Skill, UserId};
use crate::time::{self, Timestamp};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Open,
    Filled,
    Expired,
    Cancelled,
}

impl JobStatus {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "open" => Some(Self::Open),
            "filled" => Some(Self::Filled),
            "expired" => Some(Self::Expired),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Filled => "filled",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A job as stored and as answered. `status` is what was last written; use
/// [`Job::status_at`] for what it is now, because a deadline passes without a write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub job_id: JobId,
    pub owner_id: UserId,
    pub title: String,
    pub description: String,
    pub budget_cents: Cents,
    pub currency: Currency,
    /// Jobs posted before skills existed have none.
    #[serde(default)]
    pub skills: Vec<Skill>,
    pub openings: u32,
    pub hired_count: u32,
    pub status: JobStatus,
    #[serde(with = "time::rfc3339")]
    pub expires_at: Timestamp,
    pub version: u64,
    #[serde(with = "time::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::rfc3339")]
    pub updated_at: Timestamp,
}

impl Job {
    /// An open job whose deadline has passed is expired, whether or not the sweeper has
    /// written it yet.
    pub fn status_at(&self, now: Timestamp) -> JobStatus {
        if self.status == JobStatus::Open && self.expires_at <= now {
            JobStatus::Expired
        } else {
            self.status
        }
    }

    /// The answer a reader gets: the status as of `now`.
    pub fn as_of(mut self, now: Timestamp) -> Self {
        self.status = self.status_at(now);
        self
    }

    pub fn is_owned_by(&self, user: &UserId) -> bool {
        &self.owner_id == user
    }

    /// Permission before state, as the API's order of checks demands.
    pub fn check_owner_may_change(&self, caller: &UserId, now: Timestamp) -> Result<(), Rejection> {
        if !self.is_owned_by(caller) {
            return Err(Rejection::NotJobOwner);
        }
        self.check_open(now)
    }

    pub fn check_open(&self, now: Timestamp) -> Result<(), Rejection> {
        match self.status_at(now) {
            JobStatus::Open => Ok(()),
            status => Err(Rejection::JobNotOpen(status)),
        }
    }

    pub fn check_may_apply(&self, caller: &UserId, now: Timestamp) -> Result<(), Rejection> {
        if self.is_owned_by(caller) {
            return Err(Rejection::CannotApplyToOwnJob);
        }
        self.check_open(now)
    }

    /// The status after one more hire.
    pub fn status_after_hire(&self) -> JobStatus {
        if self.hired_count + 1 >= self.openings {
            JobStatus::Filled
        } else {
            JobStatus::Open
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let n = trimmed.chars().count();
        if n == 0 {
            Err("must not be empty".to_owned())
        } else if n > Self::MAX_CHARS {
            Err(format!("must be at most {} characters", Self::MAX_CHARS))
        } else {
            Ok(Self(trimmed.to_owned()))
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub const MAX_CHARS: usize = 5_000;

    /// Counted after trimming, as the title is: what is stored is what is bounded.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        if trimmed.chars().count() > Self::MAX_CHARS {
            Err(format!("must be at most {} characters", Self::MAX_CHARS))
        } else {
            Ok(Self(trimmed.to_owned()))
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Openings(u32);

impl Openings {
    pub const MAX: u32 = 50;

    pub fn parse(raw: &Value) -> Result<Self, String> {
        match super::validation::integer(raw) {
            Some(n) if (1..=i64::from(Self::MAX)).contains(&n) => Ok(Self(n as u32)),
            _ => Err(format!("must be an integer between 1 and {}", Self::MAX)),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A job's deadline: in the future and at most 90 days ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiresAt(Timestamp);

impl ExpiresAt {
    pub const DEFAULT_DAYS: i64 = 14;
    pub const MAX_DAYS: i64 = 90;

    pub fn parse(raw: &Value, now: Timestamp) -> Result<Self, String> {
        let at = raw
            .as_str()
            .and_then(time::parse)
            .ok_or_else(|| "must be an RFC 3339 timestamp".to_owned())?;
        if at <= now {
            Err("must be in the future".to_owned())
        } else if at > now + Duration::days(Self::MAX_DAYS) {
            Err(format!("must be at most {} days ahead", Self::MAX_DAYS))
        } else {
            // Stored with millisecond precision; anything finer would not round-trip.
            Ok(Self(time::parse(&time::format(at)).unwrap_or(at)))
        }
    }

    pub fn default_from(now: Timestamp) -> Self {
        Self(now + Duration::days(Self::DEFAULT_DAYS))
    }

    pub fn get(self) -> Timestamp {
        self.0
    }
}

/// A `POST /jobs` body, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub title: Title,
    pub description: Description,
    pub budget_cents: Cents,
    pub currency: Currency,
    pub skills: Vec<Skill>,
    pub openings: Openings,
    pub expires_at: ExpiresAt,
}

impl NewJob {
    pub fn parse(body: &Map<String, Value>, now: Timestamp) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new();
        let title = f.check(
            "title",
            string_field(body, "title", true).and_then(|s| Title::parse(&s)),
        );
        let description = f.check(
            "description",
            string_field(body, "description", false).and_then(|s| Description::parse(&s)),
        );
        let budget_cents = f.check(
            "budget_cents",
            body.get("budget_cents")
                .ok_or_else(|| "is required".to_owned())
                .and_then(Cents::parse),
        );
        let currency = f.check(
            "currency",
            match body.get("currency") {
                None | Some(Value::Null) => Ok(Currency::usd()),
                Some(Value::String(s)) => Currency::parse(s),
                Some(_) => Err("must be a string".to_owned()),
            },
        );
        let skills = f.check("skills", job_skills(body.get("skills")));
        let openings = f.check(
            "openings",
            match body.get("openings") {
                None | Some(Value::Null) => Ok(Openings(1)),
                Some(v) => Openings::parse(v),
            },
        );
        let expires_at = f.check(
            "expires_at",
            match body.get("expires_at") {
                None | Some(Value::Null) => Ok(ExpiresAt::default_from(now)),
                Some(v) => ExpiresAt::parse(v, now),
            },
        );
        f.finish(|| {
            Some(Self {
                title: title?,
                description: description?,
                budget_cents: budget_cents?,
                currency: currency?,
                skills: skills?,
                openings: openings?,
                expires_at: expires_at?,
            })
        })
    }

    pub fn into_job(self, job_id: JobId, owner_id: UserId, now: Timestamp) -> Job {
        Job {
            job_id,
            owner_id,
            title: self.title.into_inner(),
            description: self.description.into_inner(),
            budget_cents: self.budget_cents,
            currency: self.currency,
            skills: self.skills,
            openings: self.openings.get(),
            hired_count: 0,
            status: JobStatus::Open,
            expires_at: self.expires_at.get(),
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }
}

/// A string field: absent or null is "" unless `required`.
pub(crate) fn string_field(
    body: &Map<String, Value>,
    name: &str,
    required: bool,
) -> Result<String, String> {
    match body.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) if !required => Ok(String::new()),
        None | Some(Value::Null) => Err("is required".to_owned()),
        Some(_) => Err("must be a string".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        time::parse("2026-01-01T00:00:00.000Z").unwrap()
    }

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_minimal_job_gets_the_defaults() {
        let job = NewJob::parse(
            &body(json!({"title": "  Logo  ", "budget_cents": 5000})),
            now(),
        )
        .unwrap();
        assert_eq!(job.title, Title("Logo".into()));
        assert_eq!(job.currency, Currency::usd());
        assert_eq!(job.openings.get(), 1);
        assert_eq!(job.expires_at.get(), now() + Duration::days(14));
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let errors = NewJob::parse(
            &body(json!({
                "title": "   ",
                "description": "x".repeat(5001),
                "budget_cents": 0,
                "currency": "usd",
                "openings": 51,
                "expires_at": "2026-05-01T00:00:00Z"
            })),
            now(),
        )
        .unwrap_err();
        assert_eq!(
            fields(errors),
            [
                "title",
                "description",
                "budget_cents",
                "currency",
                "openings",
                "expires_at"
            ]
        );
    }

    #[test]
    fn title_bounds_count_characters_after_trimming() {
        assert!(Title::parse(&"é".repeat(200)).is_ok());
        assert!(Title::parse(&"é".repeat(201)).is_err());
        assert!(Title::parse(&format!(" {} ", "a".repeat(200))).is_ok());
    }

    #[test]
    fn description_bounds_count_what_is_stored() {
        let padded = format!("  {}\n", "é".repeat(5_000));
        assert_eq!(
            Description::parse(&padded).map(Description::into_inner),
            Ok("é".repeat(5_000))
        );
        assert!(Description::parse(&"é".repeat(5_001)).is_err());
    }

    #[test]
    fn expires_at_must_be_future_and_within_ninety_days() {
        let n = now();
        let at = |d: Duration| json!(time::format(n + d));
        assert!(ExpiresAt::parse(&at(Duration::days(90)), n).is_ok());
        assert!(ExpiresAt::parse(&at(Duration::days(90) + Duration::seconds(1)), n).is_err());
        assert!(ExpiresAt::parse(&at(Duration::zero()), n).is_err());
        assert!(ExpiresAt::parse(&json!("tomorrow"), n).is_err());
    }

    fn job(status: JobStatus, expires_in: Duration) -> Job {
        NewJob::parse(&body(json!({"title": "t", "budget_cents": 1})), now())
            .unwrap()
            .into_job(JobId::generate(), UserId::parse("owner").unwrap(), now())
            .with(|j| {
                j.status = status;
                j.expires_at = now() + expires_in;
            })
    }

    trait With: Sized {
        fn with(mut self, f: impl FnOnce(&mut Self)) -> Self {
            f(&mut self);
            self
        }
    }
    impl With for Job {}

    #[test]
    fn an_open_job_past_its_deadline_is_expired() {
        let j = job(JobStatus::Open, Duration::seconds(-1));
        assert_eq!(j.status_at(now()), JobStatus::Expired);
        assert_eq!(
            j.check_open(now()),
            Err(Rejection::JobNotOpen(JobStatus::Expired))
        );
        let j = job(JobStatus::Open, Duration::seconds(1));
        assert_eq!(j.status_at(now()), JobStatus::Open);
        let j = job(JobStatus::Cancelled, Duration::seconds(-1));
        assert_eq!(j.status_at(now()), JobStatus::Cancelled);
    }

    #[test]
    fn permission_is_checked_before_state() {
        let j = job(JobStatus::Filled, Duration::days(1));
        let stranger = UserId::parse("stranger").unwrap();
        assert_eq!(
            j.check_owner_may_change(&stranger, now()),
            Err(Rejection::NotJobOwner)
        );
        assert_eq!(
            j.check_owner_may_change(&j.owner_id.clone(), now()),
            Err(Rejection::JobNotOpen(JobStatus::Filled))
        );
        assert_eq!(
            j.check_may_apply(&j.owner_id.clone(), now()),
            Err(Rejection::CannotApplyToOwnJob)
        );
    }

    #[test]
    fn the_last_opening_fills_the_job() {
        let mut j = job(JobStatus::Open, Duration::days(1));
        j.openings = 3;
        j.hired_count = 1;
        assert_eq!(j.status_after_hire(), JobStatus::Open);
        j.hired_count = 2;
        assert_eq!(j.status_after_hire(), JobStatus::Filled);
    }
}
