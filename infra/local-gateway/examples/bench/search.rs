//! `search [JOBS]`: finding work over a board of JOBS open jobs.
//!
//! 1. Seeds JOBS open jobs straight into the table (each `CreateJob`, then `index_job` as
//!    the `index` consumer would, 16 at once; no pipe), with skills from a fixed pool,
//!    budgets in USD and EUR, titles and descriptions from small word pools, all from a
//!    fixed pseudo-random sequence.
//! 2. Through the gateway, as a client: p50/p99 over `REQUESTS` first pages (limit 20) of
//!    each search, and the items one page reads (the handlers' calls, each its
//!    `max(ScannedCount, keys asked for)`).
//! 3. On a second stack delivering as `make dev` does (the table's stream through the pipe
//!    to the queues, the pollers feeding `index`): 100 `POST /jobs` one after another, each
//!    with a word of its own in the title, each polled by `GET /jobs?q=<word>` every 20 ms
//!    until listed.
//! 4. The items `index_job` and `unindex_job` write for one typical job (3 skills, about
//!    20 words), and their write units.
//!
//! Fails on an answer other than 200, an empty first page, or a job never findable.

use super::*;
use futures::StreamExt;
use local_gateway::round_trips::{Recorder, item_size};
use shared::domain::transitions::CreateJob;
use shared::domain::{Findable, Job, NewJob};
use shared::store::{Store, discovery_keys};

/// Requests measured per search.
const REQUESTS: usize = 200;

/// Jobs seeded at once.
const SEEDING: usize = 16;

/// Jobs posted through the API for the create → findable delay.
const POSTS: usize = 100;

const SKILLS: [&str; 16] = [
    "rust", "python", "react", "node.js", "sql", "aws", "design", "figma", "seo", "writing", "c++",
    "c#", "go", "java", "docker", "kotlin",
];

const TITLE_WORDS: [&str; 24] = [
    "developer",
    "website",
    "logo",
    "api",
    "migration",
    "design",
    "mobile",
    "app",
    "dashboard",
    "backend",
    "frontend",
    "database",
    "shop",
    "booking",
    "payments",
    "report",
    "scraper",
    "plugin",
    "audit",
    "prototype",
    "redesign",
    "integration",
    "engineer",
    "consultant",
];

const DESCRIPTION_WORDS: [&str; 48] = [
    "build",
    "extend",
    "maintain",
    "refactor",
    "deploy",
    "test",
    "document",
    "review",
    "optimise",
    "migrate",
    "customers",
    "orders",
    "invoices",
    "users",
    "accounts",
    "sensors",
    "charts",
    "tables",
    "emails",
    "webhooks",
    "refunds",
    "search",
    "caching",
    "queues",
    "schema",
    "pipeline",
    "firmware",
    "screens",
    "pages",
    "components",
    "animations",
    "translations",
    "reports",
    "exports",
    "imports",
    "backups",
    "monitoring",
    "alerts",
    "security",
    "performance",
    "accessibility",
    "analytics",
    "onboarding",
    "checkout",
    "subscriptions",
    "notifications",
    "permissions",
    "uploads",
];

/// A fixed pseudo-random sequence (xorshift64*): the same board every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, pool: &[&'a str]) -> &'a str {
        pool[self.below(pool.len())]
    }
}

/// The `i`th seeded job: posted `i` seconds before `now`, 1–3 skills, a title of 3–5
/// words, a description of 12–18, a budget of 50–20,050 units, one job in four in EUR.
fn seeded_job(rng: &mut Rng, i: usize, now: shared::time::Timestamp) -> Result<Job, BoxError> {
    let skills: Vec<&str> = (0..1 + rng.below(3)).map(|_| rng.pick(&SKILLS)).collect();
    let title: Vec<&str> = (0..3 + rng.below(3))
        .map(|_| rng.pick(&TITLE_WORDS))
        .collect();
    let description: Vec<&str> = (0..12 + rng.below(7))
        .map(|_| rng.pick(&DESCRIPTION_WORDS))
        .collect();
    let budget = 5_000 + 100 * rng.below(20_000) as u64;
    let currency = if rng.below(4) == 0 { "EUR" } else { "USD" };
    let at = now - chrono::Duration::seconds(i as i64);
    job_of(
        json!({
            "title": title.join(" "),
            "description": description.join(" "),
            "skills": skills,
            "budget_cents": budget,
            "currency": currency,
        }),
        "owner",
        at,
    )
}

