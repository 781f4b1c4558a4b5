//! The sweeper's expiries, and the races they must survive.

use crate::contracts::{act, hired_contract};
use crate::helpers::{TestApp, s, spawn_app, str_of};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures::future::join_all;
use serde_json::json;
use shared::time;
use std::collections::BTreeMap;

fn in_ms(ms: i64) -> String {
    time::format(time::now() + chrono::Duration::milliseconds(ms))
}

#[tokio::test]
async fn an_overdue_contract_expires_once_and_both_parties_hear_of_it() {
    let app = spawn_app().await;
    let (_, id) = hired_contract(&app).await;
    act(&app, "alice", &id, "fund").await.expect(200);
    app.set_release_deadline(&id, "2020-01-01T00:00:00.000Z")
        .await;

    let first = app.sweep_at(time::now()).await;
    assert_eq!(first.expired_contracts, 1);
    let second = app.sweep_at(time::now()).await;
    assert_eq!(
        (
            second.expired_contracts,
            second.expired_jobs,
            second.redriven
        ),
        (0, 0, 0)
    );
    assert_eq!(
        app.get("bob", &format!("/contracts/{id}"))
            .await
            .expect(200)["status"],
        "expired"
    );

    app.drain_queue().await;
    let kinds = |inbox: Vec<crate::helpers::Item>| -> Vec<String> {
        let mut k: Vec<String> = inbox
            .iter()
            .map(|n| s(n, "type"))
            .filter(|t| t.starts_with("contract_"))
            .collect();
        k.sort();
        k
    };
    assert_eq!(
        kinds(app.inbox("bob").await),
        ["contract_expired", "contract_funded"]
    );
    assert_eq!(kinds(app.inbox("alice").await), ["contract_expired"]);
}

#[tokio::test]
async fn an_expired_job_rejects_its_pending_applications() {
    let app = spawn_app().await;
    let job_id = str_of(
        &app.create_job("alice", json!({"openings": 2})).await,
        "job_id",
    );
    let hired = str_of(&app.apply(&job_id, "bob", 100).await, "application_id");
    app.apply(&job_id, "carol", 100).await;
    app.apply(&job_id, "dave", 100).await;
    app.hire("alice", &job_id, &hired).await.expect(200);
    app.time_travel_past_deadline(&job_id).await;

    let report = app.sweep_at(time::now()).await;
    assert_eq!(report.expired_jobs, 1);
    assert_eq!(
        app.sweep_at(time::now()).await.expired_jobs,
        0,
        "a second sweep changes nothing"
    );
    app.drain_queue().await;

    let job = app.item(&format!("JOB#{job_id}"), "JOB").await.unwrap();
    assert_eq!(s(&job, "status"), "expired");
    let mut statuses: Vec<String> = app
        .items_with_sk("JOB#APP#")
        .await
        .iter()
        .map(|a| s(a, "status"))
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["hired", "rejected", "rejected"]);
    let rejections: Vec<String> = app
        .items_with_sk("EVENT#")
        .await
        .iter()
        .filter(|e| s(e, "action") == "rejected")
        .map(|e| s(e, "actor_id"))
        .collect();
    assert_eq!(
        rejections,
        ["system", "system"],
        "the marketplace rejected them"
    );
    for f in ["carol", "dave"] {
        let types: Vec<String> = app.inbox(f).await.iter().map(|n| s(n, "type")).collect();
        assert_eq!(types, ["application_rejected"], "{f}");
    }
    assert!(
        app.inbox("alice")
            .await
            .iter()
            .any(|n| s(n, "type") == "job_expired")
    );
    assert_eq!(
        app.get("bob", "/jobs?status=expired").await.expect(200)["items"][0]["job_id"],
        job_id.as_str()
    );
}

#[tokio::test]
async fn release_and_refund_racing_end_in_one_terminal_state() {
    let app = spawn_app().await;
    let (_, id) = hired_contract(&app).await;
    act(&app, "alice", &id, "fund").await.expect(200);
    let replies = join_all((0..30).map(|i| {
        act(
            &app,
            "alice",
            &id,
            if i % 2 == 0 { "release" } else { "refund" },
        )
    }))
    .await;
    let ok: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(ok.len(), 1, "{replies:#?}");
    let terminal = ok[0].body["status"].as_str().unwrap().to_owned();
    for r in replies.iter().filter(|r| r.status != 200) {
        r.expect_problem(409, "INVALID_TRANSITION");
        assert_eq!(r.body["current_status"], terminal.as_str());
    }
    let stored = app
        .item(&format!("CONTRACT#{id}"), "CONTRACT")
        .await
        .unwrap();
    assert_eq!(s(&stored, "status"), terminal);
    let moves = app
        .items_with_sk("EVENT#")
        .await
        .iter()
        .filter(|e| s(e, "entity") == "contract" && s(e, "from_status") == "funded")
        .count();
    assert_eq!(moves, 1, "one terminal transition recorded");
}

