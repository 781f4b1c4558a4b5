//! The kinds of item the data model has, by which the audit counts what it read.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Job,
    Application,
    Guard,
    AuditRecord,
    Contract,
    ContractLink,
    Notification,
    InboxHead,
    Outbox,
    IdempotencyRecord,
    Connection,
    Discovery,
    DiscoveryState,
    SuggestCount,
    Unknown,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Job => "job",
            Self::Application => "application",
            Self::Guard => "applicant guard",
            Self::AuditRecord => "audit record",
            Self::Contract => "contract",
            Self::ContractLink => "contract link",
            Self::Notification => "notification",
            Self::InboxHead => "inbox head",
            Self::Outbox => "outbox event",
            Self::IdempotencyRecord => "idempotency record",
            Self::Connection => "connection",
            Self::Discovery => "discovery item",
            Self::DiscoveryState => "discovery state",
            Self::SuggestCount => "suggestion count",
            Self::Unknown => "unknown",
        }
    }
}
