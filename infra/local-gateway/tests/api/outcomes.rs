//! Right in every outcome: answers that agree with the table, trails in commit order,
//! validation before existence.

use futures::future::join_all;
use serde_json::{Value, json};
use shared::store::keys;
use std::collections::HashMap;
use test_kit::{Item, TestApp, n, s, spawn_app, spawn_app_with_stream, str_of};

#[tokio::test]
async fn a_bad_cursor_is_refused_before_the_job_is_looked_up() {
    let app = spawn_app().await;
    let unknown = ulid::Ulid::generate().to_string();
    for path in [
        format!("/jobs/{unknown}/applications?cursor=garbage"),
        format!("/jobs/{unknown}/events?cursor=garbage"),
    ] {
        app.get("bob", &path)
            .await
            .expect_problem(400, "INVALID_CURSOR");
    }
    let job_id = str_of(&app.create_job("alice", json!({})).await, "job_id");
    // Not the owner either: the cursor is still what is wrong first.
    app.get(
        "bob",
        &format!("/jobs/{job_id}/applications?cursor=garbage"),
    )
    .await
    .expect_problem(400, "INVALID_CURSOR");
    app.get("bob", &format!("/jobs/{job_id}/applications"))
        .await
        .expect_problem(403, "NOT_JOB_OWNER");
}

/// Reproduced before: on a 3-opening job, a cancel racing a hire answered `hired_count` 0 and
/// version 2 while the table held 1 and 3. Whatever wins, a cancel's answer is the job as
/// the table holds it (nothing changes a cancelled job afterwards).
#[tokio::test]
async fn a_cancel_racing_hires_answers_the_job_as_the_table_holds_it() {
    let app = spawn_app().await;
    let mut cancelled = 0;
    for _ in 0..8 {
        let job_id = str_of(
            &app.create_job("alice", json!({"openings": 3})).await,
            "job_id",
        );
        let mut applications = Vec::new();
        for i in 0..2 {
            let a = app.apply(&job_id, &format!("f{i}"), 100).await;
            applications.push(str_of(&a, "application_id"));
        }
        let cancel_path = format!("/jobs/{job_id}/cancel");
        let cancel = app.post("alice", &cancel_path, json!({}));
        let hires = join_all(applications.iter().map(|a| app.hire("alice", &job_id, a)));
        let (cancel, hires) = tokio::join!(cancel, hires);
        let stored = app.job_item(&job_id).await;
        let hired = hires.iter().filter(|h| h.status == 200).count() as i64;
        assert_eq!(n(&stored, "hired_count"), hired);
        if cancel.status != 200 {
            cancel.expect_problem(409, "JOB_NOT_OPEN");
            continue;
        }
        cancelled += 1;
        let answered = cancel.body;
        for field in ["status", "updated_at"] {
            assert_eq!(answered[field], s(&stored, field), "{field}");
        }
        for field in ["hired_count", "version"] {
            assert_eq!(answered[field], n(&stored, field), "{field}");
        }
    }
    assert!(cancelled > 0, "no cancel won a single round");
}

/// The state of the job a trail describes, as it is replayed record by record.
#[derive(Default)]
struct Replay {
    job: Option<String>,
    hired: i64,
    /// The status of every application and contract, by id.
    others: HashMap<String, String>,
    /// Applications that arrived after the job left `open`: applying reads the job but does
    /// not condition on it. None may be hired, nor stay pending.
    late: Vec<String>,
}