/// Fires releases and refunds at contracts while sweeps run, around their deadline.
async fn race_at_deadline(app: &TestApp, ids: &[String], calls: usize, sweeps: usize) {
    let deadline_ms = 300;
    for id in ids {
        app.set_release_deadline(id, &in_ms(deadline_ms)).await;
    }
    let start = tokio::time::Instant::now();
    let actions = join_all((0..calls).map(|i| {
        let id = ids[i % ids.len()].clone();
        async move {
            // Spread the calls across the deadline.
            tokio::time::sleep_until(
                start + std::time::Duration::from_millis((i as u64 * 37) % 600),
            )
            .await;
            act(
                app,
                "alice",
                &id,
                if i % 2 == 0 { "release" } else { "refund" },
            )
            .await
        }
    }));
    let sweepers = join_all((0..sweeps).map(|i| async move {
        let mut reports = Vec::new();
        for round in 0..8u64 {
            tokio::time::sleep_until(
                start + std::time::Duration::from_millis(150 + round * 90 + i as u64 * 20),
            )
            .await;
            reports.push(app.sweep_at(time::now()).await);
        }
        reports
    }));
    let (replies, _) = tokio::join!(actions, sweepers);
    assert!(
        replies.iter().all(|r| r.status == 200 || r.status == 409),
        "{replies:#?}"
    );
    // Whatever is still funded after the deadline goes to the final sweep.
    tokio::time::sleep_until(start + std::time::Duration::from_millis(deadline_ms as u64 + 50))
        .await;
    app.sweep_at(time::now()).await;
}

#[tokio::test]
async fn release_racing_expiry_at_the_deadline_ends_in_one_terminal_state() {
    let app = spawn_app().await;
    let (_, id) = hired_contract(&app).await;
    act(&app, "alice", &id, "fund").await.expect(200);
    race_at_deadline(&app, std::slice::from_ref(&id), 6, 2).await;
    let stored = app
        .item(&format!("CONTRACT#{id}"), "CONTRACT")
        .await
        .unwrap();
    assert!(["released", "refunded", "expired"].contains(&s(&stored, "status").as_str()));
    let moves = app
        .items_with_sk("EVENT#")
        .await
        .iter()
        .filter(|e| s(e, "entity") == "contract" && s(e, "from_status") == "funded")
        .count();
    assert_eq!(moves, 1);
}

#[tokio::test]
async fn ten_contracts_twenty_callers_three_sweeps_one_outcome_each_and_one_notice_per_party() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        let (_, id) = hired_contract(&app).await;
        act(&app, "alice", &id, "fund").await.expect(200);
        ids.push(id);
    }
    race_at_deadline(&app, &ids, 20, 3).await;
    app.drain_queue().await;

    let mut outcomes = BTreeMap::new();
    for id in &ids {
        let stored = app
            .item(&format!("CONTRACT#{id}"), "CONTRACT")
            .await
            .unwrap();
        let status = s(&stored, "status");
        assert!(
            ["released", "refunded", "expired"].contains(&status.as_str()),
            "{id}: {status}"
        );
        *outcomes.entry(status.clone()).or_insert(0) += 1;
        let terminal = format!("contract_{status}");
        let notices = |inbox: &[crate::helpers::Item]| {
            inbox
                .iter()
                .filter(|n| {
                    s(n, "contract_id") == *id
                        && !["contract_funded", "hired"].contains(&s(n, "type").as_str())
                })
                .inspect(|n| assert_eq!(s(n, "type"), terminal))
                .count()
        };
        let (bob, alice) = (app.inbox("bob").await, app.inbox("alice").await);
        assert_eq!(
            notices(&bob),
            1,
            "{id}: the freelancer hears of {status} once"
        );
        let owner_expected = usize::from(status == "expired");
        assert_eq!(
            notices(&alice),
            owner_expected,
            "{id}: the owner hears only of expiry"
        );
    }
    eprintln!("outcomes: {outcomes:?}");
}

#[tokio::test]
async fn a_hire_racing_the_job_expiry_is_either_hired_or_expired_never_both() {
    for _ in 0..5 {
        let app = spawn_app().await;
        let job_id = str_of(&app.create_job("alice", json!({})).await, "job_id");
        let application_id = str_of(&app.apply(&job_id, "bob", 100).await, "application_id");
        app.set_deadline(
            &format!("JOB#{job_id}"),
            "JOB",
            "expires_at",
            &job_id,
            &in_ms(150),
        )
        .await;
        let start = tokio::time::Instant::now();
        let hires = join_all((0..4u64).map(|i| {
            let (app, job_id, application_id) = (&app, &job_id, &application_id);
            async move {
                tokio::time::sleep_until(start + std::time::Duration::from_millis(100 + i * 25))
                    .await;
                app.hire("alice", job_id, application_id).await
            }
        }));
        let sweeps = join_all((0..4u64).map(|i| {
            let app = &app;
            async move {
                tokio::time::sleep_until(start + std::time::Duration::from_millis(140 + i * 20))
                    .await;
                app.sweep_at(time::now()).await
            }
        }));
        let (hires, sweeps) = tokio::join!(hires, sweeps);
        let hired = hires.iter().filter(|r| r.status == 200).count();
        let expired: usize = sweeps.iter().map(|r| r.expired_jobs).sum();
        let job = app.item(&format!("JOB#{job_id}"), "JOB").await.unwrap();
        match s(&job, "status").as_str() {
            "filled" => assert_eq!((hired, expired, app.contracts().await.len()), (1, 0, 1)),
            "expired" => assert_eq!((hired, expired, app.contracts().await.len()), (0, 1, 0)),
            other => panic!("impossible final status {other}"),
        }
    }
}

