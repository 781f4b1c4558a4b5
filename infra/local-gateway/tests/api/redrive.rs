//! The sweeper's safety net: an event `notify` has not applied is sent again with a
//! doubling wait, and parked after a bounded number of sends; a claim whose answer was lost
//! is still the sweeper's.

use aws_sdk_dynamodb::types::AttributeValue;
use shared::domain::{Consumer, EventId};
use shared::handlers::sweep::REDRIVES_BEFORE_PARKING;
use shared::store::keys;
use shared::time::{self, Timestamp};
use test_kit::{Fault, app_with_faults, counted};
use test_kit::{Item, TestApp, n, s, spawn_app};

/// Writes an outbox event `notify` can never apply (its body is no event), due as if
/// written at `at`: a poison event.
async fn poison_event(app: &TestApp, at: Timestamp) -> EventId {
    let id = EventId::at(at);
    let item = [
        ("PK", keys::outbox_pk(id)),
        ("SK", keys::outbox_sk(Consumer::Notify)),
        ("event_id", id.to_string()),
        ("consumer", Consumer::Notify.to_string()),
        ("body", "not an event".to_owned()),
        ("created_at", time::format(at)),
        ("DUEPK", keys::Due::Outbox.pk(id)),
        ("DUESK", keys::due_at(at, id)),
    ];
    app.dynamo
        .put_item()
        .table_name(&app.table)
        .set_item(Some(
            item.into_iter()
                .map(|(k, v)| (k.to_owned(), AttributeValue::S(v)))
                .collect(),
        ))
        .send()
        .await
        .expect("poison event written");
    id
}

async fn outbox_item(app: &TestApp, id: EventId) -> Item {
    app.item(&keys::outbox_pk(id), &keys::outbox_sk(Consumer::Notify))
        .await
        .expect("the outbox item")
}

#[tokio::test]
async fn an_event_never_applied_is_sent_again_doubling_the_wait_then_parked() {
    let app = spawn_app().await;
    let delay = chrono::Duration::from_std(app.app.redrive_delay).unwrap();
    let written = time::now();
    let id = poison_event(&app, written).await;
    let second = chrono::Duration::seconds(1);

    // Due `delay` after it was written, then `delay × 2^n` after the n-th send.
    let mut due = written + delay;
    for attempt in 1..=REDRIVES_BEFORE_PARKING {
        let early = app.sweep_at(due - second).await;
        assert_eq!(
            early.redriven, 0,
            "attempt {attempt} sent before it was due"
        );
        let sweep_at = due + second;
        let report = app.sweep_at(sweep_at).await;
        assert_eq!(report.redriven, 1, "attempt {attempt}: {report:?}");
        let item = outbox_item(&app, id).await;
        assert_eq!(n(&item, "attempts"), attempt as i64);
        assert_eq!(s(&item, "claimed_at"), time::format(sweep_at));
        due = sweep_at + delay * (1 << attempt);
    }

    let early = app.sweep_at(due - second).await;
    assert_eq!((early.redriven, early.parked), (0, 0));
    let (parking, line) = counted(app.sweep_at(due + second)).await;
    assert_eq!((parking.redriven, parking.parked), (0, 1));
    assert_eq!(
        line["SweepParked"], 1.0,
        "the parking alarm's metric: {line}"
    );
    let parked = outbox_item(&app, id).await;
    assert_eq!(s(&parked, "DUEPK"), keys::PARKED_OUTBOX);
    assert_eq!(s(&parked, "parked_at"), time::format(due + second));
    assert_eq!(n(&parked, "attempts"), REDRIVES_BEFORE_PARKING as i64);

    // Parked is out of every sweep for good.
    let later = app.sweep_at(due + delay * 1_000).await;
    assert_eq!((later.redriven, later.parked, later.read), (0, 0, 0));
    // Every send reached the queue: the DLQ takes them once notify has failed them.
    assert_eq!(
        app.queue_depth(&app.queues.url).await,
        REDRIVES_BEFORE_PARKING as usize
    );
    app.delete_table().await;
}

/// A claim whose answer was lost meets its own write on the retry: it must know it as its
/// own, or it would skip an event nobody sends for another redrive delay.
#[tokio::test]
async fn a_claim_whose_answer_was_lost_finds_its_own_stamp_and_is_claimed() {
    let (app, injector) = app_with_faults(Fault::LostResponse).await;
    let store = shared::store::Store::new(injector.client(), app.table.clone());
    let id = poison_event(&app, time::now() - chrono::Duration::minutes(5)).await;
    let row: shared::store::OutboxRow =
        serde_dynamo::from_item(outbox_item(&app, id).await).expect("an outbox row");
    injector
        .update_plan
        .lock()
        .unwrap()
        .push_back(Fault::LostResponse);

    let at = time::now();
    let claimed = store
        .claim_outbox(&row, at, at + chrono::Duration::minutes(2))
        .await
        .expect("claim settles");

    assert!(claimed, "our own claim, committed but unanswered");
    assert!(injector.update_plan.lock().unwrap().is_empty());
    let item = outbox_item(&app, id).await;
    assert_eq!(n(&item, "attempts"), 1);
    // A second sweeper, holding the row as read before the claim, is refused.
    assert!(
        !store
            .claim_outbox(&row, at, at + chrono::Duration::minutes(2))
            .await
            .unwrap()
    );
    app.delete_table().await;
}
