//! Each invariant broken on purpose, one at a time, by raw writes to a table the API wrote.

use super::{Fixture, text};
use crate::helpers::s;
use ::audit::Check::*;
use aws_sdk_dynamodb::types::AttributeValue;
use shared::domain::{ContractId, EventId, JobId, UserId};
use shared::store::keys::{self, Due};
use shared::time;

fn number(n: i64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn an_hour_ago() -> time::Timestamp {
    time::now() - chrono::Duration::hours(1)
}

#[tokio::test]
async fn every_break_of_hiring_is_caught_with_its_ids() {
    let f = Fixture::new().await;
    let (job, contract) = (keys::JOB_SK, keys::CONTRACT_SK);

    f.set(&format!("JOB#{}", f.job_b), job, &[("openings", number(3))])
        .await;
    f.caught(
        "a filled job with fewer hires than openings",
        &[
            (FilledHires, "job", &f.job_b),
            (TrailOrder, "job", &f.job_b),
        ],
    )
    .await;

    f.set(
        &format!("JOB#{}", f.job_c),
        job,
        &[("hired_count", number(2))],
    )
    .await;
    f.caught(
        "an open job counting a hire it has not made",
        &[(HiredCount, "job", &f.job_c)],
    )
    .await;

    let extra = ContractId::generate().to_string();
    let mut copy = f.get(&keys_of_contract(&f.contract_b_erin), contract).await;
    copy.insert("PK".into(), text(format!("CONTRACT#{extra}")));
    copy.insert("contract_id".into(), text(&extra));
    f.put(copy).await;
    f.caught(
        "a third contract for two openings",
        &[
            (TooManyContracts, "job", &f.job_b),
            (HiredContracts, "job", &f.job_b),
            (TrailReplay, "contract", &extra),
            (Dangling, "contract", &extra),
            (Dangling, "contract", &extra),
        ],
    )
    .await;

    f.delete(&keys_of_contract(&f.contract_c), contract).await;
    f.caught(
        "a hire without its contract",
        &[
            (HiredContracts, "application", &f.app_c_frank),
            (TrailReplay, "contract", &f.contract_c),
            (Dangling, "contract", &f.contract_c),
            (Dangling, "contract", &f.contract_c),
        ],
    )
    .await;

    f.set(
        &keys_of_contract(&f.contract_b_dave),
        contract,
        &[("amount_cents", number(1))],
    )
    .await;
    f.caught(
        "a contract for less than the bid",
        &[(ContractAmount, "contract", &f.contract_b_dave)],
    )
    .await;

    let nowhere = JobId::generate().to_string();
    f.set(
        &keys_of_contract(&f.contract_b_dave),
        contract,
        &[("job_id", text(&nowhere))],
    )
    .await;
    f.caught(
        "a contract of a job that does not exist",
        &[
            (Dangling, "job", &nowhere),
            (TrailReplay, "contract", &f.contract_b_dave),
        ],
    )
    .await;

    let application_sk = format!("{}{}", keys::APPLICATION_SK_PREFIX, f.app_c_gina);
    let mut orphan = f.get(&format!("JOB#{}", f.job_c), &application_sk).await;
    orphan.insert("PK".into(), text(format!("JOB#{nowhere}")));
    orphan.insert("job_id".into(), text(&nowhere));
    f.put(orphan).await;
    f.caught(
        "an application of a job that does not exist",
        &[(Dangling, "job", &nowhere)],
    )
    .await;

    let unknown = ContractId::generate();
    let mut link = crate::helpers::Item::new();
    link.insert("PK".into(), text("USER#zed"));
    link.insert("SK".into(), text(keys::contract_link_sk(unknown)));
    link.insert("contract_id".into(), text(unknown.to_string()));
    f.put(link).await;
    f.caught(
        "a contract link to a contract that does not exist",
        &[(Dangling, "contract", &unknown.to_string())],
    )
    .await;
    f.done().await;
}

fn keys_of_contract(id: &str) -> String {
    keys::contract_pk(ContractId::parse(id).expect("a contract id"))
}

#[tokio::test]
async fn every_break_of_delivery_is_caught_with_its_ids() {
    let f = Fixture::new().await;
    let job = keys::JOB_SK;

    f.set(
        &format!("JOB#{}", f.job_e),
        job,
        &[("updated_at", text(time::format(an_hour_ago())))],
    )
    .await;
    f.caught(
        "an applicant of a job cancelled an hour ago, still pending",
        &[(PendingAfterClose, "application", &f.app_e_ivan)],
    )
    .await;

    let expired = an_hour_ago();
    let job_c = JobId::parse(&f.job_c).unwrap();
    f.set(
        &format!("JOB#{}", f.job_c),
        job,
        &[
            ("expires_at", text(time::format(expired))),
            ("updated_at", text(time::format(expired))),
            ("DUESK", text(keys::due_at(expired, job_c))),
        ],
    )
    .await;
    f.caught(
        "an applicant of a job that expired an hour ago, still pending",
        &[(PendingAfterClose, "application", &f.app_c_gina)],
    )
    .await;

    let outbox = f.app.items_with_sk(keys::OUTBOX_SK).await;
    let sent = outbox.first().expect("an outbox event");
    let id = EventId::parse(&s(sent, "event_id")).unwrap();
    f.set(
        &keys::outbox_pk(id),
        keys::OUTBOX_SK,
        &[
            ("DUEPK", text(Due::Outbox.pk(id))),
            ("DUESK", text(keys::due_at(an_hour_ago(), id))),
        ],
    )
    .await;
    f.caught(
        "an event due for an hour",
        &[(StuckOutbox, "event", &id.to_string())],
    )
    .await;

    let rejected = f
        .app
        .inbox("carol")
        .await
        .into_iter()
        .find(|n| s(n, "type") == "application_rejected")
        .expect("carol was told");
    let again = EventId::generate();
    let mut copy = rejected.clone();
    copy.insert("SK".into(), text(keys::notification_sk(again)));
    copy.insert("GSI1SK".into(), text(keys::notification_sk(again)));
    copy.insert("notification_id".into(), text(again.to_string()));
    f.put(copy).await;
    f.caught(
        "carol told twice of one rejection",
        &[(DuplicateNotification, "notification", &again.to_string())],
    )
    .await;
    f.done().await;
}

#[tokio::test]
async fn every_break_of_the_audit_trail_is_caught_with_its_ids() {
    let f = Fixture::new().await;
    let key = |r: &crate::helpers::Item| (s(r, "PK"), s(r, "SK"));

    let funded = f.record(&f.job_a, &f.contract_a, "funded").await;
    let (pk, sk) = key(&funded);
    f.set(&pk, &sk, &[("from_status", text("released"))]).await;
    f.caught(
        "a contract funded from a state it never was in",
        &[(TrailReplay, "contract", &f.contract_a)],
    )
    .await;

    f.set(
        &keys_of_contract(&f.contract_b_erin),
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
    let cancelled = f.record(&f.job_e, &f.job_e, "cancelled").await;
    let applied = f.record(&f.job_e, &f.app_e_ivan, "pending").await;
    let after = time::parse(&s(&cancelled, "at")).unwrap() + chrono::Duration::seconds(1);
    relist(&f, applied, EventId::at(after)).await;
    f.caught(
        "an application listed after its job was cancelled",
        &[(TrailOrder, "job", &f.job_e)],
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
async fn relist(f: &Fixture, mut record: crate::helpers::Item, id: EventId) {
    f.delete(&s(&record, "PK"), &s(&record, "SK")).await;
    record.insert("SK".into(), text(keys::event_sk(id)));
    record.insert("event_id".into(), text(id.to_string()));
    f.put(record).await;
}

#[tokio::test]
async fn every_break_of_the_indexes_and_every_unreadable_item_is_caught() {
    let f = Fixture::new().await;
    let (job_c, job) = (format!("JOB#{}", f.job_c), keys::JOB_SK);

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

    f.remove(
        &keys_of_contract(&f.contract_a),
        keys::CONTRACT_SK,
        &["DUESK"],
    )
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
        "USER#bob",
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

    let broken = format!("JOB#{}", JobId::generate());
    let mut item = crate::helpers::Item::new();
    item.insert("PK".into(), text(&broken));
    item.insert("SK".into(), text(job));
    item.insert("status".into(), text("open"));
    f.put(item).await;
    f.caught("a job that is not one", &[(Unreadable, "pk", &broken)])
        .await;

    let mut item = crate::helpers::Item::new();
    item.insert("PK".into(), text("STRAY#1"));
    item.insert("SK".into(), text("STRAY"));
    f.put(item).await;
    f.caught("an item of no kind", &[(Unreadable, "pk", "STRAY#1")])
        .await;
    f.done().await;
}
