//! Hiring and delivery invariants broken on purpose, one at a time, by raw writes to a
//! table the API wrote.

use super::{Fixture, number, text};
use ::audit::Check::*;
use shared::domain::{Consumer, ContractId, EventId, JobId};
use shared::store::keys::{self, Due};
use shared::time;
use test_kit::key;
use test_kit::s;

fn an_hour_ago() -> time::Timestamp {
    time::now() - chrono::Duration::hours(1)
}

#[tokio::test]
async fn every_break_of_hiring_is_caught_with_its_ids() {
    let f = Fixture::new().await;
    let (job, contract) = (keys::JOB_SK, keys::CONTRACT_SK);

    f.set(&key::job(&f.job_b), job, &[("openings", number(3))])
        .await;
    f.caught(
        "a filled job with fewer hires than openings",
        &[
            (FilledHires, "job", &f.job_b),
            (TrailOrder, "job", &f.job_b),
        ],
    )
    .await;

    f.set(&key::job(&f.job_c), job, &[("hired_count", number(2))])
        .await;
    f.caught(
        "an open job counting a hire it has not made",
        &[(HiredCount, "job", &f.job_c)],
    )
    .await;

    let extra = ContractId::generate().to_string();
    let mut copy = f.get(&key::contract(&f.contract_b_erin), contract).await;
    copy.insert("PK".into(), text(key::contract(&extra)));
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

    f.delete(&key::contract(&f.contract_c), contract).await;
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
        &key::contract(&f.contract_b_dave),
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
        &key::contract(&f.contract_b_dave),
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
    let mut orphan = f.get(&key::job(&f.job_c), &application_sk).await;
    orphan.insert("PK".into(), text(key::job(&nowhere)));
    orphan.insert("job_id".into(), text(&nowhere));
    f.put(orphan).await;
    f.caught(
        "an application of a job that does not exist",
        &[(Dangling, "job", &nowhere)],
    )
    .await;

    let unknown = ContractId::generate();
    let mut link = test_kit::Item::new();
    link.insert("PK".into(), text(key::user("zed")));
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

#[tokio::test]
async fn every_break_of_delivery_is_caught_with_its_ids() {
    let f = Fixture::new().await;
    let job = keys::JOB_SK;

    f.set(
        &key::job(&f.job_e),
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
        &key::job(&f.job_c),
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

    let outbox = f
        .app
        .items_with_sk(&keys::outbox_sk(Consumer::Notify))
        .await;
    let sent = outbox.first().expect("an outbox event");
    let id = EventId::parse(&s(sent, "event_id")).unwrap();
    f.set(
        &keys::outbox_pk(id),
        &keys::outbox_sk(Consumer::Notify),
        &[
            ("DUEPK", text(Due::Outbox.pk(id))),
            ("DUESK", text(keys::due_at(an_hour_ago(), id))),
        ],
    )
    .await;
    // Due per consumer: the violation names whose item it is.
    let report = f.audit().await;
    assert!(
        report
            .violations
            .iter()
            .all(|v| v.involves("consumer", "notify")),
        "{report}"
    );
    f.caught(
        "an event due for an hour",
        &[(StuckOutbox, "event", &id.to_string())],
    )
    .await;

    f.set(
        &keys::outbox_pk(id),
        &keys::outbox_sk(Consumer::Notify),
        &[
            ("DUEPK", text(keys::PARKED_OUTBOX.to_owned())),
            ("DUESK", text(keys::due_at(time::now(), id))),
        ],
    )
    .await;
    f.caught(
        "an event the sweeper parked",
        &[(ParkedOutbox, "event", &id.to_string())],
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
    // Delivered as a second notification would be: at the inbox's next position.
    let next = test_kit::n(&rejected, "position") + 1;
    copy.insert("SK".into(), text(keys::notification_sk(again)));
    copy.insert("notification_id".into(), text(again.to_string()));
    copy.insert("position".into(), number(next));
    for index in ["GSI1SK", "GSI2SK"] {
        copy.insert(index.into(), text(keys::inbox_position(next as u64)));
    }
    f.put(copy).await;
    f.set(
        &keys::user_pk(&shared::domain::UserId::parse("carol").unwrap()),
        keys::INBOX_HEAD_SK,
        &[("delivered", number(next))],
    )
    .await;
    f.caught(
        "carol told twice of one rejection",
        &[(DuplicateNotification, "notification", &again.to_string())],
    )
    .await;

    f.set(
        &keys::user_pk(&shared::domain::UserId::parse("carol").unwrap()),
        keys::INBOX_HEAD_SK,
        &[("delivered", number(5))],
    )
    .await;
    f.caught(
        "carol's inbox counts deliveries it does not hold",
        &[(InboxPositions, "user", "carol")],
    )
    .await;
    f.done().await;
}

#[tokio::test]
async fn every_break_of_the_discovery_indexes_is_caught_with_its_ids() {
    let f = Fixture::new().await;
    let hour_ago = text(time::format(an_hour_ago()));
    let items = f.app.items().await;
    let of = |job: &str| -> Vec<&test_kit::Item> {
        items
            .iter()
            .filter(|i| s(i, "PK").starts_with(keys::FIND_PREFIX) && i.contains_key("job_id"))
            .filter(|i| s(i, "SK") != keys::FIND_STATE_SK && s(i, "job_id") == job)
            .collect()
    };
    // Job c is open and indexed; job a filled before the queue was drained.
    let indexed = of(&f.job_c);
    assert!(!indexed.is_empty());
    assert!(of(&f.job_a).is_empty());

    f.delete(&s(indexed[0], "PK"), &s(indexed[0], "SK")).await;
    f.set(
        &key::job(&f.job_c),
        keys::JOB_SK,
        &[("updated_at", hour_ago.clone())],
    )
    .await;
    f.caught(
        "an open job missing from an index, long after its last change",
        &[(Findable, "job", &f.job_c)],
    )
    .await;

    let mut stale = indexed[0].clone();
    stale.insert("job_id".into(), text(f.job_a.clone()));
    f.put(stale).await;
    f.set(
        &key::job(&f.job_a),
        keys::JOB_SK,
        &[("updated_at", hour_ago)],
    )
    .await;
    f.caught(
        "a job filled an hour ago, still findable",
        &[(Findable, "job", &f.job_a)],
    )
    .await;
    f.done().await;
}
