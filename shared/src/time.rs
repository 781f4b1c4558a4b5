//! One timestamp format for storage and the API: RFC 3339 UTC with milliseconds and a `Z`.
//! It is fixed-width, so string order is time order; DynamoDB conditions such as
//! `expires_at > :now` and sort keys rely on that.

use chrono::{DateTime, SecondsFormat, Utc};

pub type Timestamp = DateTime<Utc>;

pub fn now() -> Timestamp {
    Utc::now()
}

pub fn format(at: Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn parse(s: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `serde(with = "crate::time::rfc3339")` for `Timestamp` fields.
pub mod rfc3339 {
    use super::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let raw = String::deserialize(d)?;
        super::parse(&raw).ok_or_else(|| serde::de::Error::custom("invalid RFC 3339 timestamp"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn format_is_fixed_width_and_sorts_like_time() {
        let a = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let b = a + chrono::Duration::milliseconds(7);
        assert_eq!(format(a), "2026-01-02T03:04:05.000Z");
        assert_eq!(format(b), "2026-01-02T03:04:05.007Z");
        assert!(format(a) < format(b));
        assert_eq!(parse(&format(b)), Some(b));
    }
}

/// `serde(with = "crate::time::rfc3339_opt", default)` for `Option<Timestamp>` fields.
pub mod rfc3339_opt {
    use super::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => s.serialize_str(&super::format(*at)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(raw) => super::parse(&raw)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom("invalid RFC 3339 timestamp")),
        }
    }
}
