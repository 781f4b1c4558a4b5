//! Hiring: counts of hires and contracts per job, contracts against their bids, and every
//! reference between jobs, applications, contracts and links resolving.

use crate::items::Table;
use crate::report::{Check, Violation};
use shared::domain::{ApplicationId, ApplicationStatus, JobId, JobStatus, UserId};
use std::collections::{BTreeMap, HashSet};

pub fn check(t: &Table, out: &mut Vec<Violation>) {
    counts(t, out);
    contracts(t, out);
    references(t, out);
}

fn counts(t: &Table, out: &mut Vec<Violation>) {
    let mut hired: BTreeMap<JobId, u32> = BTreeMap::new();
    for a in t.applications.values().map(|a| &a.value) {
        if a.status == ApplicationStatus::Hired {
            *hired.entry(a.job_id).or_default() += 1;
        }
    }
    let mut contracts: BTreeMap<JobId, u32> = BTreeMap::new();
    for c in t.contracts.values() {
        *contracts.entry(c.value.job_id).or_default() += 1;
    }
    for job in t.jobs.values().map(|j| &j.value) {
        let id = || [("job", job.job_id.to_string())];
        let hired = hired.get(&job.job_id).copied().unwrap_or(0);
        if job.status == JobStatus::Filled && hired != job.openings {
            out.push(Violation::new(
                Check::FilledHires,
                id(),
                format!("filled with {hired} hired of {} openings", job.openings),
            ));
        }
        // Every hire moves both in one transaction, whatever the job's status is now.
        if job.hired_count != hired {
            out.push(Violation::new(
                Check::HiredCount,
                id(),
                format!(
                    "{} job: hired_count {} but {hired} hired applications",
                    job.status.as_str(),
                    job.hired_count
                ),
            ));
        }
        let made = contracts.get(&job.job_id).copied().unwrap_or(0);
        if made > job.openings {
            out.push(Violation::new(
                Check::TooManyContracts,
                id(),
                format!("{made} contracts for {} openings", job.openings),
            ));
        }
    }
}

fn contracts(t: &Table, out: &mut Vec<Violation>) {
    let mut per_application: BTreeMap<ApplicationId, usize> = BTreeMap::new();
    for c in t.contracts.values() {
        *per_application.entry(c.value.application_id).or_default() += 1;
    }
    for a in t.applications.values().map(|a| &a.value) {
        let n = per_application.get(&a.application_id).copied().unwrap_or(0);
        if a.status == ApplicationStatus::Hired && n != 1 {
            out.push(Violation::new(
                Check::HiredContracts,
                [
                    ("job", a.job_id.to_string()),
                    ("application", a.application_id.to_string()),
                ],
                format!("hired with {n} contracts"),
            ));
        }
    }
    for c in t.contracts.values().map(|c| &c.value) {
        let ids = || {
            [
                ("contract", c.contract_id.to_string()),
                ("application", c.application_id.to_string()),
            ]
        };
        let application = t.applications.get(&(c.job_id, c.application_id));
        match application.map(|a| &a.value) {
            Some(a) if a.bid_cents != c.amount_cents => out.push(Violation::new(
                Check::ContractAmount,
                ids(),
                format!(
                    "amount {} cents, bid {} cents",
                    c.amount_cents.get(),
                    a.bid_cents.get()
                ),
            )),
            Some(a)
                if a.status != ApplicationStatus::Hired || a.freelancer_id != c.freelancer_id =>
            {
                out.push(Violation::new(
                    Check::Dangling,
                    ids(),
                    format!(
                        "contract's application is {} and its freelancer's: {}",
                        a.status.as_str(),
                        a.freelancer_id == c.freelancer_id
                    ),
                ))
            }
            _ => {}
        }
    }
}

fn references(t: &Table, out: &mut Vec<Violation>) {
    for c in t.contracts.values().map(|c| &c.value) {
        let job = t.jobs.get(&c.job_id).map(|j| &j.value);
        let missing = match job {
            None => Some("its job does not exist"),
            Some(j) if j.owner_id != c.owner_id => Some("its owner is not the job's"),
            Some(_) if !t.applications.contains_key(&(c.job_id, c.application_id)) => {
                Some("its application does not exist")
            }
            Some(_) => None,
        };
        if let Some(why) = missing {
            out.push(Violation::new(
                Check::Dangling,
                [
                    ("contract", c.contract_id.to_string()),
                    ("job", c.job_id.to_string()),
                ],
                why,
            ));
        }
    }
    for a in t.applications.values().map(|a| &a.value) {
        if !t.jobs.contains_key(&a.job_id) {
            out.push(Violation::new(
                Check::Dangling,
                [
                    ("application", a.application_id.to_string()),
                    ("job", a.job_id.to_string()),
                ],
                "its job does not exist",
            ));
        }
    }
    let mut linked: HashSet<(&UserId, _)> = HashSet::new();
    for (user, link) in &t.links {
        let ids = || {
            [
                ("user", user.to_string()),
                ("contract", link.contract_id.to_string()),
            ]
        };
        match t.contracts.get(&link.contract_id).map(|c| &c.value) {
            None => out.push(Violation::new(
                Check::Dangling,
                ids(),
                "contract link to a contract that does not exist",
            )),
            Some(c) if !c.is_party(user) => out.push(Violation::new(
                Check::Dangling,
                ids(),
                "contract link of a user who is no party to it",
            )),
            Some(_) => {
                linked.insert((user, link.contract_id));
            }
        }
    }
    for c in t.contracts.values().map(|c| &c.value) {
        for party in [&c.owner_id, &c.freelancer_id] {
            if !linked.contains(&(party, c.contract_id)) {
                out.push(Violation::new(
                    Check::Dangling,
                    [
                        ("user", party.to_string()),
                        ("contract", c.contract_id.to_string()),
                    ],
                    "a party has no link to the contract",
                ));
            }
        }
    }
    for (job_id, sk, guard) in &t.guards {
        let application = t.applications.get(&(*job_id, guard.application_id));
        let guards_it = application.is_some_and(|a| {
            shared::store::keys::applicant_guard_sk(&a.value.freelancer_id) == *sk
        });
        if !guards_it {
            out.push(Violation::new(
                Check::Dangling,
                [
                    ("job", job_id.to_string()),
                    ("application", guard.application_id.to_string()),
                ],
                "applicant guard without its application",
            ));
        }
    }
}
