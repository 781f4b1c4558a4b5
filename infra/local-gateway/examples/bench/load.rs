//! `load [CLIENTS] [ROUNDS] [FLOWS]`: sixteen clients (by default) under sustained load.

use super::*;

/// What one round of the load benchmark saw.
#[derive(Default)]
struct Round {
    /// Every request's latency, whatever its answer.
    latencies: Vec<Duration>,
    completed: usize,
    /// Flows given up on a retryable 503.
    abandoned: usize,
    wall: Duration,
    backlog_max: usize,
    backlog_end: usize,
    /// From a sampled hire's 200 to its `hired` notification in the freelancer's inbox.
    delays: Vec<Duration>,
}

struct Load {
    bench: Bench,
    rounds: Vec<Mutex<Round>>,
    /// Answers wrong under any load: neither the one expected nor a retryable 503.
    wrong: Mutex<Vec<String>>,
    /// Freelancers whose hire answered 200: each must end with a `hired` notification.
    hired: Mutex<Vec<String>>,
    /// Applications answered 201, by owner: each must end as an `application_received`.
    applied: Mutex<BTreeMap<String, usize>>,
    backlog_max: AtomicUsize,
    samplers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// One hire in this many has its hire-to-inbox delay sampled: the polling is extra load.
const DELAY_SAMPLE: usize = 10;

impl Load {
    /// A request of a flow; `None` ends the flow (a retryable 503, or a wrong answer).
    async fn step(
        &self,
        round: usize,
        user: &str,
        path: &str,
        body: Value,
        expected: u16,
    ) -> Option<Value> {
        let started = Instant::now();
        let reply = self.bench.post(user, path, body).await;
        self.rounds[round]
            .lock()
            .unwrap()
            .latencies
            .push(started.elapsed());
        match reply {
            Ok((status, body)) if status == expected => Some(body),
            Ok((503, _)) => {
                self.rounds[round].lock().unwrap().abandoned += 1;
                None
            }
            Ok((status, body)) => {
                let what = format!("POST {path}: {status} {body}");
                self.wrong.lock().unwrap().push(what);
                None
            }
            Err(e) => {
                self.wrong.lock().unwrap().push(format!("POST {path}: {e}"));
                None
            }
        }
    }

    /// Create → apply → hire; `owner` posts, `freelancer` applies and is hired.
    async fn flow(self: &Arc<Self>, round: usize, owner: &str, freelancer: &str, sample: bool) {
        let job = self
            .step(
                round,
                owner,
                "/jobs",
                json!({"title": "Load", "budget_cents": 100_000}),
                201,
            )
            .await;
        let Some(job_id) = job.and_then(|j| j["job_id"].as_str().map(str::to_owned)) else {
            return;
        };
        let application = self
            .step(
                round,
                freelancer,
                &format!("/jobs/{job_id}/applications"),
                json!({"bid_cents": 1_000}),
                201,
            )
            .await;
        let Some(application_id) =
            application.and_then(|a| a["application_id"].as_str().map(str::to_owned))
        else {
            return;
        };
        *self
            .applied
            .lock()
            .unwrap()
            .entry(owner.to_owned())
            .or_default() += 1;
        let hire = self
            .step(
                round,
                owner,
                &format!("/jobs/{job_id}/hire"),
                json!({"application_id": application_id}),
                200,
            )
            .await;
        if hire.is_none() {
            return;
        }
        let hired_at = Instant::now();
        self.hired.lock().unwrap().push(freelancer.to_owned());
        self.rounds[round].lock().unwrap().completed += 1;
        if sample {
            let (load, freelancer) = (self.clone(), freelancer.to_owned());
            let sampler = tokio::spawn(async move {
                load.sample_delay(round, &freelancer, hired_at).await;
            });
            self.samplers.lock().unwrap().push(sampler);
        }
    }

    /// Polls the freelancer's inbox every tenth of the time waited so far (at least 5 ms):
    /// within 10% however long the queue makes it, without a poll every few ms for a backlog.
    async fn sample_delay(&self, round: usize, freelancer: &str, hired_at: Instant) {
        while hired_at.elapsed() < Duration::from_secs(600) {
            if let Ok(inbox) = self.bench.get(freelancer, "/me/notifications").await
                && inbox["items"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|n| n["type"] == "hired"))
            {
                let delay = hired_at.elapsed();
                self.rounds[round].lock().unwrap().delays.push(delay);
                return;
            }
            let wait = (hired_at.elapsed() / 10).max(Duration::from_millis(5));
            tokio::time::sleep(wait).await;
        }
    }
}

