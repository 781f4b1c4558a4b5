//! What the clients do: everything a marketplace does, each client as one owner and four
//! freelancers, its choices drawn from the seed. What they were told is kept in [`World`]
//! for the checks: every job, application, hire and contract a 2xx announced.

use crate::api::{Answer, Api};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

pub const FREELANCERS_PER_CLIENT: usize = 4;
/// A client's pause between two actions, in milliseconds.
const THINK_MS: std::ops::Range<u64> = 1_000..3_000;
const SKILLS: [&str; 6] = ["rust", "c++", "design", "sql", "writing", "node.js"];

pub fn owner(client: usize) -> String {
    format!("chaos-c{client:02}-owner")
}

pub fn freelancer(client: usize, k: usize) -> String {
    format!("chaos-c{client:02}-f{k}")
}

#[derive(Debug, Clone)]
pub struct Job {
    pub owner: String,
    pub openings: u64,
    /// A word no other job's title holds: a search for it finds this job alone.
    pub word: String,
    /// As far as the clients know (a 2xx that closed it, or the deadline).
    pub closed: bool,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone)]
pub struct Application {
    pub job_id: String,
    pub freelancer: String,
    pub bid: i64,
    /// pending, hired or withdrawn, as the last 2xx said.
    pub status: String,
}

#[derive(Debug, Clone)]
pub struct Contract {
    pub owner: String,
    pub application_id: String,
    pub amount: i64,
    /// As the last 200 said.
    pub status: String,
}

/// What the clients were told, by id.
#[derive(Debug, Default)]
pub struct World {
    pub jobs: BTreeMap<String, Job>,
    pub applications: BTreeMap<String, Application>,
    pub contracts: BTreeMap<String, Contract>,
    /// The job everyone applies to at once, for a while.
    pub popular: Option<String>,
}

pub type Shared = Arc<Mutex<World>>;

pub struct Client {
    pub index: usize,
    api: Api,
    world: Shared,
    rng: StdRng,
    requests: u64,
    seed: u64,
    /// When the load ends.
    until: Instant,
}

