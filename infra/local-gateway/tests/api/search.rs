//! Finding work against about 500 jobs: every filter, sort and search, and their
//! combinations, answer exactly what a plain computation over the same jobs selects, in the
//! same order, page after page; each first page of 20 reads at most its stated bound.

use local_gateway::round_trips::Recorder;
use serde_json::{Value, json};
use shared::domain::search::{MAX_WORDS, RELEVANCE_WINDOW_PER_SHARD};
use shared::domain::words::stems;
use shared::store::keys;
use std::collections::HashSet;
use test_kit::{PrivateDynamoDb, TestApp, spawn_app_with, str_of};

const JOBS: usize = 480;
const SKILLS: [&str; 8] = [
    "rust", "c++", "c#", "node.js", "python", "react", "sql", "aws",
];
const NOUNS: [&str; 8] = [
    "website",
    "logo",
    "api",
    "migration",
    "dashboard",
    "developer",
    "designer",
    "backend",
];
const EXTRA: [&str; 6] = ["urgent", "remote", "startup", "bakery", "shop", "platform"];
const OWNERS: [&str; 2] = ["alice", "carol"];

/// A job as the test knows it, from its create answer.
#[derive(Debug, Clone)]
struct Seeded {
    id: String,
    owner: String,
    created: String,
    budget: i64,
    currency: String,
    skills: Vec<String>,
    words: Vec<String>,
    title: Vec<String>,
}

/// Deterministic pseudo-random numbers (xorshift), so a failure replays.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn body(i: usize, dice: &mut Dice) -> Value {
    let title = format!(
        "{} {} {}",
        EXTRA[dice.roll(EXTRA.len())],
        NOUNS[dice.roll(NOUNS.len())],
        NOUNS[dice.roll(NOUNS.len())]
    );
    let description = format!(
        "We need a {} for our {} and {}",
        NOUNS[dice.roll(NOUNS.len())],
        EXTRA[dice.roll(EXTRA.len())],
        EXTRA[dice.roll(EXTRA.len())]
    );
    let skills: Vec<&str> = (0..dice.roll(4))
        .map(|_| SKILLS[dice.roll(SKILLS.len())])
        .collect();
    // Few distinct budgets, so ties are common and their order is tested.
    let budget = [5_000, 10_000, 25_000, 50_000, 100_000][dice.roll(5)] + (i % 3) as i64;
    let currency = if i.is_multiple_of(9) { "EUR" } else { "USD" };
    json!({
        "title": title,
        "description": description,
        "skills": skills,
        "budget_cents": budget,
        "currency": currency,
    })
}

