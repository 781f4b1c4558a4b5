//! `template.yaml`'s EventBridge Pipe, played locally: reads the table's stream on DynamoDB
//! Local, turns each record into the JSON a pipe sends for a DynamoDB source, keeps what the
//! template's `FilterCriteria` passes and sends it to the events queue, in order per shard.
//!
//! Like the real pipe it delivers at least once: a position only moves past records once
//! their batch is on the queue, so a failure sends them again, never skips them.

use crate::filter::{FilterCriteria, PatternError};
use crate::template::{Template, TemplateError};
use aws_sdk_dynamodbstreams as streams;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use streams::types::{Record, Shard, ShardIteratorType};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum PipeError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("the pipe's FilterCriteria: {0}")]
    Filter(#[from] PatternError),
    #[error("the pipe's {0}")]
    Setting(String),
    #[error("table {0} has no stream")]
    NoStream(String),
    #[error("DynamoDB: {0}")]
    Dynamo(String),
    #[error("DynamoDB Streams: {0}")]
    Stream(String),
    #[error("SQS: {0}")]
    Sqs(String),
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    shared::telemetry::error_chain(e)
}

/// What the template says the pipe does.
#[derive(Debug, Clone)]
pub struct PipeSettings {
    pub filter: FilterCriteria,
    /// Where a shard seen for the first time is read from (its children always from the
    /// start, as a pipe reads them).
    pub starting_position: ShardIteratorType,
    /// Records a `SendMessageBatch` carries (at most SQS's 10).
    pub batch_size: usize,
}

impl PipeSettings {
    pub fn from_template(template: &Template) -> Result<Self, PipeError> {
        let stream = template
            .pipe()?
            .get("SourceParameters")
            .and_then(|p| p.get("DynamoDBStreamParameters"))
            .ok_or_else(|| PipeError::Setting("DynamoDBStreamParameters are missing".into()))?;
        let starting_position = match stream.get("StartingPosition").and_then(|v| v.as_str()) {
            Some("TRIM_HORIZON") => ShardIteratorType::TrimHorizon,
            Some("LATEST") => ShardIteratorType::Latest,
            other => {
                return Err(PipeError::Setting(format!(
                    "StartingPosition {other:?} is not TRIM_HORIZON or LATEST"
                )));
            }
        };
        let batch_size = stream
            .get("BatchSize")
            .and_then(|v| v.as_u64())
            .unwrap_or(10)
            .clamp(1, 10) as usize;
        Ok(Self {
            filter: FilterCriteria::parse(template.pipe_filter_patterns()?)?,
            starting_position,
            batch_size,
        })
    }
}