/// `clients` clients, each running create → apply → hire flows one after another, until a
/// round's `flows` are done; `rounds` rounds back to back. The stack runs as `make dev`
/// runs it: the pipe forwarding the stream, the queue fed to `notify` in the background,
/// the sweeper every 10 s.
pub async fn load(clients: usize, rounds: usize, flows: usize) -> Result<(), BoxError> {
    let bench = setup_with(|o| {
        o.pump = true;
        o.pipe = true;
        o.sweep_every = Some(Duration::from_secs(10));
        o.config.redrive_delay = Duration::from_secs(30);
    })
    .await?;
    let load = Arc::new(Load {
        bench,
        rounds: (0..rounds).map(|_| Mutex::default()).collect(),
        wrong: Mutex::default(),
        hired: Mutex::default(),
        applied: Mutex::default(),
        backlog_max: AtomicUsize::new(0),
        samplers: Mutex::default(),
    });
    let watcher = {
        let load = load.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(n) = load.bench.backlog().await {
                    load.backlog_max.fetch_max(n, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    for round in 0..rounds {
        load.backlog_max.store(0, Ordering::SeqCst);
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let workers: Vec<_> = (0..clients)
            .map(|client| {
                let (load, next) = (load.clone(), next.clone());
                tokio::spawn(async move {
                    let owner = format!("owner{client}");
                    loop {
                        let k = next.fetch_add(1, Ordering::SeqCst);
                        if k >= flows {
                            return;
                        }
                        let freelancer = format!("r{round}f{k}");
                        load.flow(round, &owner, &freelancer, k % DELAY_SAMPLE == 0)
                            .await;
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await?;
        }
        let wall = started.elapsed();
        let backlog_end = load.bench.backlog().await?;
        let mut r = load.rounds[round].lock().unwrap();
        r.wall = wall;
        r.backlog_end = backlog_end;
        r.backlog_max = load.backlog_max.load(Ordering::SeqCst).max(backlog_end);
        println!(
            "round {}: {} flows in {:.1}s = {:.1} flows/s, {} abandoned on 503; requests p50={} p99={}; backlog max={} at the end={}",
            round + 1,
            r.completed,
            wall.as_secs_f64(),
            r.completed as f64 / wall.as_secs_f64(),
            r.abandoned,
            ms(&r.latencies, 0.5),
            ms(&r.latencies, 0.99),
            r.backlog_max,
            r.backlog_end,
        );
    }
    watcher.abort();

    let drain_started = Instant::now();
    let samplers = std::mem::take(&mut *load.samplers.lock().unwrap());
    for sampler in samplers {
        sampler.await?;
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while load.bench.backlog().await? > 0 || load.bench.in_flight().await? > 0 {
        if Instant::now() > deadline {
            return Err("the queue never drained".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "queue drained {:.1}s after the last round",
        drain_started.elapsed().as_secs_f64()
    );
    for (round, r) in load.rounds.iter().enumerate() {
        let r = r.lock().unwrap();
        let n = r.delays.len();
        println!(
            "round {}: hire→inbox over {n} sampled hires: p50={} p99={} max={}",
            round + 1,
            ms(&r.delays, 0.5),
            ms(&r.delays, 0.99),
            ms(&r.delays, 1.0),
        );
    }

    let mut missing = Vec::new();
    let hired = load.hired.lock().unwrap().clone();
    for freelancer in &hired {
        let user = UserId::parse(freelancer).ok_or("user")?;
        let n = load
            .bench
            .count_where(
                keys::user_pk(&user),
                keys::NOTIFICATION_SK_PREFIX,
                Some(("type", "hired")),
            )
            .await?;
        if n != 1 {
            missing.push(format!("{freelancer}: {n} hired notifications"));
        }
    }
    let applied = load.applied.lock().unwrap().clone();
    for (owner, expected) in &applied {
        let user = UserId::parse(owner).ok_or("user")?;
        let n = load
            .bench
            .count_where(
                keys::user_pk(&user),
                keys::NOTIFICATION_SK_PREFIX,
                Some(("type", "application_received")),
            )
            .await?;
        if n != *expected {
            missing.push(format!("{owner}: {n} application_received of {expected}"));
        }
    }
    let wrong = load.wrong.lock().unwrap().clone();
    println!(
        "outcome: {} hires; inboxes missing a notification: {}; wrong answers: {}",
        hired.len(),
        missing.len(),
        wrong.len()
    );
    for line in wrong.iter().chain(&missing).take(20) {
        println!("  {line}");
    }
    if !wrong.is_empty() || !missing.is_empty() {
        return Err("wrong outcome".into());
    }
    Ok(())
}