impl Client {
    pub fn new(index: usize, seed: u64, api: Api, world: Shared) -> Self {
        Self {
            index,
            api,
            world,
            rng: StdRng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(index as u64)),
            requests: 0,
            seed,
            until: Instant::now(),
        }
    }

    fn key(&mut self) -> String {
        self.requests += 1;
        format!("chaos-{}-{}-{}", self.seed, self.index, self.requests)
    }

    /// Acts until `until`, one action after another, pausing between them as a person
    /// does: back to back, 16 clients and the consumers behind them are more than one
    /// DynamoDB Local on disk takes for minutes (its one write lock), and the backlog would
    /// never settle.
    pub async fn run(mut self, until: Instant) {
        self.until = until;
        while Instant::now() < until {
            let pause = self.rng.random_range(THINK_MS);
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            let roll = self.rng.random_range(0..100);
            match roll {
                0..15 => self.post_job(false).await,
                15..18 => self.post_job(true).await,
                18..45 => self.apply().await,
                45..49 => self.withdraw().await,
                49..62 => self.hire().await,
                62..64 => self.cancel().await,
                64..76 => self.escrow().await,
                76..84 => self.read_inbox().await,
                _ => self.browse().await,
            }
        }
    }

    async fn post_job(&mut self, popular: bool) {
        let owner = owner(self.index);
        let word = format!("zq{}x{}x{}", self.seed % 1_000, self.index, self.requests);
        let now = chrono::Utc::now();
        // A third of the jobs expire during the load; the sweeper must close them. None
        // within 10 s of its end, so that nothing changes on its own while the run checks.
        let lifetime = self.rng.random_range(8..40);
        let load_left = self.until.saturating_duration_since(Instant::now());
        let expires_at = if !popular
            && self.rng.random_bool(0.33)
            && load_left > std::time::Duration::from_secs(lifetime + 10)
        {
            now + chrono::Duration::seconds(lifetime as i64)
        } else {
            now + chrono::Duration::days(1)
        };
        let openings = if popular {
            3
        } else {
            self.rng.random_range(1..=2)
        };
        let how_many = self.rng.random_range(0..=2);
        let skills: Vec<&str> = SKILLS.sample(&mut self.rng, how_many).copied().collect();
        let body = json!({
            "title": format!("Chaos job {word}"),
            "description": "Posted by the chaos run.",
            "budget_cents": self.rng.random_range(1_000..500_000),
            "openings": openings,
            "skills": skills,
            "expires_at": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        let key = self.key();
        if let Some(a) = self
            .api
            .post(&owner, "POST /jobs", "/jobs", body, key)
            .await
            && a.status == 201
        {
            let job_id = a.id("job_id");
            let mut world = self.world.lock().unwrap();
            world.jobs.insert(
                job_id.clone(),
                Job {
                    owner,
                    openings,
                    word,
                    closed: false,
                    expires_at,
                },
            );
            if popular {
                world.popular = Some(job_id);
            }
        }
    }

    /// An open job of another client: the popular one half the time.
    fn pick_job(&mut self) -> Option<String> {
        let world = self.world.lock().unwrap();
        let mine = owner(self.index);
        let now = chrono::Utc::now();
        if let Some(popular) = &world.popular
            && self.rng.random_bool(0.5)
            && world.jobs[popular].owner != mine
        {
            return Some(popular.clone());
        }
        let open: Vec<&String> = world
            .jobs
            .iter()
            .filter(|(_, j)| !j.closed && j.owner != mine && j.expires_at > now)
            .map(|(id, _)| id)
            .collect();
        open.choose(&mut self.rng).map(|id| (*id).clone())
    }

    async fn apply(&mut self) {
        let Some(job_id) = self.pick_job() else {
            return;
        };
        let freelancer = freelancer(self.index, self.rng.random_range(0..FREELANCERS_PER_CLIENT));
        if self
            .world
            .lock()
            .unwrap()
            .applications
            .values()
            .any(|a| a.job_id == job_id && a.freelancer == freelancer)
        {
            return;
        }
        let bid = self.rng.random_range(1_000..400_000);
        let key = self.key();
        let path = format!("/jobs/{job_id}/applications");
        let body = json!({"bid_cents": bid, "message": "Chaos applies."});
        if let Some(a) = self
            .api
            .post(
                &freelancer,
                "POST /jobs/{id}/applications",
                &path,
                body,
                key,
            )
            .await
            && a.status == 201
        {
            self.world.lock().unwrap().applications.insert(
                a.id("application_id"),
                Application {
                    job_id,
                    freelancer,
                    bid,
                    status: "pending".into(),
                },
            );
        }
    }

    async fn withdraw(&mut self) {
        let mine: Vec<(String, Application)> = {
            let world = self.world.lock().unwrap();
            let prefix = format!("chaos-c{:02}-f", self.index);
            world
                .applications
                .iter()
                .filter(|(_, a)| a.status == "pending" && a.freelancer.starts_with(&prefix))
                .map(|(id, a)| (id.clone(), a.clone()))
                .collect()
        };
        let Some((id, application)) = mine.choose(&mut self.rng).cloned() else {
            return;
        };
        let key = self.key();
        let path = format!("/jobs/{}/applications/{id}/withdraw", application.job_id);
        let route = "POST /jobs/{id}/applications/{id}/withdraw";
        if let Some(a) = self
            .api
            .post(&application.freelancer, route, &path, json!({}), key)
            .await
            && a.status == 200
        {
            self.world
                .lock()
                .unwrap()
                .applications
                .get_mut(&id)
                .unwrap()
                .status = "withdrawn".into();
        }
    }

    fn my_open_jobs(&self) -> Vec<String> {
        let mine = owner(self.index);
        self.world
            .lock()
            .unwrap()
            .jobs
            .iter()
            .filter(|(_, j)| j.owner == mine && !j.closed)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Hires on one of its jobs; when two are pending, often both at once (a race).
    async fn hire(&mut self) {
        let Some(job_id) = self.my_open_jobs().choose(&mut self.rng).cloned() else {
            return;
        };
        let owner = owner(self.index);
        let path = format!("/jobs/{job_id}/applications?limit=100");
        let Some(list) = self
            .api
            .get(&owner, "GET /jobs/{id}/applications", &path)
            .await
        else {
            return;
        };
        let pending: Vec<String> = list.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["status"] == "pending")
            .filter_map(|a| a["application_id"].as_str().map(str::to_owned))
            .collect();
        let n = if pending.len() >= 2 && self.rng.random_bool(0.5) {
            2
        } else {
            1
        };
        let chosen: Vec<String> = pending.sample(&mut self.rng, n).cloned().collect();
        let path = format!("/jobs/{job_id}/hire");
        let hires = chosen.iter().map(|application_id| {
            let key = self.key_for_race();
            let body = json!({"application_id": application_id});
            self.api
                .post(&owner, "POST /jobs/{id}/hire", &path, body, key)
        });
        let answers: Vec<Option<Answer>> =
            futures::future::join_all(hires.collect::<Vec<_>>()).await;
        let mut world = self.world.lock().unwrap();
        for a in answers.into_iter().flatten() {
            if a.status == 200 {
                let application_id = a.body["application"]["application_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if let Some(app) = world.applications.get_mut(&application_id) {
                    app.status = "hired".into();
                }
                world.contracts.insert(
                    a.body["contract"]["contract_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    Contract {
                        owner: owner.clone(),
                        application_id,
                        amount: a.body["contract"]["amount_cents"].as_i64().unwrap_or(-1),
                        status: a.body["contract"]["status"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    },
                );
                if a.body["job"]["status"] != "open"
                    && let Some(job) = world.jobs.get_mut(&job_id)
                {
                    job.closed = true;
                }
            } else if a.code() == "JOB_NOT_OPEN"
                && let Some(job) = world.jobs.get_mut(&job_id)
            {
                job.closed = true;
            }
        }
    }

    fn key_for_race(&self) -> String {
        // Distinct without `&mut self`, so two hires can be built side by side.
        format!(
            "chaos-{}-{}-hire-{}",
            self.seed,
            self.index,
            rand::random::<u64>()
        )
    }

    async fn cancel(&mut self) {
        let Some(job_id) = self.my_open_jobs().choose(&mut self.rng).cloned() else {
            return;
        };
        let key = self.key();
        let path = format!("/jobs/{job_id}/cancel");
        if let Some(a) = self
            .api
            .post(
                &owner(self.index),
                "POST /jobs/{id}/cancel",
                &path,
                json!({}),
                key,
            )
            .await
            && (a.status == 200 || a.code() == "JOB_NOT_OPEN")
            && let Some(job) = self.world.lock().unwrap().jobs.get_mut(&job_id)
        {
            job.closed = true;
        }
    }

    /// Funds a created contract, or releases or refunds a funded one.
    async fn escrow(&mut self) {
        let mine = owner(self.index);
        let candidates: Vec<(String, String)> = self
            .world
            .lock()
            .unwrap()
            .contracts
            .iter()
            .filter(|(_, c)| c.owner == mine && (c.status == "created" || c.status == "funded"))
            .map(|(id, c)| (id.clone(), c.status.clone()))
            .collect();
        let Some((id, status)) = candidates.choose(&mut self.rng).cloned() else {
            return;
        };
        let action = match status.as_str() {
            "created" => "fund",
            _ if self.rng.random_bool(0.6) => "release",
            _ => "refund",
        };
        let key = self.key();
        let path = format!("/contracts/{id}/{action}");
        if let Some(a) = self
            .api
            .post(
                &mine,
                "POST /contracts/{id}/{action}",
                &path,
                json!({}),
                key,
            )
            .await
            && a.status == 200
        {
            let status = a.body["status"].as_str().unwrap_or_default().to_owned();
            self.world
                .lock()
                .unwrap()
                .contracts
                .get_mut(&id)
                .unwrap()
                .status = status;
        }
    }

    async fn read_inbox(&mut self) {
        let user = if self.rng.random_bool(0.5) {
            owner(self.index)
        } else {
            freelancer(self.index, self.rng.random_range(0..FREELANCERS_PER_CLIENT))
        };
        self.api
            .get(&user, "GET /me/notifications", "/me/notifications?limit=20")
            .await;
    }

    /// The board, a page and the next; a search; a filter with a sort.
    async fn browse(&mut self) {
        let user = freelancer(self.index, 0);
        let path = match self.rng.random_range(0..3) {
            0 => "/jobs?limit=20".to_owned(),
            1 => "/jobs?q=chaos+job&sort=relevance&limit=20".to_owned(),
            _ => format!(
                "/jobs?skill={}&sort=budget_desc&limit=20",
                SKILLS.choose(&mut self.rng).unwrap().replace('+', "%2B")
            ),
        };
        if let Some(page) = self.api.get(&user, "GET /jobs", &path).await
            && let Some(cursor) = page.body["next_cursor"].as_str()
        {
            let next = format!("{path}&cursor={cursor}");
            self.api.get(&user, "GET /jobs", &next).await;
        }
    }
}