impl Replay {
    /// Applies one record; panics naming it when it cannot follow what came before.
    fn step(&mut self, record: &Value, openings: i64) {
        let id = record["entity_id"].as_str().unwrap().to_owned();
        let from = record["from_status"].as_str().map(str::to_owned);
        let to = record["to_status"].as_str().unwrap().to_owned();
        let action = record["action"].as_str().unwrap();
        let current = match record["entity"].as_str().unwrap() {
            "job" => self.job.clone(),
            _ => self.others.get(&id).cloned(),
        };
        assert_eq!(
            current, from,
            "{record} does not follow its entity's last state"
        );
        let job_open = self.job.as_deref() == Some("open");
        match (record["entity"].as_str().unwrap(), action) {
            ("application", "applied") if !job_open => self.late.push(id.clone()),
            ("application", "hired") => {
                assert!(job_open, "{record} while the job was {:?}", self.job);
            }
            ("job", "filled") => {
                assert_eq!(
                    self.hired, openings,
                    "{record} before every opening was hired"
                )
            }
            _ => {}
        }
        if action == "hired" {
            self.hired += 1;
        }
        match record["entity"].as_str().unwrap() {
            "job" => self.job = Some(to),
            _ => {
                self.others.insert(id, to);
            }
        }
    }
}

async fn trail(app: &TestApp, job_id: &str) -> Vec<Value> {
    let mut records = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/jobs/{job_id}/events?limit=100&cursor={c}"),
            None => format!("/jobs/{job_id}/events?limit=100"),
        };
        let page = app.get("alice", &path).await.expect(200);
        records.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return records,
        }
    }
}

/// Applications, hires, withdrawals and a cancel all race on one job; its trail must replay,
/// in its listed order, to what the table holds: "filled" after every hire, nothing hired
/// after the job closed, and an application listed after the close ends rejected.
#[tokio::test]
async fn a_jobs_trail_replays_in_commit_order_to_its_current_state() {
    let app = &spawn_app_with_stream().await;
    for openings in [4, 10] {
        let job_id = str_of(
            &app.create_job("alice", json!({"openings": openings})).await,
            "job_id",
        );
        let early = join_all((0..openings).map(|i| {
            let job_id = job_id.clone();
            async move { app.apply(&job_id, &format!("early-{i}"), 100).await }
        }))
        .await;
        let hires = join_all(early.iter().map(|a| {
            let id = str_of(a, "application_id");
            let job_id = job_id.clone();
            async move { app.hire("alice", &job_id, &id).await }
        }));
        let late = join_all((0..6).map(|i| {
            let job_id = job_id.clone();
            async move {
                app.post(
                    &format!("late-{i}"),
                    &format!("/jobs/{job_id}/applications"),
                    json!({"bid_cents": 100}),
                )
                .await
            }
        }));
        let cancel_path = format!("/jobs/{job_id}/cancel");
        let cancel = app.post("alice", &cancel_path, json!({}));
        let withdraw_path = format!(
            "/jobs/{job_id}/applications/{}/withdraw",
            str_of(&early[0], "application_id")
        );
        let withdraw = app.post("early-0", &withdraw_path, json!({}));
        let _ = tokio::join!(hires, late, cancel, withdraw);
        app.drain_queue().await;

        let records = trail(app, &job_id).await;
        let mut replay = Replay::default();
        for record in &records {
            replay.step(record, openings);
        }
        let job = app.job_item(&job_id).await;
        assert_eq!(replay.job.as_deref(), Some(s(&job, "status").as_str()));
        assert_eq!(replay.hired, n(&job, "hired_count"));
        let stored: Vec<Item> = app
            .items_with_sk(keys::APPLICATION_SK_PREFIX)
            .await
            .into_iter()
            .filter(|a| s(a, "job_id") == job_id)
            .collect();
        for application in &stored {
            assert_eq!(
                replay.others.get(&s(application, "application_id")),
                Some(&s(application, "status")),
                "the trail ends where the application is"
            );
        }
        for id in &replay.late {
            let status = replay.others.get(id).map(String::as_str);
            assert!(
                matches!(status, Some("rejected" | "withdrawn")),
                "{id} arrived after the job left open and ended {status:?}"
            );
        }
        let stamps: Vec<&str> = records.iter().map(|r| r["at"].as_str().unwrap()).collect();
        assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");
        // The job's own clock never went back past a change recorded of it.
        let updated = s(&job, "updated_at");
        assert!(
            records
                .iter()
                .filter(|r| r["entity"] == "job")
                .all(|r| r["at"].as_str().unwrap() <= updated.as_str()),
            "updated_at {updated} is behind its trail"
        );
    }
}
