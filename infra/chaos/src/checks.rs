//! What the run proves once the stack is quiet, each finding with the ids involved: the
//! answers the clients got, the marketplace as the API shows it against what those answers
//! said, every inbox and live socket, and the audit of the whole table.

use crate::api::{Api, Exchange};
use crate::faults::Window;
use crate::sockets::Holder;
use crate::workload::World;
use futures::StreamExt;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// How long after a fault ends a 503 is still its doing: a request that waited on a paused
/// engine answers after its timeouts, a restarted one warms up, and the backlog a fault
/// left (queued events, the sweeper's re-sends, the clients' retries) meets DynamoDB
/// Local's one write lock at once: on a 2-core machine the last such 503 came up to 15 s
/// after a restart or a stopped pipe ended (each run prints its faults' times to recover).
pub const GRACE: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub check: &'static str,
    pub detail: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.check, self.detail)
    }
}

fn finding(check: &'static str, detail: impl Into<String>) -> Finding {
    Finding {
        check,
        detail: detail.into(),
    }
}

/// Every request has one definitive answer, never a 5xx, never one the workload cannot
/// get (only 2xx and 409); a 503 only while a fault is on.
pub fn answers(log: &[Exchange], windows: &[Window]) -> Vec<Finding> {
    let mut out = Vec::new();
    for e in log {
        let what = format!("{} {} as {}", e.method, e.path, e.user);
        match &e.answer {
            None => out.push(finding(
                "no_answer",
                format!(
                    "{what}: no definitive answer after {} tries",
                    e.attempts.len()
                ),
            )),
            Some(a) if a.status >= 500 => out.push(finding(
                "server_error",
                format!("{what}: {} {}", a.status, a.body),
            )),
            Some(a) if !matches!(a.status, 200 | 201 | 409) => out.push(finding(
                "unexpected_answer",
                format!("{what}: {} {}", a.status, a.code()),
            )),
            Some(_) => {}
        }
        for attempt in e.attempts.iter().filter(|a| a.status == Some(503)) {
            let during_fault = windows
                .iter()
                .any(|w| attempt.start <= w.end + GRACE && attempt.end >= w.start);
            if !during_fault {
                out.push(finding(
                    "unavailable_without_fault",
                    format!(
                        "{what}: 503 at {:.1} s with no fault on",
                        attempt.start.as_secs_f64()
                    ),
                ));
            }
        }
    }
    out
}

/// Every item of a list, page after page.
async fn all(
    api: &Api,
    user: &str,
    route: &'static str,
    path: &str,
) -> Result<Vec<Value>, Finding> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let page_path = match &cursor {
            Some(c) => format!("{path}{sep}limit=100&cursor={c}"),
            None => format!("{path}{sep}limit=100"),
        };
        let page = api
            .get(user, route, &page_path)
            .await
            .filter(|a| a.status == 200)
            .ok_or_else(|| finding("unreadable", format!("{page_path} as {user}")))?;
        items.extend(page.body["items"].as_array().cloned().unwrap_or_default());
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(items),
        }
    }
}

fn str_of(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap_or_default().to_owned()
}

/// Compares the ids a list holds with the ids 2xx answers announced.
fn same_ids(out: &mut Vec<Finding>, what: &str, listed: &[String], announced: &BTreeSet<String>) {
    let mut seen = BTreeSet::new();
    for id in listed {
        if !seen.insert(id.clone()) {
            out.push(finding("listed_twice", format!("{what} {id}")));
        }
        if !announced.contains(id) {
            out.push(finding(
                "unannounced",
                format!("{what} {id} exists but no answer announced it (a change taken twice?)"),
            ));
        }
    }
    for id in announced.difference(&seen) {
        out.push(finding(
            "lost",
            format!("{what} {id} was announced by a 2xx and is not there"),
        ));
    }
}

