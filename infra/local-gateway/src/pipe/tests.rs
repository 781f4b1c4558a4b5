use super::*;
use shared::domain::{CloseReason, Consumer, EventId, EventKind, JobId, OutboxEvent};
use shared::store::keys;
use streams::types::{AttributeValue as A, OperationType, StreamRecord, StreamViewType};

const ARN: &str = "arn:aws:dynamodb:ddblocal:000000000000:table/t/stream/2026-01-01T00:00:00.000";

fn s(v: &str) -> A {
    A::S(v.to_owned())
}

fn image(pairs: &[(&str, A)]) -> HashMap<String, A> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// A record of `name` on the item keyed `pk`/`sk`, with the images a
/// NEW_AND_OLD_IMAGES stream gives that operation.
fn record(name: OperationType, pk: &str, sk: &str, extra: &[(&str, A)]) -> Record {
    let keys = image(&[("PK", s(pk)), ("SK", s(sk))]);
    let mut full = keys.clone();
    full.extend(image(extra));
    let (new, old) = match name {
        OperationType::Insert => (Some(full), None),
        OperationType::Modify => (Some(full.clone()), Some(full)),
        _ => (None, Some(full)),
    };
    Record::builder()
        .event_id("e1")
        .event_name(name)
        .event_version("1.1")
        .event_source("aws:dynamodb")
        .aws_region("ddblocal")
        .dynamodb(
            StreamRecord::builder()
                .approximate_creation_date_time(aws_smithy_types::DateTime::from_secs(
                    1_767_225_600,
                ))
                .set_keys(Some(keys))
                .set_new_image(new)
                .set_old_image(old)
                .sequence_number("000000000000000000042")
                .size_bytes(120)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build(),
        )
        .build()
}

fn outbox(name: OperationType) -> (OutboxEvent, Record) {
    let event = OutboxEvent::new(
        EventKind::JobClosed {
            job_id: JobId::generate(),
            reason: CloseReason::Filled,
        },
        shared::time::parse("2026-01-01T00:00:00.000Z").unwrap(),
    );
    let delivery = event.deliveries().next().unwrap();
    let body = serde_json::to_string(&delivery).unwrap();
    let pk = keys::outbox_pk(event.event_id);
    let sk = keys::outbox_sk(delivery.consumer);
    let record = record(name, &pk, &sk, &[("body", s(&body))]);
    (event, record)
}

fn settings() -> PipeSettings {
    PipeSettings::from_template(&Template::load_default().unwrap()).unwrap()
}

fn template_filter() -> FilterCriteria {
    settings().filter
}

#[test]
fn the_template_passes_inserts_of_outbox_items_through_the_bus_to_their_consumer() {
    let settings = settings();
    let (event, insert) = outbox(OperationType::Insert);
    let body = stream_record_json(&insert, ARN);
    assert!(settings.filter.matches(&body));
    let on_bus = settings.bus_event(&body).expect("a bus event");
    assert_eq!(on_bus["source"], settings.source);
    assert_eq!(on_bus["detail-type"], settings.detail_type);
    assert_eq!(on_bus["detail"]["event_id"], event.event_id.to_string());
    assert_eq!(
        settings.routes(&on_bus).collect::<Vec<_>>(),
        ["NotifyQueue"]
    );
    assert_eq!(
        shared::handlers::notify::event_of(&on_bus.to_string()).unwrap(),
        event
    );
}

