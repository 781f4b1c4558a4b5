//! Audit trails: each job's records, in the order `GET /jobs/{id}/events` lists them, must
//! replay to the current state of the job, its applications and its contracts, and must
//! tell a story the hiring rules allow.

use crate::items::Table;
use crate::report::{Check, Violation};
use shared::domain::{
    ApplicationId, ApplicationStatus, AuditRecord, ContractId, Entity, JobId, JobStatus,
};
use std::collections::BTreeMap;

pub fn check(t: &Table, out: &mut Vec<Violation>) {
    let empty = Vec::new();
    // What each job's trail must account for: the job, its applications and its contracts.
    let mut expected: BTreeMap<JobId, Vec<(Entity, String)>> = t
        .jobs
        .keys()
        .map(|j| (*j, vec![(Entity::Job, j.to_string())]))
        .collect();
    for (job, application) in t.applications.keys() {
        if let Some(list) = expected.get_mut(job) {
            list.push((Entity::Application, application.to_string()));
        }
    }
    for c in t.contracts.values().map(|c| &c.value) {
        if let Some(list) = expected.get_mut(&c.job_id) {
            list.push((Entity::Contract, c.contract_id.to_string()));
        }
    }
    for (job_id, records) in &t.trails {
        if !t.jobs.contains_key(job_id) {
            out.push(Violation::new(
                Check::Dangling,
                [("job", job_id.to_string())],
                format!(
                    "{} audit records of a job that does not exist",
                    records.len()
                ),
            ));
        }
    }
    for (job_id, expected) in &expected {
        let records = t.trails.get(job_id).unwrap_or(&empty);
        entities(t, *job_id, records, expected, out);
        hiring(t, *job_id, records, out);
    }
}

fn entity_name(e: Entity) -> &'static str {
    match e {
        Entity::Job => "job",
        Entity::Application => "application",
        Entity::Contract => "contract",
    }
}

/// The stored status of an entity of `job_id`'s collection, if it exists there.
fn current(t: &Table, job_id: JobId, entity: Entity, id: &str) -> Option<&'static str> {
    match entity {
        Entity::Job => (job_id.to_string() == id)
            .then(|| t.jobs.get(&job_id).map(|j| j.value.status.as_str()))
            .flatten(),
        Entity::Application => ApplicationId::parse(id)
            .and_then(|a| t.applications.get(&(job_id, a)))
            .map(|a| a.value.status.as_str()),
        Entity::Contract => ContractId::parse(id)
            .and_then(|c| t.contracts.get(&c))
            .filter(|c| c.value.job_id == job_id)
            .map(|c| c.value.status.as_str()),
    }
}

/// Per entity: from nothing, each step from where the last one ended, to where it is now,
/// and never back in time.
fn entities(
    t: &Table,
    job_id: JobId,
    records: &[AuditRecord],
    expected: &[(Entity, String)],
    out: &mut Vec<Violation>,
) {
    let mut by_entity: BTreeMap<(&str, &str), (Entity, Vec<&AuditRecord>)> = BTreeMap::new();
    for (entity, id) in expected {
        by_entity.insert((entity_name(*entity), id), (*entity, Vec::new()));
    }
    for r in records {
        by_entity
            .entry((entity_name(r.entity), &r.entity_id))
            .or_insert((r.entity, Vec::new()))
            .1
            .push(r);
    }
    for ((name, id), (entity, chain)) in by_entity {
        let ids = || {
            let mut ids = vec![("job", job_id.to_string())];
            if entity != Entity::Job {
                ids.push((name, id.to_owned()));
            }
            ids
        };
        let now = current(t, job_id, entity, id);
        let mut broken = match (chain.first(), now) {
            (_, None) => Some("records of an entity that is not in this job".to_owned()),
            (None, Some(_)) => Some("no records".to_owned()),
            (Some(first), _) if first.from_status.is_some() => {
                Some("the first record has a from_status".to_owned())
            }
            _ => None,
        };
        for pair in chain.windows(2) {
            if broken.is_none() && pair[1].from_status.as_deref() != Some(&pair[0].to_status) {
                broken = Some(format!(
                    "{} after {}: {:?} -> {} follows -> {}",
                    pair[1].event_id,
                    pair[0].event_id,
                    pair[1].from_status,
                    pair[1].to_status,
                    pair[0].to_status
                ));
            }
            if pair[1].at < pair[0].at {
                out.push(Violation::new(
                    Check::TrailTime,
                    ids(),
                    format!(
                        "record {} is older than record {} before it",
                        pair[1].event_id, pair[0].event_id
                    ),
                ));
            }
        }
        if let (None, Some(last), Some(now)) = (&broken, chain.last(), now)
            && last.to_status != now
        {
            broken = Some(format!("trail ends {} but it is {now}", last.to_status));
        }
        if let Some(why) = broken {
            out.push(Violation::new(Check::TrailReplay, ids(), why));
        }
    }
}

/// The job's trail replayed in order: applications are hired only while the job is open,
/// and the job is filled by the hire that takes the last opening, no sooner. An application
/// may arrive after the job left `open` (applying reads the job but does not condition on
/// it): it is never hired, and `pending_after_close` sees that it does not stay pending.
fn hiring(t: &Table, job_id: JobId, records: &[AuditRecord], out: &mut Vec<Violation>) {
    let Some(job) = t.jobs.get(&job_id).map(|j| &j.value) else {
        return;
    };
    let open = JobStatus::Open.as_str();
    let mut status = open.to_owned();
    let mut hired = 0;
    let mut breaks = Vec::new();
    for r in records {
        let to = r.to_status.as_str();
        match r.entity {
            Entity::Job => {
                if to == JobStatus::Filled.as_str() && hired != job.openings {
                    breaks.push(format!(
                        "{}: filled at {hired} hired of {} openings",
                        r.event_id, job.openings
                    ));
                } else if to != JobStatus::Filled.as_str() && hired >= job.openings {
                    breaks.push(format!(
                        "{}: went {to} with every opening hired, not filled",
                        r.event_id
                    ));
                }
                status = to.to_owned();
            }
            Entity::Application if to == ApplicationStatus::Hired.as_str() => {
                if status != open {
                    breaks.push(format!("{}: hired while the job was {status}", r.event_id));
                } else if hired >= job.openings {
                    breaks.push(format!(
                        "{}: hired with every opening hired already",
                        r.event_id
                    ));
                }
                hired += 1;
            }
            _ => {}
        }
    }
    if hired >= job.openings && status == open {
        breaks.push("every opening hired but never filled".to_owned());
    }
    if let Some(first) = breaks.first() {
        out.push(Violation::new(
            Check::TrailOrder,
            [("job", job_id.to_string())],
            format!("{first} ({} breaks in all)", breaks.len()),
        ));
    }
}