/// The marketplace as the API shows it, against what the clients were told.
pub async fn marketplace(
    api: &Api,
    world: &World,
    owners: &[String],
    freelancers: &[String],
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut expected: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut expect = |user: &str, kind: &str| {
        *expected
            .entry((user.to_owned(), kind.to_owned()))
            .or_default() += 1;
    };
    let mut jobs = Vec::new();
    for owner in owners {
        let mut listed = Vec::new();
        for status in ["open", "filled", "expired", "cancelled"] {
            match all(
                api,
                owner,
                "GET /jobs",
                &format!("/jobs?owner=me&status={status}"),
            )
            .await
            {
                Ok(items) => listed.extend(items),
                Err(f) => out.push(f),
            }
        }
        let announced = world
            .jobs
            .iter()
            .filter(|(_, j)| &j.owner == owner)
            .map(|(id, _)| id.clone())
            .collect();
        let ids: Vec<String> = listed.iter().map(|j| str_of(j, "job_id")).collect();
        same_ids(&mut out, "job", &ids, &announced);
        jobs.extend(listed);
    }
    for job in &jobs {
        let job_id = str_of(job, "job_id");
        let owner = str_of(job, "owner_id");
        let path = format!("/jobs/{job_id}/applications");
        let applications = match all(api, &owner, "GET /jobs/{id}/applications", &path).await {
            Ok(items) => items,
            Err(f) => {
                out.push(f);
                continue;
            }
        };
        let announced = world
            .applications
            .iter()
            .filter(|(_, a)| a.job_id == job_id)
            .map(|(id, _)| id.clone())
            .collect();
        let ids: Vec<String> = applications
            .iter()
            .map(|a| str_of(a, "application_id"))
            .collect();
        same_ids(&mut out, "application", &ids, &announced);
        let mut applicants = BTreeSet::new();
        let mut hired = 0;
        for a in &applications {
            let id = str_of(a, "application_id");
            let freelancer = str_of(a, "freelancer_id");
            let status = str_of(a, "status");
            if !applicants.insert(freelancer.clone()) {
                out.push(finding(
                    "applied_twice",
                    format!("{freelancer} on job {job_id}"),
                ));
            }
            expect(&owner, "application_received");
            match status.as_str() {
                "hired" => {
                    hired += 1;
                    expect(&freelancer, "hired");
                }
                "rejected" => expect(&freelancer, "application_rejected"),
                _ => {}
            }
            if let Some(told) = world.applications.get(&id)
                && told.status != "pending"
                && told.status != status
            {
                out.push(finding(
                    "application_state",
                    format!(
                        "application {id} is {status}, its last 200 said {}",
                        told.status
                    ),
                ));
            }
        }
        let openings = job["openings"].as_u64().unwrap_or(0);
        let status = str_of(job, "status");
        if hired > openings || job["hired_count"].as_u64() != Some(hired) {
            out.push(finding(
                "hires",
                format!(
                    "job {job_id}: {hired} hired for {openings} openings, hired_count {}",
                    job["hired_count"]
                ),
            ));
        }
        if (status == "filled") != (hired == openings) {
            out.push(finding(
                "hires",
                format!("job {job_id} is {status} with {hired} of {openings} hired"),
            ));
        }
        if status == "expired" {
            expect(&owner, "job_expired");
        }
    }
    for owner in owners {
        let contracts = match all(api, owner, "GET /me/contracts", "/me/contracts").await {
            Ok(items) => items,
            Err(f) => {
                out.push(f);
                continue;
            }
        };
        let announced = world
            .contracts
            .iter()
            .filter(|(_, c)| &c.owner == owner)
            .map(|(id, _)| id.clone())
            .collect();
        let ids: Vec<String> = contracts.iter().map(|c| str_of(c, "contract_id")).collect();
        same_ids(&mut out, "contract", &ids, &announced);
        let mut per_application = BTreeMap::new();
        for c in &contracts {
            let id = str_of(c, "contract_id");
            let status = str_of(c, "status");
            let freelancer = str_of(c, "freelancer_id");
            *per_application
                .entry(str_of(c, "application_id"))
                .or_insert(0) += 1;
            if matches!(status.as_str(), "funded" | "released" | "refunded") {
                expect(&freelancer, "contract_funded");
            }
            if matches!(status.as_str(), "released" | "refunded") {
                expect(&freelancer, &format!("contract_{status}"));
            }
            let Some(told) = world.contracts.get(&id) else {
                continue;
            };
            if told.status != status && status != "expired" {
                out.push(finding(
                    "contract_state",
                    format!(
                        "contract {id} is {status}, its last 200 said {}",
                        told.status
                    ),
                ));
            }
            let bid = world.applications.get(&told.application_id).map(|a| a.bid);
            if c["amount_cents"].as_i64() != bid.or(Some(told.amount)) {
                out.push(finding(
                    "contract_amount",
                    format!("contract {id}: {} for a bid of {bid:?}", c["amount_cents"]),
                ));
            }
        }
        for (application, n) in per_application.into_iter().filter(|(_, n)| *n > 1) {
            out.push(finding(
                "contracts",
                format!("application {application} has {n} contracts"),
            ));
        }
    }
    for user in owners.iter().chain(freelancers) {
        out.extend(inbox(api, user, &expected).await);
    }
    out.extend(findable(api, &jobs, freelancers.first().map_or("", String::as_str)).await);
    out
}

