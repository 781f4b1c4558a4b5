use super::{ApplicationStatus, ContractStatus, JobStatus};

/// Why the domain refuses a request that is well-formed and names things that exist.
/// The HTTP layer maps each to its status and code in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    NotJobOwner,
    CannotApplyToOwnJob,
    NotApplicant,
    AlreadyApplied,
    JobNotOpen(JobStatus),
    ApplicationNotPending(ApplicationStatus),
    NotContractOwner,
    InvalidTransition(ContractStatus),
    /// Neither the job's owner nor one of its hired freelancers.
    NotJobParty,
}
