//! The sweeper's expiries: what it expires, what it reads, and how it stops.

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use serde_json::json;
use shared::store::keys;
use shared::time;
use test_kit::{
    Fault, act, app_with_faults, counted, funded_contract, hired_contract, job_with_application_ids,
};
use test_kit::{s, spawn_app, spawn_app_with_stream, str_of};

#[tokio::test]
async fn an_overdue_contract_expires_once_and_both_parties_hear_of_it() {
    let app = spawn_app_with_stream().await;
    let id = funded_contract(&app).await;
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
    let kinds = |inbox: Vec<test_kit::Item>| -> Vec<String> {
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
    let app = spawn_app_with_stream().await;
    let (job_id, applications) = job_with_application_ids(&app, 2, &["bob", "carol", "dave"]).await;
    app.hire("alice", &job_id, &applications[0])
        .await
        .expect(200);
    app.time_travel_past_deadline(&job_id).await;

    let report = app.sweep_at(time::now()).await;
    assert_eq!(report.expired_jobs, 1);
    assert_eq!(
        app.sweep_at(time::now()).await.expired_jobs,
        0,
        "a second sweep changes nothing"
    );
    app.drain_queue().await;

    let job = app.job_item(&job_id).await;
    assert_eq!(s(&job, "status"), "expired");
    let mut statuses: Vec<String> = app
        .items_with_sk(keys::APPLICATION_SK_PREFIX)
        .await
        .iter()
        .map(|a| s(a, "status"))
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["hired", "rejected", "rejected"]);
    let rejections: Vec<String> = app
        .items_with_sk(keys::EVENT_SK_PREFIX)
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
    let trail: Vec<String> = app
        .items_with_sk(keys::EVENT_SK_PREFIX)
        .await
        .iter()
        .map(|e| format!("{}:{}", s(e, "entity"), s(e, "action")))
        .collect();
    assert_eq!(
        trail[trail.len() - 3..],
        [
            "job:expired",
            "application:rejected",
            "application:rejected"
        ],
        "the expiry reads before the rejections it caused: {trail:?}"
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
    // Jobs written raw, with no audit trail: out of the suite-wide audit with them.
    app.delete_table().await;
}

#[tokio::test]
async fn a_sweep_out_of_time_stops_cleanly_and_the_next_one_continues() {
    let (app, injector) = app_with_faults(Fault::Fail).await;
    let mut jobs = Vec::new();
    for _ in 0..60 {
        let job_id = str_of(&app.create_job("alice", json!({})).await, "job_id");
        app.time_travel_past_deadline(&job_id).await;
        jobs.push(job_id);
    }
    // A budget that ends 0.4 s after the sweeper's safety margin, and a DynamoDB that takes
    // 30 ms a call: far too short for 60 expiries, however fast the machine.
    *injector.delay.lock().unwrap() = std::time::Duration::from_millis(30);
    let slow = shared::App {
        store: shared::store::Store::new(injector.client(), app.table.clone()),
        ..app.app.clone()
    };
    let tight = std::time::Instant::now() + std::time::Duration::from_millis(3_200);
    let (first, line) = counted(shared::handlers::sweep(&slow, time::now(), tight)).await;
    let first = first.unwrap();
    assert!(first.out_of_time, "{first:?}");
    assert_eq!(line["SweepOutOfTime"], 1.0, "{line}");
    // It never reached the outbox: no age, rather than an age of 0 that says "nothing due".
    assert!(line.get("OutboxOldestDueAge").is_none(), "{line}");
    assert!(first.expired_jobs < 60, "{first:?}");

    let second = app.sweep_at(time::now()).await;
    assert!(!second.out_of_time);
    assert_eq!(first.expired_jobs + second.expired_jobs, 60);
    for job_id in &jobs {
        let job = app.job_item(job_id).await;
        assert_eq!(s(&job, "status"), "expired");
    }
}

#[tokio::test]
async fn an_unreadable_due_item_is_passed_over_and_the_rest_is_swept() {
    let app = spawn_app().await;
    let job_id = str_of(&app.create_job("alice", json!({})).await, "job_id");
    app.time_travel_past_deadline(&job_id).await;
    // No job at all, in the job's due partition and in front of it.
    app.dynamo
        .put_item()
        .table_name(&app.table)
        .item("PK", AttributeValue::S(not_a_job_pk()))
        .item("SK", AttributeValue::S(keys::JOB_SK.into()))
        .item(
            "DUEPK",
            AttributeValue::S(shared::store::keys::Due::Job.pk(&job_id)),
        )
        .item(
            "DUESK",
            AttributeValue::S("2000-01-01T00:00:00.000Z#broken".into()),
        )
        .send()
        .await
        .unwrap();
    let (_, contract_id) = hired_contract(&app).await;
    act(&app, "alice", &contract_id, "fund").await.expect(200);
    app.set_release_deadline(&contract_id, "2020-01-01T00:00:00.000Z")
        .await;

    let (report, line) = counted(app.sweep_at(time::now())).await;

    assert_eq!(
        (report.failed, report.expired_jobs, report.expired_contracts),
        (1, 1, 1),
        "{report:?}"
    );
    assert_eq!(
        line["SweepFailed"], 1.0,
        "the failure alarm's metric: {line}"
    );
    assert!(!report.out_of_time);
    let job = app.job_item(&job_id).await;
    assert_eq!(s(&job, "status"), "expired");
    // The unreadable item is there on purpose: out of the suite-wide audit with it.
    app.delete_table().await;
}

/// A job's key whose id is no job id: a job's prefix, from `keys.rs`, and "broken".
fn not_a_job_pk() -> String {
    let id = shared::domain::JobId::generate();
    let pk = keys::job_pk(id);
    format!("{}broken", pk.strip_suffix(&id.to_string()).unwrap())
}
