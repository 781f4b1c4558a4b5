//! Audit trails and index keys broken on purpose, and items that are not what their keys
//! say, one at a time, by raw writes to a table the API wrote.

use super::{Fixture, number, text};
use ::audit::Check::*;
use shared::domain::{EventId, JobId, UserId};
use shared::store::keys;
use shared::time;
use test_kit::key;
use test_kit::s;

#[tokio::test]
async fn every_break_of_the_audit_trail_is_caught_with_its_ids() {
    let f = Fixture::new().await;
    let key = |r: &test_kit::Item| (s(r, "PK"), s(r, "SK"));

    let funded = f.record(&f.job_a, &f.contract_a, "funded").await;
    let (pk, sk) = key(&funded);
    f.set(&pk, &sk, &[("from_status", text("released"))]).await;
    f.caught(
        "a contract funded from a state it never was in",
        &[(TrailReplay, "contract", &f.contract_a)],
    )
    .await;

    f.set(
        &key::contract(&f.contract_b_erin),
        keys::CONTRACT_SK,
        &[("status", text("refunded"))],
    )
    .await;
    f.caught(
        "a contract refunded without a record",
        &[(TrailReplay, "contract", &f.contract_b_erin)],
    )
    .await;

    let hired = f.record(&f.job_c, &f.app_c_frank, "hired").await;
    let (pk, sk) = key(&hired);
    f.set(&pk, &sk, &[("at", text("2020-01-01T00:00:00.000Z"))])
        .await;
    f.caught(
        "a hire recorded before its application",
        &[(TrailTime, "application", &f.app_c_frank)],
    )
    .await;

    // The same records, listed in another order: only the event ids (the SK) move.
    // An application may arrive after its job closed (applying does not condition on the
    // job), but nothing is hired after it.
    let filled = f.record(&f.job_b, &f.job_b, "filled").await;
    let first = f.record(&f.job_b, &f.app_b_dave, "hired").await;
    let before = time::parse(&s(&first, "at")).unwrap() - chrono::Duration::milliseconds(5);
    relist(&f, filled, EventId::at(before)).await;
    f.caught(
        "hires listed after their job was filled",
        &[(TrailOrder, "job", &f.job_b)],
    )
    .await;

    let filled = f.record(&f.job_b, &f.job_b, "filled").await;
    let first = f.record(&f.job_b, &f.app_b_dave, "hired").await;
    let between = time::parse(&s(&first, "at")).unwrap() + chrono::Duration::milliseconds(5);
    relist(&f, filled, EventId::at(between)).await;
    f.caught(
        "a two-opening job filled before its second hire",
        &[(TrailOrder, "job", &f.job_b)],
    )
    .await;
    f.done().await;
}

/// Moves an audit record to another place in its trail by giving it another event id.
async fn relist(f: &Fixture, mut record: test_kit::Item, id: EventId) {
    f.delete(&s(&record, "PK"), &s(&record, "SK")).await;
    record.insert("SK".into(), text(keys::event_sk(id)));
    record.insert("event_id".into(), text(id.to_string()));
    f.put(record).await;
}

#[tokio::test]
async fn every_break_of_the_indexes_and_every_unreadable_item_is_caught() {
    let f = Fixture::new().await;
    let (job_c, job) = (key::job(&f.job_c), keys::JOB_SK);

    f.set(
        &job_c,
        job,
        &[(
            "GSI2PK",
            text(keys::board(shared::domain::JobStatus::Filled)),
        )],
    )
    .await;
    f.caught(
        "an open job on the filled board",
        &[(IndexKeys, "job", &f.job_c)],
    )
    .await;

    f.remove(&job_c, job, &["DUEPK", "DUESK"]).await;
    f.caught(
        "an open job the sweeper cannot see",
        &[(IndexKeys, "job", &f.job_c)],
    )
    .await;

    f.remove(&key::contract(&f.contract_a), keys::CONTRACT_SK, &["DUESK"])
        .await;
    f.caught(
        "a funded contract the sweeper cannot see",
        &[(IndexKeys, "contract", &f.contract_a)],
    )
    .await;

    let application_sk = format!("{}{}", keys::APPLICATION_SK_PREFIX, f.app_c_gina);
    f.remove(&job_c, &application_sk, &["GSI1PK"]).await;
    f.caught(
        "an application missing from its freelancer's list",
        &[(IndexKeys, "application", &f.app_c_gina)],
    )
    .await;

    let bob = f.app.inbox("bob").await;
    let read = bob.iter().find(|n| s(n, "type") == "hired").unwrap();
    let sk = s(read, "SK");
    f.set(
        &key::user("bob"),
        &sk,
        &[
            ("GSI1PK", text(keys::unread(&UserId::parse("bob").unwrap()))),
            ("GSI1SK", text(&sk)),
        ],
    )
    .await;
    f.caught(
        "a read notification listed as unread",
        &[(IndexKeys, "notification", &s(read, "notification_id"))],
    )
    .await;

    let broken = keys::job_pk(JobId::generate());
    let mut item = test_kit::Item::new();
    item.insert("PK".into(), text(&broken));
    item.insert("SK".into(), text(job));
    item.insert("status".into(), text("open"));
    f.put(item).await;
    f.caught("a job that is not one", &[(Unreadable, "pk", &broken)])
        .await;

    let record = keys::idempotency_pk(
        &UserId::parse("alice").unwrap(),
        &shared::domain::IdempotencyKey::parse("cancel-e").unwrap(),
    );
    f.set(&record, keys::IDEMPOTENCY_SK, &[("expires_ttl", number(1))])
        .await;
    f.caught(
        "a record TTL would delete at another time than it expires",
        &[(Unreadable, "pk", &record)],
    )
    .await;

    let connection = shared::domain::Connection::open(
        UserId::parse("bob").unwrap(),
        shared::domain::ConnectionId::parse("ZeT2mdYfIAMCJ-g=").unwrap(),
        time::now(),
        time::now() + chrono::Duration::hours(1),
    );
    let mut item: test_kit::Item = serde_dynamo::to_item(keys::Row {
        pk: keys::user_pk(&connection.user_id),
        sk: keys::connection_sk(&connection.connection_id),
        index: keys::IndexKeys::for_connection(&connection),
        body: &connection,
    })
    .unwrap();
    item.insert("expires_ttl".into(), number(1));
    f.put(item).await;
    f.caught(
        "a connection TTL would delete at another time than it expires",
        &[(Unreadable, "pk", &key::user("bob"))],
    )
    .await;

    let mut item = test_kit::Item::new();
    item.insert("PK".into(), text("STRAY#1"));
    item.insert("SK".into(), text("STRAY"));
    f.put(item).await;
    f.caught("an item of no kind", &[(Unreadable, "pk", "STRAY#1")])
        .await;
    f.done().await;
}
