use serde::{Deserialize, Serialize};
use std::fmt;
use ulid::Ulid;

/// The caller, as the `sub` claim of a verified token. It is part of DynamoDB keys, so a
/// `#` (the key separator) or an empty value is refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty() && raw.len() <= 128 && !raw.contains('#');
        ok.then(|| Self(raw.to_owned()))
    }

    /// The actor of what the marketplace does by itself: expiries, and the rejections a
    /// closed job sends its pending applicants.
    pub fn system() -> Self {
        Self("system".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(into = "String", try_from = "String")]
        pub struct $name(Ulid);

        impl $name {
            pub fn generate() -> Self {
                Self(Ulid::generate())
            }

            /// An id whose time part is `at`, so id order and `created_at` order agree.
            pub fn at(at: crate::time::Timestamp) -> Self {
                Self(Ulid::from_datetime(at.into()))
            }

            /// Ids come from URLs; anything that is not a ULID cannot name a resource.
            pub fn parse(raw: &str) -> Option<Self> {
                Ulid::from_string(raw).ok().map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.to_string()
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(raw: String) -> Result<Self, String> {
                Self::parse(&raw).ok_or_else(|| format!("not a ULID: {raw}"))
            }
        }
    };
}

ulid_id!(JobId);
ulid_id!(ApplicationId);
ulid_id!(ContractId);
ulid_id!(
    /// Audit and outbox events; ULIDs keep them in time order within an item collection.
    EventId
);

impl EventId {
    /// `count` ids at `at`, each greater than the one before: for events written in one
    /// transaction whose order must read back as it happened.
    pub fn sequence(at: crate::time::Timestamp, count: usize) -> Vec<Self> {
        let first = Ulid::from_datetime(at.into());
        // Half the random range is left above the first id, so no increment overflows.
        let first = Ulid::from_parts(first.timestamp_ms(), first.random() >> 1);
        std::iter::successors(Some(first), |id| id.increment().ok())
            .take(count)
            .map(Self)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_refuse_key_separators_and_empties() {
        assert!(UserId::parse("user-1").is_some());
        assert!(UserId::parse("").is_none());
        assert!(UserId::parse("a#b").is_none());
        assert!(UserId::parse(&"x".repeat(129)).is_none());
    }

    #[test]
    fn a_sequence_shares_its_time_and_rises() {
        let at = crate::time::now();
        let ids = EventId::sequence(at, 3);
        assert_eq!(ids.len(), 3);
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(
            ids.iter()
                .all(|id| id.0.timestamp_ms() == EventId::at(at).0.timestamp_ms())
        );
    }

    #[test]
    fn ulid_ids_round_trip_and_refuse_garbage() {
        let id = JobId::generate();
        assert_eq!(JobId::parse(&id.to_string()), Some(id));
        assert_eq!(JobId::parse("not-a-ulid"), None);
    }
}