#[test]
fn the_rules_pass_only_their_consumers_deliveries_from_the_pipe() {
    let settings = settings();
    let (_, insert) = outbox(OperationType::Insert);
    let on_bus = settings
        .bus_event(&stream_record_json(&insert, ARN))
        .unwrap();
    let mut foreign = on_bus.clone();
    foreign["detail"]["consumer"] = json!("webhook");
    let mut other_source = on_bus.clone();
    other_source["source"] = json!("aws.events");
    let mut other_type = on_bus.clone();
    other_type["detail-type"] = json!("Scheduled Event");
    let mut no_consumer = on_bus.clone();
    no_consumer["detail"]
        .as_object_mut()
        .unwrap()
        .remove("consumer");
    for event in [foreign, other_source, other_type, no_consumer] {
        assert_eq!(settings.routes(&event).count(), 0, "routed: {event}");
    }
    // What is not a JSON object in text never reaches the bus.
    let mut record = stream_record_json(&insert, ARN);
    record["dynamodb"]["NewImage"]["body"] = json!({"S": "not json"});
    assert!(settings.bus_event(&record).is_none());
    record["dynamodb"]["NewImage"]["body"] = json!({"S": "[1, 2]"});
    assert!(settings.bus_event(&record).is_none());
    // Every consumer's deliveries reach exactly one queue.
    for consumer in Consumer::ALL {
        let mut addressed = on_bus.clone();
        addressed["detail"]["consumer"] = json!(consumer.as_str());
        assert_eq!(settings.routes(&addressed).count(), 1, "{consumer}");
    }
}

#[test]
fn the_template_stops_outbox_changes_and_inserts_of_anything_else() {
    let filter = template_filter();
    let event = EventId::generate();
    let rejected = [
        outbox(OperationType::Modify).1,
        outbox(OperationType::Remove).1,
        record(
            OperationType::Insert,
            "JOB#01JOB",
            "JOB",
            &[("status", s("open"))],
        ),
        record(OperationType::Insert, "JOB#01JOB", "JOB#APP#01APP", &[]),
        record(OperationType::Insert, "JOB#01JOB", "APPLICANT#bob", &[]),
        record(OperationType::Insert, "JOB#01JOB", "EVENT#01EVT", &[]),
        record(OperationType::Insert, "CONTRACT#01C", "CONTRACT", &[]),
        record(
            OperationType::Insert,
            "USER#bob",
            &format!("NOTIF#{event}"),
            &[],
        ),
        // An item whose sort key, not its partition key, says OUTBOX.
        record(
            OperationType::Insert,
            "USER#bob",
            &keys::outbox_sk(Consumer::Notify),
            &[],
        ),
    ];
    for record in &rejected {
        let body = stream_record_json(record, ARN);
        assert!(!filter.matches(&body), "forwarded: {body}");
    }
}

#[test]
fn a_record_is_sent_as_the_event_record_a_pipe_sends() {
    let (_, insert) = outbox(OperationType::Insert);
    let body = stream_record_json(&insert, ARN);
    assert_eq!(body["eventName"], "INSERT");
    assert_eq!(body["eventSource"], "aws:dynamodb");
    assert_eq!(body["eventSourceARN"], ARN);
    assert_eq!(body["dynamodb"]["StreamViewType"], "NEW_AND_OLD_IMAGES");
    assert_eq!(body["dynamodb"]["SequenceNumber"], "000000000000000000042");
    assert_eq!(
        body["dynamodb"]["ApproximateCreationDateTime"],
        1_767_225_600.0
    );
    assert_eq!(
        body["dynamodb"]["Keys"]["SK"],
        json!({"S": "OUTBOX#notify"})
    );
    assert!(body["dynamodb"].get("OldImage").is_none());
    assert!(body.get("userIdentity").is_none());
    let parsed: aws_lambda_events::event::dynamodb::EventRecord =
        serde_json::from_value(body).unwrap();
    assert_eq!(parsed.change.size_bytes, 120);
    assert_eq!(
        parsed.change.approximate_creation_date_time.timestamp(),
        1_767_225_600
    );

    let (_, mut removal) = outbox(OperationType::Remove);
    removal.user_identity = Some(
        streams::types::Identity::builder()
            .r#type("Service")
            .principal_id("dynamodb.amazonaws.com")
            .build(),
    );
    let body = stream_record_json(&removal, ARN);
    assert!(body["dynamodb"].get("NewImage").is_none());
    assert_eq!(
        body["dynamodb"]["OldImage"]["SK"],
        json!({"S": "OUTBOX#notify"})
    );
    assert_eq!(
        body["userIdentity"]["principalId"],
        "dynamodb.amazonaws.com"
    );
}