fn job_of(body: Value, owner: &str, at: shared::time::Timestamp) -> Result<Job, BoxError> {
    let body = body.as_object().ok_or("a job body")?;
    let new_job = NewJob::parse(body, at).map_err(|e| format!("seeded job invalid: {e:?}"))?;
    Ok(new_job.into_job(JobId::at(at), UserId::parse(owner).ok_or("owner")?, at))
}

pub async fn search(jobs: usize) -> Result<(), BoxError> {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "search: {jobs} jobs; load average at start: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let recorder = Recorder::new();
    // No stream, no pipe, no consumer: the board is written here, then only read.
    let bench = setup_with(|o| {
        o.stream = false;
        o.pipe = false;
        o.pump = false;
        o.publish = false;
        o.round_trips = Some(recorder.clone());
    })
    .await?;
    seed(&bench, jobs).await?;
    reads(&bench, &recorder, jobs).await?;
    write_units(&bench).await?;
    drop(bench);
    findable_delay().await
}

async fn seed(bench: &Bench, jobs: usize) -> Result<(), BoxError> {
    let now = shared::time::now();
    let mut rng = Rng(0x5EED_0018);
    let all: Vec<Job> = (0..jobs)
        .map(|i| seeded_job(&mut rng, i, now))
        .collect::<Result<_, _>>()?;
    // Without the handlers' timeouts: sixteen transactions of about fifty items at once
    // queue behind DynamoDB Local's write lock.
    let store = Store::new(bench.patient.clone(), bench.table.as_str());
    let started = Instant::now();
    let done = AtomicUsize::new(0);
    let mut writes = futures::stream::iter(all.into_iter().map(|job| {
        let store = &store;
        let done = &done;
        async move {
            let job = store.run(CreateJob { job }).await?.answer;
            match store.index_job(&job).await? {
                shared::store::Indexed::Findable { .. } => {}
                other => return Err(format!("seeding indexed {other:?}").into()),
            }
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_multiple_of(1_000) {
                eprintln!("  seeded {n} in {:.0}s", started.elapsed().as_secs_f64());
            }
            Ok::<_, BoxError>(())
        }
    }))
    .buffer_unordered(SEEDING);
    while let Some(written) = writes.next().await {
        written?;
    }
    println!(
        "seeded {jobs} jobs (CreateJob + index_job, {SEEDING} at once) in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The searches measured: a name and a path.
const SEARCHES: [(&str, &str); 8] = [
    (
        "sort=newest, min_budget + max_budget",
        "/jobs?sort=newest&min_budget=500000&max_budget=1000000&limit=20",
    ),
    ("sort=budget_desc", "/jobs?sort=budget_desc&limit=20"),
    ("sort=budget_asc", "/jobs?sort=budget_asc&limit=20"),
    (
        "skill + min_budget + max_budget",
        "/jobs?skill=rust&min_budget=500000&max_budget=1000000&limit=20",
    ),
    ("q, one word", "/jobs?q=developer&limit=20"),
    (
        "q, three words",
        "/jobs?q=developer+build+customers&limit=20",
    ),
    (
        "q + sort=relevance",
        "/jobs?q=website+developer&sort=relevance&limit=20",
    ),
    ("GET /jobs/suggest?q=<3 letters>", "/jobs/suggest?q=dev"),
];

async fn reads(bench: &Bench, recorder: &Recorder, jobs: usize) -> Result<(), BoxError> {
    println!(
        "\n{jobs} open jobs, {REQUESTS} first pages of each, one after another\n\
         | search | listed on the first page | p50 | p99 | items read per page | calls |\n|---|---|---|---|---|---|"
    );
    for (name, path) in SEARCHES {
        // Warm the connection and the handler, then count one request's reads.
        recorder.reset();
        let (status, body) = get_status(bench, path).await?;
        let calls = recorder.calls();
        if status != 200 {
            return Err(format!("{path} answered {status}: {body}").into());
        }
        let listed = body["items"]
            .as_array()
            .or_else(|| body["suggestions"].as_array())
            .map_or(0, Vec::len);
        // A page may be short, even empty, when its bounded read runs out: then it carries
        // a cursor. Empty without one, the search matched nothing: a wrong board.
        let more = body["next_cursor"].is_string();
        if listed == 0 && !more {
            return Err(format!("{path} listed nothing: {body}").into());
        }
        let read: usize = calls
            .iter()
            .filter_map(|c| c.read.as_ref())
            .map(|r| r.scanned.max(r.keys))
            .sum();
        let ops: Vec<&str> = calls.iter().map(|c| c.operation.as_str()).collect();
        let mut latencies = Vec::with_capacity(REQUESTS);
        for _ in 0..REQUESTS {
            let started = Instant::now();
            let (status, _) = get_status(bench, path).await?;
            latencies.push(started.elapsed());
            if status != 200 {
                return Err(format!("{path} answered {status}").into());
            }
        }
        println!(
            "| {name} (`{path}`) | {listed}{} | {} | {} | {read} | {} |",
            if more { " + cursor" } else { "" },
            fine_ms(&latencies, 0.5),
            fine_ms(&latencies, 0.99),
            summarise(&ops)
        );
    }
    Ok(())
}

/// `Query ×4, BatchGetItem` for a list of operations.
fn summarise(ops: &[&str]) -> String {
    let mut counted: Vec<(&str, usize)> = Vec::new();
    for op in ops {
        match counted.iter_mut().find(|(o, _)| o == op) {
            Some((_, n)) => *n += 1,
            None => counted.push((op, 1)),
        }
    }
    counted
        .iter()
        .map(|(o, n)| {
            if *n == 1 {
                (*o).to_owned()
            } else {
                format!("{o} ×{n}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn fine_ms(latencies: &[Duration], p: f64) -> String {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    format!("{:.1} ms", percentile(&sorted, p))
}

async fn get_status(api: &Api, path: &str) -> Result<(u16, Value), BoxError> {
    let res = api
        .http
        .get(format!("{}{path}", api.base))
        .bearer_auth(api.auth.mint("searcher", chrono::Duration::hours(1)))
        .send()
        .await?;
    let status = res.status().as_u16();
    Ok((status, res.json().await.unwrap_or(Value::Null)))
}

/// The items `index_job` and `unindex_job` write for one job of 3 skills and 20 words, and
/// their write units by DynamoDB's rule (2 a KB or part of one for an item of a
/// transaction, 1 for a plain write).
async fn write_units(bench: &Bench) -> Result<(), BoxError> {
    let recorder = Recorder::new();
    let client = aws_sdk_dynamodb::Client::from_conf(
        bench
            .patient
            .config()
            .to_builder()
            .interceptor(recorder.interceptor())
            .build(),
    );
    let store = Store::new(client, bench.table.as_str());
    let job = job_of(
        json!({
            "title": "Rust developer for a payments API",
            "description": "Extend our Axum service: refunds, webhooks, invoices, retries, \
                            tests and documentation for the accounting team; monthly reports \
                            and alerts",
            "skills": ["rust", "aws", "sql"],
            "budget_cents": 800_000,
        }),
        "typical",
        shared::time::now(),
    )?;
    let job = bench.app.store.run(CreateJob { job }).await?.answer;
    let findable = Findable::of(&job);
    let suggestible = Findable::suggestible(&job);

    recorder.reset();
    store.index_job(&job).await?;
    let posted = recorder.calls();

    // Each item's size as the table holds it, for its units.
    let mut sizes = Vec::new();
    let mut keys_of: Vec<(String, String)> = discovery_keys(&job);
    keys_of.push((
        keys::find_state_pk(job.job_id),
        keys::FIND_STATE_SK.to_owned(),
    ));
    for word in &suggestible {
        keys_of.push((keys::suggest_pk(word), keys::suggest_sk(word)));
    }
    for (pk, sk) in &keys_of {
        let item = bench
            .dynamo
            .get_item()
            .table_name(&bench.table)
            .key(keys::PK, AttributeValue::S(pk.clone()))
            .key(keys::SK, AttributeValue::S(sk.clone()))
            .send()
            .await?
            .item
            .ok_or_else(|| format!("no item {pk} / {sk}"))?;
        sizes.push(item_size(&item));
    }
    let units = |size: usize| size.div_ceil(1024).max(1);
    let transactional: usize = sizes.iter().map(|s| 2 * units(*s)).sum();
    let largest = sizes.iter().copied().max().unwrap_or(0);

    recorder.reset();
    store.unindex_job(job.job_id, Some(&job)).await?;
    let closed = recorder.calls();

    let written = |calls: &[local_gateway::round_trips::Call]| -> (usize, Vec<String>) {
        let items = calls.iter().map(|c| c.items.len().max(1)).sum();
        let ops = calls
            .iter()
            .map(|c| {
                if c.items.is_empty() {
                    c.operation.clone()
                } else {
                    format!("{} of {}", c.operation, c.items.len())
                }
            })
            .collect();
        (items, ops)
    };
    let (post_items, post_ops) = written(&posted);
    let (close_items, close_ops) = written(&closed);
    // Closing: the tombstone is a plain UpdateItem (1 unit), then the same items in a
    // transaction (deleted or decremented, billed on their size).
    let state_size = sizes[sizes.len() - 1 - suggestible.len()];
    println!(
        "\nOne typical job: {} skills, {} words, {} suggestible; discovery items {} \
         (largest item {largest} bytes)\n\
         | step | calls | items written | write units |\n|---|---|---|---|\n\
         | post (`index_job`) | {} | {post_items} | {transactional} |\n\
         | close (`unindex_job`) | {} | {close_items} | {} |",
        job.skills.len(),
        findable.words.len(),
        suggestible.len(),
        discovery_keys(&job).len(),
        post_ops.join(", "),
        close_ops.join(", "),
        units(state_size) + transactional,
    );
    Ok(())
}

/// A word of its own for post `i`: consonants only, so neither a stop word nor stemmed.
fn unique_word(i: usize) -> String {
    const LETTERS: &[u8] = b"bcdfghjklmnpqrtvwxz";
    let mut word = String::from("zq");
    let mut n = i;
    for _ in 0..3 {
        word.push(LETTERS[n % LETTERS.len()] as char);
        n /= LETTERS.len();
    }
    word
}

async fn findable_delay() -> Result<(), BoxError> {
    // As `make dev` delivers: the stream through the pipe, the pollers feeding `index`.
    let bench = setup(true, true).await?;
    let mut delays = Vec::with_capacity(POSTS);
    for i in 0..POSTS {
        let word = unique_word(i);
        let (status, job) = bench
            .post(
                "poster",
                "/jobs",
                json!({
                    "title": format!("Logo design {word}"),
                    "description": "A small logo for a bakery.",
                    "skills": ["design"],
                    "budget_cents": 50_000,
                }),
            )
            .await?;
        let posted_at = Instant::now();
        if status != 201 && status != 200 {
            return Err(format!("POST /jobs answered {status}: {job}").into());
        }
        let job_id = job["job_id"].as_str().ok_or("a job id")?.to_owned();
        loop {
            let (status, page) = get_status(&bench, &format!("/jobs?q={word}")).await?;
            if status != 200 {
                return Err(format!("GET /jobs?q={word} answered {status}: {page}").into());
            }
            if page["items"]
                .as_array()
                .is_some_and(|a| a.iter().any(|j| j["job_id"] == job_id.as_str()))
            {
                delays.push(posted_at.elapsed());
                break;
            }
            if posted_at.elapsed() > Duration::from_secs(30) {
                return Err(format!("job {job_id} ({word}) not findable after 30 s").into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    delays.sort();
    println!(
        "\ncreate → findable over {POSTS} posts one after another (polled every 20 ms)\n\
         | posts | p50 | p99 | max |\n|---|---|---|---|\n| {POSTS} | {:.0} ms | {:.0} ms | {:.0} ms |",
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        percentile(&delays, 1.0)
    );
    Ok(())
}
