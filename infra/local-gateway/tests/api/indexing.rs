//! The `index` consumer: jobs leave every index when they leave `open`, suggestion counts
//! follow, and redelivered, late and out-of-order events never put a closed job back or
//! count a word twice; a failing `index` delays only indexing.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde_json::{Value, json};
use shared::domain::Consumer;
use shared::store::keys;
use std::time::Duration;
use test_kit::{TestApp, s, spawn_app_with_stream, str_of};

/// The ids of the jobs a search of the open board lists (one page of 100).
async fn found(app: &TestApp, query: &str) -> Vec<String> {
    app.get("bob", &format!("/jobs?{query}&limit=100"))
        .await
        .expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| str_of(j, "job_id"))
        .collect()
}

/// How many open jobs `suggest` says use `word` (0 when it is not suggested).
async fn uses(app: &TestApp, word: &str) -> i64 {
    let reply = app
        .get("bob", &format!("/jobs/suggest?q={}", &word[..3]))
        .await
        .expect(200);
    reply["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["text"] == word)
        .map_or(0, |s| s["jobs"].as_i64().unwrap())
}

/// Every search that could list a job about quantum widgets.
const SEARCHES: [&str; 5] = [
    "q=quantum",
    "skill=qiskit",
    "sort=budget_desc",
    "q=widget&sort=relevance",
    "skill=qiskit&min_budget=1&sort=budget_asc",
];

fn widget_job() -> Value {
    json!({
        "title": "Quantum widget",
        "description": "Calibrate the widget",
        "skills": ["qiskit"],
        "budget_cents": 7_000
    })
}

async fn findable_everywhere(app: &TestApp, job_id: &str) -> Vec<bool> {
    let mut out = Vec::new();
    for query in SEARCHES {
        out.push(found(app, query).await.contains(&job_id.to_owned()));
    }
    out
}

/// The discovery items of a job still in the table (its state aside).
async fn index_items(app: &TestApp, job_id: &str) -> usize {
    app.items()
        .await
        .iter()
        .filter(|i| s(i, "PK").starts_with("FIND#") && i.get("job_id").is_some())
        .filter(|i| s(i, "SK") != keys::FIND_STATE_SK && s(i, "job_id") == job_id)
        .count()
}

#[tokio::test]
async fn a_job_that_fills_is_cancelled_or_expires_leaves_every_index() {
    let app = spawn_app_with_stream().await;
    let filled = str_of(&app.create_job("alice", widget_job()).await, "job_id");
    let cancelled = str_of(&app.create_job("alice", widget_job()).await, "job_id");
    let mut soon = widget_job();
    soon["expires_at"] = json!(shared::time::format(
        shared::time::now() + chrono::Duration::seconds(2)
    ));
    let expiring = str_of(&app.create_job("alice", soon).await, "job_id");
    let open = str_of(&app.create_job("alice", widget_job()).await, "job_id");
    app.drain_queue().await;
    for job in [&filled, &cancelled, &expiring, &open] {
        assert_eq!(findable_everywhere(&app, job).await, [true; 5], "{job}");
    }
    assert_eq!(uses(&app, "quantum").await, 4);

    let application = str_of(&app.apply(&filled, "bob", 6_000).await, "application_id");
    app.hire("alice", &filled, &application).await.expect(200);
    app.post("alice", &format!("/jobs/{cancelled}/cancel"), json!({}))
        .await
        .expect(200);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    // Past its deadline it is listed nowhere, even before the sweeper expires it.
    assert_eq!(findable_everywhere(&app, &expiring).await, [false; 5]);
    app.sweep_at(shared::time::now()).await;
    app.drain_queue().await;

    for job in [&filled, &cancelled, &expiring] {
        assert_eq!(findable_everywhere(&app, job).await, [false; 5], "{job}");
        assert_eq!(index_items(&app, job).await, 0, "{job} left items behind");
    }
    assert_eq!(findable_everywhere(&app, &open).await, [true; 5]);
    assert_eq!(uses(&app, "quantum").await, 1);
    assert_eq!(uses(&app, "qiskit").await, 1);
    crate::assert_audit_clean(&app).await;
}

/// The message the bus delivers to `index` for each of the job's announced events, oldest
/// first.
async fn index_messages(app: &TestApp, job_id: &str) -> Vec<String> {
    let mut rows: Vec<(String, String)> = app
        .items_with_sk(&keys::outbox_sk(Consumer::Index))
        .await
        .iter()
        .map(|i| (s(i, "PK"), s(i, "body")))
        .filter(|(_, body)| body.contains(job_id))
        .collect();
    rows.sort();
    rows.into_iter()
        .map(|(_, body)| {
            let detail: Value = serde_json::from_str(&body).unwrap();
            serde_json::to_string(&shared::bus::envelope(detail, shared::time::now())).unwrap()
        })
        .collect()
}

async fn deliver(app: &TestApp, bodies: &[&String]) {
    let mut event = SqsEvent::default();
    for (i, body) in bodies.iter().enumerate() {
        let mut record = SqsMessage::default();
        record.message_id = Some(format!("m{i}"));
        record.body = Some((*body).clone());
        event.records.push(record);
    }
    let response = shared::handlers::index(app.app.clone(), event).await;
    assert!(response.batch_item_failures.is_empty());
}

#[tokio::test]
async fn events_delivered_twice_and_out_of_order_never_put_a_closed_job_back() {
    let app = spawn_app_with_stream().await;
    // A close applied before its post, then both again, one batch at a time.
    let job = str_of(&app.create_job("alice", widget_job()).await, "job_id");
    app.post("alice", &format!("/jobs/{job}/cancel"), json!({}))
        .await
        .expect(200);
    let messages = index_messages(&app, &job).await;
    let [posted, closed] = [&messages[0], &messages[1]];
    assert!(posted.contains("job_posted") && closed.contains("job_closed"));
    deliver(&app, &[closed]).await;
    deliver(&app, &[posted]).await;
    deliver(&app, &[posted, closed]).await;
    deliver(&app, &[posted]).await;
    assert_eq!(findable_everywhere(&app, &job).await, [false; 5]);
    assert_eq!(index_items(&app, &job).await, 0);
    assert_eq!(uses(&app, "quantum").await, 0);

    // A post delivered three times counts its words once; a close racing a post (in one
    // batch, so at once) leaves nothing, whichever lands first.
    let open = str_of(&app.create_job("alice", widget_job()).await, "job_id");
    let posted = index_messages(&app, &open).await.remove(0);
    deliver(&app, &[&posted, &posted]).await;
    deliver(&app, &[&posted]).await;
    assert_eq!(uses(&app, "quantum").await, 1);
    for _ in 0..5 {
        let mut big = widget_job();
        // Enough skills and words for two batches, so a close can land between them.
        big["skills"] = json!((0..10).map(|i| format!("qiskit{i}")).collect::<Vec<_>>());
        big["description"] = json!(
            (0..60)
                .map(|i| format!("w{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let job = str_of(&app.create_job("alice", big).await, "job_id");
        app.post("alice", &format!("/jobs/{job}/cancel"), json!({}))
            .await
            .expect(200);
        let m = index_messages(&app, &job).await;
        deliver(&app, &[&m[0], &m[1], &m[0]]).await;
        assert_eq!(index_items(&app, &job).await, 0, "{job}");
        assert_eq!(findable_everywhere(&app, &job).await, [false; 5]);
    }
    assert_eq!(uses(&app, "quantum").await, 1);
    app.drain_queue().await;
    crate::assert_audit_clean(&app).await;
}

#[tokio::test]
async fn a_failing_index_delays_indexing_but_never_a_notification() {
    let app = spawn_app_with_stream().await;
    let job = str_of(&app.create_job("alice", widget_job()).await, "job_id");
    app.apply(&job, "bob", 6_000).await;
    app.pipe.pipe_once().await.unwrap();
    // `index` on a table that is not there: every event fails and comes back.
    let mut config = app.stack.config.clone();
    config.table_name = "no-such-table".into();
    let broken = shared::App::with_clients(app.stack.clients.clone(), &config);
    let received = local_gateway::worker::pump_once(
        &broken,
        Consumer::Index,
        &app.sqs,
        &app.index_queues.url,
        Duration::ZERO,
    )
    .await
    .unwrap();
    assert_eq!(received, 1);
    app.notify_queue().await;
    assert_eq!(app.inbox("alice").await.len(), 1, "notify went on");
    assert_eq!(findable_everywhere(&app, &job).await, [false; 5]);

    // Redelivered once the visibility timeout passes, to a working `index`.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    app.index_queue().await;
    assert_eq!(findable_everywhere(&app, &job).await, [true; 5]);
    crate::assert_audit_clean(&app).await;
}

#[tokio::test]
async fn jobs_posted_and_closed_while_a_client_pages_never_repeat_an_item() {
    let app = spawn_app_with_stream().await;
    let post = |i: usize| {
        let app = &app;
        async move {
            let body = json!({"title": format!("Pager job {i}"), "skills": ["pager"], "budget_cents": 1_000 + i as i64 % 4});
            str_of(&app.create_job("alice", body).await, "job_id")
        }
    };
    let mut ids = Vec::new();
    for i in 0..24 {
        ids.push(post(i).await);
    }
    app.drain_queue().await;
    let mut closed: Vec<String> = Vec::new();
    for query in [
        "skill=pager",
        "skill=pager&sort=budget_asc",
        "q=pager&sort=relevance",
    ] {
        let mut seen: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut round = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/jobs?{query}&limit=5&cursor={c}"),
                None => format!("/jobs?{query}&limit=5"),
            };
            let page = app.get("bob", &path).await.expect(200);
            for item in page["items"].as_array().unwrap() {
                let id = str_of(item, "job_id");
                assert!(!seen.contains(&id), "{query}: {id} repeated");
                seen.push(id);
            }
            // Between pages: a new job, and one not seen yet closed.
            ids.push(post(100 + round).await);
            if let Some(unseen) = ids
                .iter()
                .find(|id| !seen.contains(id) && !closed.contains(id))
                .cloned()
            {
                app.post("alice", &format!("/jobs/{unseen}/cancel"), json!({}))
                    .await
                    .expect(200);
                closed.push(unseen);
            }
            app.drain_queue().await;
            round += 1;
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert!(seen.len() >= 5, "{query}: {seen:?}");
    }
    crate::assert_audit_clean(&app).await;
}