/// Every notification of `user` exactly once, at positions 1, 2, … without a gap, one per
/// thing that happened to them.
async fn inbox(
    api: &Api,
    user: &str,
    expected: &BTreeMap<(String, String), usize>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let items = match read_inbox(api, user).await {
        Ok(items) => items,
        Err(f) => return vec![f],
    };
    let mut ids = BTreeSet::new();
    let mut got: BTreeMap<String, usize> = BTreeMap::new();
    for (i, n) in items.iter().enumerate() {
        if n["position"].as_u64() != Some(i as u64 + 1) {
            out.push(finding(
                "inbox_positions",
                format!("{user}: item {} at position {}", i + 1, n["position"]),
            ));
        }
        let id = (str_of(n, "notification_id"), str_of(n, "type"));
        if !ids.insert(id.clone()) {
            out.push(finding(
                "notified_twice",
                format!("{user}: {} {}", id.1, id.0),
            ));
        }
        *got.entry(id.1).or_default() += 1;
    }
    let kinds: BTreeSet<&String> = got
        .keys()
        .chain(expected.keys().filter(|(u, _)| u == user).map(|(_, k)| k))
        .collect();
    for kind in kinds {
        let want = expected
            .get(&(user.to_owned(), kind.clone()))
            .copied()
            .unwrap_or(0);
        let have = got.get(kind).copied().unwrap_or(0);
        if want != have {
            out.push(finding(
                "notifications",
                format!("{user}: {have} {kind}, {want} happened"),
            ));
        }
    }
    out
}

/// The whole inbox, oldest first.
pub async fn read_inbox(api: &Api, user: &str) -> Result<Vec<Value>, Finding> {
    let mut items: Vec<Value> = Vec::new();
    loop {
        let after = items
            .last()
            .and_then(|n| n["position"].as_u64())
            .unwrap_or(0);
        let path = format!("/me/notifications?after={after}&limit=100");
        let page = api
            .get(user, "GET /me/notifications", &path)
            .await
            .filter(|a| a.status == 200)
            .ok_or_else(|| finding("unreadable", format!("{path} as {user}")))?;
        let batch = page.body["items"].as_array().cloned().unwrap_or_default();
        let done = batch.len() < 100;
        items.extend(batch);
        if done {
            return Ok(items);
        }
    }
}

/// Every open job is found by the word only its title holds; no closed one is.
async fn findable(api: &Api, jobs: &[Value], reader: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for job in jobs {
        let job_id = str_of(job, "job_id");
        let title = str_of(job, "title");
        let Some(word) = title.split(' ').next_back() else {
            continue;
        };
        let open = job["status"] == "open";
        let path = format!("/jobs?q={word}");
        let Some(page) = api
            .get(reader, "GET /jobs", &path)
            .await
            .filter(|a| a.status == 200)
        else {
            out.push(finding("unreadable", path));
            continue;
        };
        let found = page.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|j| j["job_id"] == job_id.as_str());
        if found != open {
            out.push(finding(
                "findable",
                format!(
                    "job {job_id} is {} and {}found by its word",
                    job["status"],
                    if found { "" } else { "not " }
                ),
            ));
        }
    }
    out
}

/// A socket that stayed open to the end received every notification after the position it
/// synced from, and together a user's sockets received the whole inbox.
pub fn sockets(holders: &[Holder], inboxes: &BTreeMap<String, Vec<Value>>) -> Vec<Finding> {
    let mut out = Vec::new();
    for holder in holders {
        let positions: BTreeSet<u64> = inboxes
            .get(&holder.user)
            .into_iter()
            .flatten()
            .filter_map(|n| n["position"].as_u64())
            .collect();
        for (i, session) in holder
            .sessions
            .iter()
            .enumerate()
            .filter(|(_, s)| s.open_at_end)
        {
            let missed: Vec<u64> = positions
                .iter()
                .copied()
                .filter(|p| *p > session.after && !session.received.contains(p))
                .collect();
            if !missed.is_empty() {
                out.push(finding(
                    "socket_missed",
                    format!(
                        "{}'s socket {} (open from after {}): positions {missed:?}",
                        holder.user,
                        i + 1,
                        session.after
                    ),
                ));
            }
        }
        let received = holder.received();
        let never: Vec<u64> = positions.difference(&received).copied().collect();
        if !never.is_empty() {
            out.push(finding(
                "socket_missed",
                format!("{}: never received {never:?}", holder.user),
            ));
        }
        if let Some(extra) = received.difference(&positions).next() {
            out.push(finding(
                "socket_unknown",
                format!(
                    "{}: received position {extra} the inbox does not hold",
                    holder.user
                ),
            ));
        }
    }
    out
}

