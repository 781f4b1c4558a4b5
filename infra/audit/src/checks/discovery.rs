//! Finding work: the discovery indexes hold exactly the open jobs, once `index` has had the
//! settle delay to catch up with each job's last change, and suggestion counts are the open
//! jobs that use each word.

use crate::Settings;
use crate::items::Table;
use crate::report::{Check, Violation};
use shared::domain::{Findable, JobStatus};
use shared::store::discovery_keys;
use std::collections::{BTreeMap, BTreeSet};

pub fn check(t: &Table, settings: &Settings, out: &mut Vec<Violation>) {
    let settled = |at| at + settings.fanout_delay < settings.now;
    let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    let mut quiet = true;
    for stored in t.jobs.values() {
        let job = &stored.value;
        quiet &= settled(job.updated_at);
        if job.status != JobStatus::Open || t.tombstones.contains(&job.job_id) {
            continue;
        }
        for word in Findable::suggestible(job) {
            *counts.entry(word).or_default() += 1;
        }
        let keys = discovery_keys(job);
        // Past its deadline it may be found or not: every search leaves it out already.
        if settled(job.updated_at) && job.status_at(settings.now) == JobStatus::Open {
            let missing = keys
                .iter()
                .filter(|k| !t.discovery.contains_key(*k))
                .count();
            if missing > 0 {
                out.push(Violation::new(
                    Check::Findable,
                    [("job", job.job_id.to_string())],
                    format!("open, and missing from {missing} discovery items"),
                ));
            }
        }
        expected.extend(keys);
    }
    // One violation per job and fault, however many of its items show it.
    let mut wrong: BTreeMap<(shared::domain::JobId, String), usize> = BTreeMap::new();
    for ((pk, sk), f) in &t.discovery {
        let job = t.jobs.get(&f.job_id).map(|s| &s.value);
        let fault = match job {
            None => Some("of no job".to_owned()),
            Some(job) if expected.contains(&(pk.clone(), sk.clone())) => {
                // The deadline is the one field an operator may move by hand; searches
                // read the job's own, so only the rest must agree.
                let copy = Findable {
                    expires_at: job.expires_at,
                    ..f.clone()
                };
                (Findable::of(job) != copy).then(|| "disagreeing with its job".to_owned())
            }
            Some(job) if settled(job.updated_at) => Some(format!(
                "of a job that is {}{}",
                job.status.as_str(),
                if job.status == JobStatus::Open {
                    " (not in these keys)"
                } else {
                    ""
                }
            )),
            Some(_) => None,
        };
        if let Some(fault) = fault {
            *wrong.entry((f.job_id, fault)).or_default() += 1;
        }
    }
    for ((job, fault), n) in wrong {
        out.push(Violation::new(
            Check::Findable,
            [("job", job.to_string())],
            format!("{n} discovery items {fault}"),
        ));
    }
    // Counts are compared only when no job is still within the settle delay: a count is
    // one increment behind its job until `index` has applied the change.
    if quiet {
        for (word, n) in t.suggest.iter().filter(|(_, n)| **n != 0) {
            if counts.get(word) != Some(n) {
                out.push(Violation::new(
                    Check::SuggestCount,
                    [("count", n.to_string())],
                    format!("open jobs using it: {}", counts.get(word).unwrap_or(&0)),
                ));
            }
        }
        for (word, n) in &counts {
            if t.suggest.get(word).copied().unwrap_or(0) != *n {
                out.push(Violation::new(
                    Check::SuggestCount,
                    [("expected", n.to_string())],
                    "an open job's word is not counted".to_owned(),
                ));
            }
        }
    }
}