fn seeded(job: &Value) -> Seeded {
    let skills: Vec<String> = job["skills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    let title = stems(job["title"].as_str().unwrap());
    let mut words: Vec<String> = Vec::new();
    for w in title
        .iter()
        .cloned()
        .chain(stems(&skills.join(" ")))
        .chain(stems(job["description"].as_str().unwrap()))
    {
        if words.len() < MAX_WORDS && !words.contains(&w) {
            words.push(w);
        }
    }
    Seeded {
        id: str_of(job, "job_id"),
        owner: str_of(job, "owner_id"),
        created: str_of(job, "created_at"),
        budget: job["budget_cents"].as_i64().unwrap(),
        currency: str_of(job, "currency"),
        skills,
        title: title.into_iter().filter(|t| words.contains(t)).collect(),
        words,
    }
}

/// One search: its query string, what it selects and in which order.
struct Case {
    mine: Option<&'static str>,
    skills: Vec<&'static str>,
    min: Option<i64>,
    max: Option<i64>,
    currency: Option<&'static str>,
    after: Option<String>,
    before: Option<String>,
    q: Option<&'static str>,
    sort: &'static str,
}

impl Case {
    fn new(query: &str) -> Self {
        let mut case = Self {
            mine: None,
            skills: Vec::new(),
            min: None,
            max: None,
            currency: None,
            after: None,
            before: None,
            q: None,
            sort: "newest",
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap();
            let v: &'static str = Box::leak(
                form_urlencoded::parse(format!("v={v}").as_bytes())
                    .next()
                    .unwrap()
                    .1
                    .into_owned()
                    .into_boxed_str(),
            );
            match k {
                "owner" => case.mine = Some("alice"),
                "skill" => case.skills.push(v),
                "min_budget" => case.min = v.parse().ok(),
                "max_budget" => case.max = v.parse().ok(),
                "currency" => case.currency = Some(v),
                "posted_after" => case.after = Some(v.to_owned()),
                "posted_before" => case.before = Some(v.to_owned()),
                "q" => case.q = Some(v),
                "sort" => case.sort = v,
                _ => panic!("unknown parameter {k}"),
            }
        }
        case
    }

    fn expected(&self, jobs: &[Seeded]) -> Vec<String> {
        let words = self.q.map(stems).unwrap_or_default();
        let by_budget = self.min.is_some() || self.max.is_some() || self.sort.starts_with("budget");
        let currency = self.currency.or(by_budget.then_some("USD"));
        let matches = |j: &Seeded| {
            self.mine.is_none_or(|m| j.owner == m)
                && self.skills.iter().all(|s| j.skills.iter().any(|k| k == s))
                && words.iter().all(|w| j.words.contains(w))
                && currency.is_none_or(|c| j.currency == c)
                && self.min.is_none_or(|m| j.budget >= m)
                && self.max.is_none_or(|m| j.budget <= m)
                && self.after.as_ref().is_none_or(|t| j.created > *t)
                && self.before.as_ref().is_none_or(|t| j.created < *t)
        };
        let newest = |a: &&Seeded, b: &&Seeded| (&b.created, &b.id).cmp(&(&a.created, &a.id));
        let mut found: Vec<&Seeded> = match self.sort {
            "relevance" => {
                // The window: the newest jobs of each shard that hold the longest word.
                let chosen = words
                    .iter()
                    .rev()
                    .max_by_key(|w| w.chars().count())
                    .unwrap();
                let mut holding: Vec<&Seeded> =
                    jobs.iter().filter(|j| j.words.contains(chosen)).collect();
                holding.sort_by(newest);
                let mut per_shard = [0usize; keys::FIND_SHARDS as usize];
                holding.retain(|j| {
                    let shard =
                        keys::find_shard(shared::domain::JobId::parse(&j.id).unwrap()) as usize;
                    per_shard[shard] += 1;
                    per_shard[shard] <= RELEVANCE_WINDOW_PER_SHARD
                });
                holding.into_iter().filter(|j| matches(j)).collect()
            }
            _ => jobs.iter().filter(|j| matches(j)).collect(),
        };
        match self.sort {
            "newest" => found.sort_by(newest),
            "budget_desc" => found
                .sort_by(|a, b| (b.budget, &b.created, &b.id).cmp(&(a.budget, &a.created, &a.id))),
            "budget_asc" => found
                .sort_by(|a, b| (a.budget, &a.created, &a.id).cmp(&(b.budget, &b.created, &b.id))),
            "relevance" => found.sort_by(|a, b| {
                let title = |j: &Seeded| !words.iter().all(|w| j.title.contains(w));
                title(a).cmp(&title(b)).then_with(|| newest(a, b))
            }),
            other => panic!("unknown sort {other}"),
        }
        found.into_iter().map(|j| j.id.clone()).collect()
    }

    /// The most items a first page of 20 may read: each partition's read, then the page's
    /// jobs by key.
    fn read_bound(&self) -> usize {
        let shards = keys::FIND_SHARDS as usize;
        let per = shared::store::SHARD_READ;
        if self.sort == "relevance" {
            shards * RELEVANCE_WINDOW_PER_SHARD + 20
        } else if self.q.is_some() || !self.skills.is_empty() || self.sort.starts_with("budget") {
            shards * per + 20
        } else {
            per
        }
    }
}

/// The pages of `query` at `limit` until `want` items or the last page; fails on a repeat.
/// A page may be short, or even empty, and still carry a cursor (its read ran out first).
async fn all_pages(app: &TestApp, query: &str, limit: usize, want: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    while ids.len() < want {
        let mut path = format!("/jobs?{query}&limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = app.get("alice", &path).await.expect(200);
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit);
        for item in items {
            let id = str_of(item, "job_id");
            assert!(!ids.contains(&id), "{query} at {limit}: {id} repeated");
            ids.push(id);
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return ids,
        }
    }
    ids.truncate(want);
    ids
}

