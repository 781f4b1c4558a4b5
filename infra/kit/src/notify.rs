//! Messages for `notify`, as its queue delivers them.

use crate::{TestApp, s};
use shared::domain::Consumer;
use shared::store::keys;

/// One SQS batch of `bodies`, as Lambda hands a batch to `notify`.
pub fn sqs_event(bodies: &[String]) -> aws_lambda_events::event::sqs::SqsEvent {
    use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
    let mut event = SqsEvent::default();
    for (i, body) in bodies.iter().enumerate() {
        let mut m = SqsMessage::default();
        m.message_id = Some(format!("m{i}"));
        m.body = Some(body.clone());
        event.records.push(m);
    }
    event
}

/// Every outbox item of `notify` in the table as the message its rule (or the sweeper)
/// puts on its queue: the item's body as `detail` in the bus's envelope.
pub async fn outbox_bodies(app: &TestApp) -> Vec<String> {
    app.items_with_sk(&keys::outbox_sk(Consumer::Notify))
        .await
        .iter()
        .map(|i| {
            let detail = serde_json::from_str(&s(i, "body")).expect("a delivery");
            serde_json::to_string(&shared::bus::envelope(detail, shared::time::now()))
                .expect("an envelope")
        })
        .collect()
}