/// The message body a pipe sends for one DynamoDB stream record: the record as Lambda and
/// Pipes present it (`aws_lambda_events`' `dynamodb::EventRecord`), attribute values in
/// DynamoDB's JSON. Images the record lacks (no old image for an insert) are left out.
pub fn stream_record_json(record: &Record, stream_arn: &str) -> Value {
    let item = |image: &Option<HashMap<String, streams::types::AttributeValue>>| {
        image.as_ref().map(|i| {
            serde_json::to_value(serde_dynamo::Item::from(i.clone()))
                .expect("DynamoDB JSON always serializes")
        })
    };
    let mut change = Map::new();
    if let Some(c) = &record.dynamodb {
        let fields = [
            (
                "ApproximateCreationDateTime",
                c.approximate_creation_date_time
                    .map(|t| json!(t.as_secs_f64())),
            ),
            ("Keys", item(&c.keys)),
            ("NewImage", item(&c.new_image)),
            ("OldImage", item(&c.old_image)),
            ("SequenceNumber", c.sequence_number.clone().map(Value::from)),
            ("SizeBytes", c.size_bytes.map(Value::from)),
            (
                "StreamViewType",
                c.stream_view_type.as_ref().map(|v| json!(v.as_str())),
            ),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                change.insert(name.to_owned(), value);
            }
        }
    }
    let mut out = json!({
        "eventID": record.event_id,
        "eventName": record.event_name.as_ref().map(|n| n.as_str()),
        "eventVersion": record.event_version,
        "eventSource": record.event_source.as_deref().unwrap_or("aws:dynamodb"),
        "awsRegion": record.aws_region,
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    });
    // Only deletions by TTL carry one.
    if let Some(who) = &record.user_identity {
        out["userIdentity"] = json!({"type": who.r#type, "principalId": who.principal_id});
    }
    out
}

/// How far a shard has been forwarded.
#[derive(Debug, Default)]
struct Position {
    /// The last record whose fate is settled: sent, or filtered out before a sent one.
    last: Option<String>,
    /// Where the next read starts; dropped after a failure, which restarts from `last`.
    next: Option<String>,
    /// Closed and read to its end.
    done: bool,
}

#[derive(Debug, Default)]
struct State {
    stream_arn: Option<String>,
    shards: HashMap<String, Position>,
}

/// The local pipe. Clones share one position, and one pass runs at a time, so the
/// background task and a test driving it by hand never send a record twice.
#[derive(Clone)]
pub struct Pipe {
    dynamo: aws_sdk_dynamodb::Client,
    streams: streams::Client,
    sqs: aws_sdk_sqs::Client,
    table: String,
    queue_url: String,
    settings: Arc<PipeSettings>,
    state: Arc<Mutex<State>>,
}

impl Pipe {
    pub fn new(
        dynamo: aws_sdk_dynamodb::Client,
        streams: streams::Client,
        sqs: aws_sdk_sqs::Client,
        table: impl Into<String>,
        queue_url: impl Into<String>,
        settings: PipeSettings,
    ) -> Self {
        Self {
            dynamo,
            streams,
            sqs,
            table: table.into(),
            queue_url: queue_url.into(),
            settings: Arc::new(settings),
            state: Arc::default(),
        }
    }

    /// This pipe, its position shared, sending through another SQS client (one that fails,
    /// to see that the position holds).
    pub fn with_sqs(&self, sqs: aws_sdk_sqs::Client) -> Self {
        Self {
            sqs,
            ..self.clone()
        }
    }

    /// Forwards everything the stream holds now that was not forwarded yet; returns how
    /// many records it sent to the queue.
    pub async fn pipe_once(&self) -> Result<usize, PipeError> {
        let mut state = self.state.lock().await;
        let arn = match &state.stream_arn {
            Some(arn) => arn.clone(),
            None => {
                let arn = self.stream_arn().await?;
                state.stream_arn = Some(arn.clone());
                arn
            }
        };
        let shards = self.shards(&arn).await?;
        let mut sent = 0;
        // A child shard continues its parent's keys, so it waits until the parent is read
        // to its end; passes repeat while shards finish and release their children.
        loop {
            let mut finished = false;
            for shard in &shards {
                let Some(id) = shard.shard_id.as_deref() else {
                    continue;
                };
                let parent_pending = shard.parent_shard_id.as_deref().is_some_and(|p| {
                    shards.iter().any(|s| s.shard_id.as_deref() == Some(p))
                        && !state.shards.get(p).is_some_and(|p| p.done)
                });
                let first_look = !state.shards.contains_key(id);
                let position = state.shards.entry(id.to_owned()).or_default();
                if position.done || parent_pending {
                    continue;
                }
                let start = if first_look && shard.parent_shard_id.is_none() {
                    self.settings.starting_position.clone()
                } else {
                    ShardIteratorType::TrimHorizon
                };
                sent += self.forward_shard(&arn, id, start, position).await?;
                finished |= position.done;
            }
            if !finished {
                return Ok(sent);
            }
        }
    }

    async fn stream_arn(&self) -> Result<String, PipeError> {
        let table = self
            .dynamo
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| PipeError::Dynamo(chain(&e)))?
            .table;
        table
            .and_then(|t| t.latest_stream_arn)
            .ok_or_else(|| PipeError::NoStream(self.table.clone()))
    }

    async fn shards(&self, arn: &str) -> Result<Vec<Shard>, PipeError> {
        let mut shards = Vec::new();
        let mut start = None;
        loop {
            let description = self
                .streams
                .describe_stream()
                .stream_arn(arn)
                .set_exclusive_start_shard_id(start)
                .send()
                .await
                .map_err(|e| PipeError::Stream(chain(&e)))?
                .stream_description
                .ok_or_else(|| PipeError::Stream("DescribeStream without a description".into()))?;
            shards.extend(description.shards.unwrap_or_default());
            start = description.last_evaluated_shard_id;
            if start.is_none() {
                return Ok(shards);
            }
        }
    }

    async fn iterator(
        &self,
        arn: &str,
        shard: &str,
        start: ShardIteratorType,
        position: &Position,
    ) -> Result<String, PipeError> {
        let request = self
            .streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(shard);
        let request = match &position.last {
            Some(seq) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(seq),
            None => request.shard_iterator_type(start),
        };
        match request.send().await {
            Ok(out) => out
                .shard_iterator
                .ok_or_else(|| PipeError::Stream(format!("no iterator for shard {shard}"))),
            // Past the stream's retention: what was there is gone (the sweeper re-sends its
            // events), so go on from the oldest record left, as a pipe does.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_trimmed_data_access_exception()) =>
            {
                tracing::warn!(shard, "stream records expired before the pipe read them");
                Box::pin(self.iterator(
                    arn,
                    shard,
                    ShardIteratorType::TrimHorizon,
                    &Position::default(),
                ))
                .await
            }
            Err(e) => Err(PipeError::Stream(chain(&e))),
        }
    }

    /// Reads one shard from its position to what it holds now, sending what passes.
    async fn forward_shard(
        &self,
        arn: &str,
        shard: &str,
        start: ShardIteratorType,
        position: &mut Position,
    ) -> Result<usize, PipeError> {
        let mut sent = 0;
        let mut iterator = match position.next.take() {
            Some(next) => next,
            None => self.iterator(arn, shard, start.clone(), position).await?,
        };
        loop {
            let out = match self
                .streams
                .get_records()
                .shard_iterator(&iterator)
                .send()
                .await
            {
                Ok(out) => out,
                // An iterator kept from the last pass may have expired (after 15 minutes).
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_expired_iterator_exception()) =>
                {
                    iterator = self.iterator(arn, shard, start.clone(), position).await?;
                    continue;
                }
                Err(e) => return Err(PipeError::Stream(chain(&e))),
            };
            let records = out.records.unwrap_or_default();
            sent += self.forward(arn, &records, position).await?;
            match out.next_shard_iterator {
                None => {
                    position.done = true;
                    return Ok(sent);
                }
                Some(next) if records.is_empty() => {
                    position.next = Some(next);
                    return Ok(sent);
                }
                Some(next) => iterator = next,
            }
        }
    }

    /// Sends the records that pass the filter, a batch at a time, moving the position past
    /// each batch once SQS took all of it.
    async fn forward(
        &self,
        arn: &str,
        records: &[Record],
        position: &mut Position,
    ) -> Result<usize, PipeError> {
        let mut sent = 0;
        let mut batch = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let body = stream_record_json(record, arn);
            if self.settings.filter.matches(&body) {
                batch.push(body.to_string());
            }
            let last = i + 1 == records.len();
            if batch.len() == self.settings.batch_size || (last && !batch.is_empty()) {
                self.send(&batch).await?;
                sent += batch.len();
                batch.clear();
            }
            if batch.is_empty() {
                position.last = record
                    .dynamodb
                    .as_ref()
                    .and_then(|c| c.sequence_number.clone());
            }
        }
        Ok(sent)
    }

    async fn send(&self, bodies: &[String]) -> Result<(), PipeError> {
        let entries = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .map_err(|e| PipeError::Sqs(chain(&e)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .sqs
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| PipeError::Sqs(chain(&e)))?;
        match out.failed.len() {
            0 => Ok(()),
            n => Err(PipeError::Sqs(format!(
                "{n} of {} messages refused; the batch is sent again",
                bodies.len()
            ))),
        }
    }
}