/// The pipe still delivers, and `notify` still pushes, once every fault is over (DynamoDB
/// Local restarted on its files, the pipe stopped and run again): an application made now
/// reaches its owner's inbox within less than the redrive delay, so the sweeper, which
/// re-sends what the pipe dropped, cannot be what delivered it; and it is pushed to a socket
/// of the owner's that never syncs, so nothing but a push can bring it there. Without this,
/// a dead pipe or a dead push would pass every other check (the held sockets' idle sync
/// catches up what a push lost).
pub async fn pipe_delivers_and_pushes(api: &Api, world: &std::sync::Mutex<World>) -> Vec<Finding> {
    let (owner, freelancer) = (crate::workload::owner(0), crate::workload::freelancer(0, 0));
    let socket_url = crate::sockets::url(api.base(), &api.token(&owner));
    let Ok((mut socket, _)) = tokio_tungstenite::connect_async(&socket_url).await else {
        return vec![finding("push", "the probe's socket could not connect")];
    };
    let word = "zqprobe".to_owned();
    let body = serde_json::json!({"title": format!("Chaos job {word}"), "budget_cents": 1_000});
    let Some(job) = api
        .post(
            &owner,
            "POST /jobs",
            "/jobs",
            body,
            "chaos-probe-job".into(),
        )
        .await
        .filter(|a| a.status == 201)
    else {
        return vec![finding("pipe", "the probe's job could not be posted")];
    };
    let job_id = job.id("job_id");
    let path = format!("/jobs/{job_id}/applications");
    let body = serde_json::json!({"bid_cents": 1_000});
    // Timed from before the request, not from its answer: the outbox event is as old as the
    // commit, and an answer that came seconds after it (retries) would leave the sweeper's
    // redrive room to land inside the window.
    let sent = tokio::time::Instant::now();
    let Some(application) = api
        .post(
            &freelancer,
            "POST /jobs/{id}/applications",
            &path,
            body,
            "chaos-probe-apply".into(),
        )
        .await
        .filter(|a| a.status == 201)
    else {
        return vec![finding("pipe", "the probe's application could not be made")];
    };
    let application_id = application.id("application_id");
    {
        let mut world = world.lock().unwrap();
        world.jobs.insert(
            job_id.clone(),
            crate::workload::Job {
                owner: owner.clone(),
                openings: 1,
                word,
                closed: false,
                expires_at: chrono::Utc::now() + chrono::Duration::days(14),
            },
        );
        world.applications.insert(
            application_id.clone(),
            crate::workload::Application {
                job_id,
                freelancer,
                bid: 1_000,
                status: "pending".into(),
            },
        );
    }
    let within = Duration::from_secs(crate::stack::REDRIVE_DELAY_SECS - 2);
    let is_probe = |n: &Value| n["application_id"] == application_id.as_str();
    let heard = async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Text(text) = message
                && serde_json::from_str::<Value>(&text).is_ok_and(|m| is_probe(&m["notification"]))
            {
                return true;
            }
        }
        false
    };
    let pushed = tokio::time::timeout_at(sent + within, heard)
        .await
        .unwrap_or(false);
    let _ = socket.close(None).await;
    let mut out = Vec::new();
    if !pushed {
        out.push(finding(
            "push",
            format!("application {application_id} not pushed to its owner's open socket {within:?} after it was made"),
        ));
    }
    loop {
        if let Ok(items) = read_inbox(api, &owner).await
            && items.iter().any(is_probe)
        {
            return out;
        }
        if sent.elapsed() >= within {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    out.push(finding(
        "pipe",
        format!(
            "application {application_id} not in its owner's inbox {within:?} after it was made"
        ),
    ));
    out
}