#[tokio::test]
async fn every_filter_sort_and_search_answers_what_a_plain_computation_selects() {
    // A DynamoDB Local of its own: indexing 480 jobs keeps one busy for a while, and the
    // suite's timing-sensitive tests must not queue behind it.
    let dynamodb = PrivateDynamoDb::start().await;
    let endpoint = dynamodb.endpoint.clone();
    let recorder = Recorder::new();
    let app = spawn_app_with(|o| {
        o.dynamodb_endpoint = endpoint;
        o.stream = true;
        o.round_trips = Some(recorder.clone());
    })
    .await;
    let mut dice = Dice(0x5eed_cafe);
    let bodies: Vec<(usize, Value)> = (0..JOBS).map(|i| (i, body(i, &mut dice))).collect();
    let mut jobs: Vec<Seeded> = Vec::new();
    for chunk in bodies.chunks(10) {
        let created = futures::future::join_all(chunk.iter().map(|(i, b)| {
            let app = &app;
            async move { app.create_job(OWNERS[i % 2], b.clone()).await }
        }))
        .await;
        jobs.extend(created.iter().map(seeded));
    }
    app.drain_queue().await;

    let mut by_time = jobs.clone();
    by_time.sort_by(|a, b| a.created.cmp(&b.created));
    let t1 = by_time[100].created.clone();
    let t2 = by_time[380].created.clone();
    let cases = [
        "skill=rust".to_owned(),
        "skill=c%2B%2B".to_owned(),
        "skill=c%23&skill=sql".to_owned(),
        "skill=rust&skill=aws&skill=react".to_owned(),
        "min_budget=10000&max_budget=50001".to_owned(),
        "min_budget=25000&currency=EUR".to_owned(),
        format!("posted_after={t1}&posted_before={t2}"),
        "sort=budget_desc".to_owned(),
        "sort=budget_asc&max_budget=25001".to_owned(),
        "sort=budget_desc&skill=python".to_owned(),
        "q=website".to_owned(),
        "q=Developers%20remote%20API".to_owned(),
        "q=logo&sort=relevance".to_owned(),
        "q=bakery+website&sort=relevance&skill=rust".to_owned(),
        "q=migration&sort=budget_asc&min_budget=10000".to_owned(),
        format!("owner=me&skill=rust&posted_after={t1}"),
        "owner=me&sort=budget_desc".to_owned(),
        "skill=node.js&q=dashboard&max_budget=60000".to_owned(),
    ];
    for query in &cases {
        let case = Case::new(query);
        let expected = case.expected(&jobs);
        assert!(
            !expected.is_empty() || query.contains("aws&skill=react"),
            "{query}: the data selects nothing, so the case tests little"
        );
        for limit in [7, 100] {
            let got = all_pages(&app, query, limit, usize::MAX).await;
            assert_eq!(got, expected, "{query} at {limit}");
        }
        let first = all_pages(&app, query, 1, 12).await;
        assert_eq!(first, expected[..expected.len().min(12)], "{query} at 1");

        recorder.reset();
        app.get("alice", &format!("/jobs?{query}&limit=20"))
            .await
            .expect(200);
        let read: usize = recorder
            .calls()
            .iter()
            .filter_map(|c| c.read.as_ref())
            .map(|r| r.scanned.max(r.keys))
            .sum();
        assert!(
            read <= case.read_bound(),
            "{query}: a page of 20 read {read} items, over {}: {:?}",
            case.read_bound(),
            recorder.calls()
        );
    }
    // Every combination was served by Queries on an index and key reads, never a Scan.
    assert!(recorder.calls().iter().all(|c| c.operation != "Scan"));

    // Suggestions: by use, at most ten, starting with the prefix.
    let reply = app.get("bob", "/jobs/suggest?q=DEV").await;
    assert_eq!(
        reply
            .headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("public, max-age=60")
    );
    let suggestions = reply.expect(200)["suggestions"].as_array().unwrap().clone();
    let developer = jobs
        .iter()
        .filter(|j| j.title.contains(&"develop".to_owned()))
        .count() as i64;
    assert_eq!(
        suggestions,
        [json!({"text": "developer", "jobs": developer})]
    );
    let skills: HashSet<String> =
        app.get("bob", "/jobs/suggest?q=pyt").await.expect(200)["suggestions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| str_of(s, "text"))
            .collect();
    assert_eq!(skills, HashSet::from(["python".to_owned()]));
    crate::assert_audit_clean(&app).await;
}

#[tokio::test]
async fn each_bad_search_is_a_400_naming_its_parameter_that_reads_nothing() {
    let recorder = Recorder::new();
    let app = spawn_app_with(|o| o.round_trips = Some(recorder.clone())).await;
    for (query, field) in [
        ("min_budget=500&max_budget=100", "min_budget"),
        ("sort=cheapest", "sort"),
        ("sort=relevance", "sort"),
        ("q=the%20and%20of", "q"),
        (&*format!("q={}", "x".repeat(101)), "q"),
        ("skill=a&skill=b&skill=c&skill=d", "skill"),
        ("skill=no%20spaces", "skill"),
        ("posted_after=yesterday", "posted_after"),
        ("posted_before=2026-13-01T00:00:00Z", "posted_before"),
        ("min_budget=1.5", "min_budget"),
        ("max_budget=0", "max_budget"),
        ("currency=usd&min_budget=1", "currency"),
        ("status=filled&skill=rust", "skill"),
        ("status=cancelled&sort=budget_asc", "sort"),
    ] {
        recorder.reset();
        let reply = app.get("bob", &format!("/jobs?{query}")).await;
        reply.expect_problem(400, "VALIDATION_FAILED");
        let fields: Vec<&str> = reply.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, [field], "{query}");
        assert_eq!(recorder.calls().len(), 0, "{query} read something");
    }
    for q in ["ab", "%20%20x%20", ""] {
        recorder.reset();
        app.get("bob", &format!("/jobs/suggest?q={q}"))
            .await
            .expect_problem(400, "VALIDATION_FAILED");
        assert_eq!(recorder.calls().len(), 0);
    }
}