/// How often the background pipe polls: a real pipe reads a DynamoDB stream's shards about
/// four times a second.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Runs the pipe until the task is aborted.
pub fn spawn(pipe: Pipe) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match pipe.pipe_once().await {
                Ok(0) => {}
                Ok(sent) => tracing::debug!(sent, "stream records forwarded to the queue"),
                Err(e) => tracing::warn!(error = %e, "the local pipe failed; it retries"),
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::{CloseReason, EventId, EventKind, JobId, OutboxEvent};
    use shared::store::keys;
    use streams::types::{AttributeValue as A, OperationType, StreamRecord, StreamViewType};

    const ARN: &str =
        "arn:aws:dynamodb:ddblocal:000000000000:table/t/stream/2026-01-01T00:00:00.000";

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
        let body = serde_json::to_string(&event).unwrap();
        let pk = keys::outbox_pk(event.event_id);
        let record = record(name, &pk, keys::OUTBOX_SK, &[("body", s(&body))]);
        (event, record)
    }

    fn template_filter() -> FilterCriteria {
        PipeSettings::from_template(&Template::load_default().unwrap())
            .unwrap()
            .filter
    }

    #[test]
    fn the_template_passes_inserts_of_outbox_items() {
        let (event, insert) = outbox(OperationType::Insert);
        let body = stream_record_json(&insert, ARN);
        assert!(template_filter().matches(&body));
        assert_eq!(
            shared::handlers::notify::event_of(&body.to_string()).unwrap(),
            event
        );
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
            record(OperationType::Insert, "USER#bob", keys::OUTBOX_SK, &[]),
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
        assert_eq!(body["dynamodb"]["Keys"]["SK"], json!({"S": "OUTBOX"}));
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
        assert_eq!(body["dynamodb"]["OldImage"]["SK"], json!({"S": "OUTBOX"}));
        assert_eq!(
            body["userIdentity"]["principalId"],
            "dynamodb.amazonaws.com"
        );
    }
}