#[tokio::test]
async fn a_sweep_reads_what_is_due_not_the_table() {
    let app = spawn_app().await;
    let now = time::now();
    let owner = shared::domain::UserId::parse("alice").unwrap();
    let mut requests = Vec::new();
    for i in 0..10_050 {
        let body = json!({"title": format!("job {i}"), "budget_cents": 100});
        let job = shared::domain::NewJob::parse(body.as_object().unwrap(), now)
            .unwrap()
            .into_job(shared::domain::JobId::generate(), owner.clone(), now);
        let mut job = job;
        if i < 50 {
            job.expires_at = now - chrono::Duration::minutes(5);
        }
        let item = serde_dynamo::to_item(shared::store::keys::Row {
            pk: shared::store::keys::job_pk(job.job_id),
            sk: shared::store::keys::JOB_SK.to_owned(),
            index: shared::store::keys::IndexKeys::for_job(&job),
            body: &job,
        })
        .unwrap();
        requests.push(
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                .build(),
        );
    }
    for chunk in requests.chunks(25) {
        let mut pending = Some(std::collections::HashMap::from([(
            app.table.clone(),
            chunk.to_vec(),
        )]));
        while let Some(items) = pending.take().filter(|p| !p.is_empty()) {
            let out = app
                .dynamo
                .batch_write_item()
                .set_request_items(Some(items))
                .send()
                .await
                .unwrap();
            pending = out.unprocessed_items;
        }
    }

    let report = app.sweep_at(time::now()).await;
    assert_eq!(report.expired_jobs, 50);
    assert!(
        report.read <= 60,
        "read {} items for 50 due of 10,050",
        report.read
    );
    let again = app.sweep_at(time::now()).await;
    assert_eq!((again.expired_jobs, again.read), (0, 0));
}

#[tokio::test]
async fn a_sweep_out_of_time_stops_cleanly_and_the_next_one_continues() {
    let app = spawn_app().await;
    let mut jobs = Vec::new();
    for _ in 0..60 {
        let job_id = str_of(&app.create_job("alice", json!({})).await, "job_id");
        app.time_travel_past_deadline(&job_id).await;
        jobs.push(job_id);
    }
    // A budget that ends just after the sweeper's safety margin: far too short for 60.
    let tight = std::time::Instant::now() + std::time::Duration::from_millis(3_200);
    let first = shared::handlers::sweep(&app.app, time::now(), tight)
        .await
        .unwrap();
    assert!(first.out_of_time, "{first:?}");
    assert!(first.expired_jobs < 60, "{first:?}");

    let second = app.sweep_at(time::now()).await;
    assert!(!second.out_of_time);
    assert_eq!(first.expired_jobs + second.expired_jobs, 60);
    for job_id in &jobs {
        let job = app.item(&format!("JOB#{job_id}"), "JOB").await.unwrap();
        assert_eq!(s(&job, "status"), "expired");
    }
}

#[tokio::test]
async fn an_unreadable_due_item_is_passed_over_and_the_rest_is_swept() {
    let app = spawn_app().await;
    // Sorts first in the due index and is no job at all.
    app.dynamo
        .put_item()
        .table_name(&app.table)
        .item("PK", AttributeValue::S("JOB#broken".into()))
        .item("SK", AttributeValue::S("JOB".into()))
        .item("DUEPK", AttributeValue::S("DUE#JOB".into()))
        .item(
            "DUESK",
            AttributeValue::S("2000-01-01T00:00:00.000Z#broken".into()),
        )
        .send()
        .await
        .unwrap();
    let job_id = str_of(&app.create_job("alice", json!({})).await, "job_id");
    app.time_travel_past_deadline(&job_id).await;
    let (_, contract_id) = hired_contract(&app).await;
    act(&app, "alice", &contract_id, "fund").await.expect(200);
    app.set_release_deadline(&contract_id, "2020-01-01T00:00:00.000Z")
        .await;

    let report = app.sweep_at(time::now()).await;

    assert_eq!(
        (report.failed, report.expired_jobs, report.expired_contracts),
        (1, 1, 1),
        "{report:?}"
    );
    assert!(!report.out_of_time);
    let job = app.item(&format!("JOB#{job_id}"), "JOB").await.unwrap();
    assert_eq!(s(&job, "status"), "expired");
}
