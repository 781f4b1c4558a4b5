//! `template.yaml`'s EventBridge Pipe and event bus, played locally: reads the table's
//! stream on DynamoDB Local, turns each record into the JSON a pipe reads from a DynamoDB
//! source, keeps what the template's `FilterCriteria` passes, makes the bus event the pipe's
//! target parameters say, and delivers it to the queue of every rule on the bus whose
//! pattern matches it (the same matcher as the filter), in order per shard.
//!
//! Like the real pipe it delivers at least once: a position only moves past records once
//! their batch is on every queue it goes to, so a failure sends them again, never skips them.

use crate::filter::{FilterCriteria, Pattern, PatternError};
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
    /// Stopped by the local fault switch before it sent what it read: that is sent once it
    /// runs again.
    #[error("the pipe is stopped")]
    Stopped,
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
    /// Records a batch carries (a `PutEvents` takes at most 10).
    pub batch_size: usize,
    /// The target's input template, a JSON path into the record: `<$.a.b>` is `["a", "b"]`.
    pub input_path: Vec<String>,
    /// The bus event's `source` and `detail-type`.
    pub source: String,
    pub detail_type: String,
    /// The bus's rules: a pattern and the logical ids of the queues it delivers to.
    pub rules: Vec<(Pattern, Vec<String>)>,
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
        let target = template.pipe_target()?;
        let input_path = target
            .input_template
            .trim()
            .strip_prefix("<$.")
            .and_then(|p| p.strip_suffix('>'))
            .filter(|p| !p.contains(['<', '>', ' ', '"']))
            .map(|p| p.split('.').map(str::to_owned).collect())
            .ok_or_else(|| {
                PipeError::Setting(format!(
                    "InputTemplate {:?} is not one JSON path, the only form played locally",
                    target.input_template
                ))
            })?;
        let rules = template
            .bus_rules()?
            .into_iter()
            .filter(|rule| rule.bus == target.bus)
            .map(|rule| {
                let queues = rule.targets.into_iter().map(|t| t.queue).collect();
                Ok((Pattern::parse(&rule.pattern.to_string())?, queues))
            })
            .collect::<Result<_, PipeError>>()?;
        Ok(Self {
            filter: FilterCriteria::parse(template.pipe_filter_patterns()?)?,
            starting_position,
            batch_size,
            input_path,
            source: target.source,
            detail_type: target.detail_type,
            rules,
        })
    }

    /// The bus event the pipe makes of a record that passed the filter: the input path's
    /// value, a JSON object in text, as `detail`. `None` when it is no such thing: the real
    /// pipe's `PutEvents` would be refused and the record end in the pipe's DLQ.
    pub fn bus_event(&self, record: &Value) -> Option<Value> {
        let text = self
            .input_path
            .iter()
            .try_fold(record, |v, key| v.get(key))?
            .as_str()?;
        let detail: Value = serde_json::from_str(text).ok().filter(Value::is_object)?;
        let mut event = shared::bus::envelope(detail, shared::time::now());
        event.source = self.source.clone();
        event.detail_type = self.detail_type.clone();
        serde_json::to_value(event).ok()
    }

    /// The queues (logical ids) the bus delivers `event` to: every target of every rule
    /// that matches it.
    pub fn routes<'a>(&'a self, event: &'a Value) -> impl Iterator<Item = &'a str> + 'a {
        self.rules
            .iter()
            .filter(|(pattern, _)| pattern.matches(event))
            .flat_map(|(_, queues)| queues.iter().map(String::as_str))
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
    /// Each queue a rule targets, by logical id.
    queue_urls: Arc<HashMap<String, String>>,
    settings: Arc<PipeSettings>,
    state: Arc<Mutex<State>>,
    /// Whether it may send: false while the local fault switch stops it.
    running: tokio::sync::watch::Receiver<bool>,
}

impl Pipe {
    pub fn new(
        dynamo: aws_sdk_dynamodb::Client,
        streams: streams::Client,
        sqs: aws_sdk_sqs::Client,
        table: impl Into<String>,
        queue_urls: HashMap<String, String>,
        settings: PipeSettings,
    ) -> Self {
        Self {
            dynamo,
            streams,
            sqs,
            table: table.into(),
            queue_urls: Arc::new(queue_urls),
            settings: Arc::new(settings),
            state: Arc::default(),
            // Its sender gone, it stays true.
            running: tokio::sync::watch::channel(true).1,
        }
    }

    /// This pipe, stopped while `running` is false: what it read is not sent, and its
    /// position holds, so it goes on from there once `running` is true again.
    pub fn stopped_by(self, running: tokio::sync::watch::Receiver<bool>) -> Self {
        Self { running, ..self }
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
    /// many messages it delivered to the rules' queues.
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

    /// Delivers the records that pass the filter, a batch at a time, moving the position
    /// past each batch once every queue it goes to took all of it.
    async fn forward(
        &self,
        arn: &str,
        records: &[Record],
        position: &mut Position,
    ) -> Result<usize, PipeError> {
        let mut sent = 0;
        let mut batch: Vec<(String, String)> = Vec::new();
        let mut in_batch = 0;
        for (i, record) in records.iter().enumerate() {
            let json = stream_record_json(record, arn);
            if self.settings.filter.matches(&json) {
                in_batch += 1;
                match self.settings.bus_event(&json) {
                    Some(event) => {
                        let body = event.to_string();
                        for queue in self.settings.routes(&event) {
                            batch.push((queue.to_owned(), body.clone()));
                        }
                    }
                    None => tracing::warn!(
                        sequence = record
                            .dynamodb
                            .as_ref()
                            .and_then(|c| c.sequence_number.as_deref()),
                        "a record whose input is no JSON object; the bus would refuse it"
                    ),
                }
            }
            let last = i + 1 == records.len();
            if in_batch == self.settings.batch_size || (last && in_batch > 0) {
                // Read before the switch stopped it or not, nothing goes out after.
                if !*self.running.borrow() {
                    return Err(PipeError::Stopped);
                }
                sent += self.send(&batch).await?;
                batch.clear();
                in_batch = 0;
            }
            if in_batch == 0 {
                position.last = record
                    .dynamodb
                    .as_ref()
                    .and_then(|c| c.sequence_number.clone());
            }
        }
        Ok(sent)
    }

    /// Sends each (queue, body) to its queue, ten to a `SendMessageBatch`, the queues at
    /// once: as the bus's rules deliver to their targets independently, so that a hire's
    /// `notify` batch does not wait behind `index`'s.
    async fn send(&self, messages: &[(String, String)]) -> Result<usize, PipeError> {
        let mut by_queue: HashMap<&str, Vec<&str>> = HashMap::new();
        for (queue, body) in messages {
            by_queue.entry(queue).or_default().push(body);
        }
        let sends = by_queue.into_iter().map(|(queue, bodies)| async move {
            let url = self.queue_urls.get(queue).ok_or_else(|| {
                PipeError::Setting(format!("rule target {queue} is no queue of the stack"))
            })?;
            for chunk in bodies.chunks(10) {
                self.send_batch(url, chunk).await?;
            }
            Ok::<_, PipeError>(())
        });
        futures::future::try_join_all(sends).await?;
        Ok(messages.len())
    }

    async fn send_batch(&self, queue_url: &str, bodies: &[&str]) -> Result<(), PipeError> {
        let entries = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(*body)
                    .build()
                    .map_err(|e| PipeError::Sqs(chain(&e)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .sqs
            .send_message_batch()
            .queue_url(queue_url)
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

/// The longest the background pipe waits after a failed pass before the next: DynamoDB
/// Local or the SQS emulator paused or restarting is waited out, not hammered.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Runs the pipe until the task is aborted, reading only while it is not
/// [stopped](Pipe::stopped_by); it goes on from where it stopped. A failed pass is logged
/// and tried again after a backoff that doubles up to [`MAX_BACKOFF`]; nothing it failed
/// to send is skipped, since the position only moves past what was sent.
pub fn spawn(pipe: Pipe) -> JoinHandle<()> {
    let mut running = pipe.running.clone();
    tokio::spawn(async move {
        let mut failures: u32 = 0;
        loop {
            // A closed switch (its sender dropped) leaves the pipe running.
            let _ = running.wait_for(|run| *run).await;
            let wait = match pipe.pipe_once().await {
                Ok(sent) => {
                    if sent > 0 {
                        tracing::debug!(sent, "stream records delivered to the rules' queues");
                    }
                    failures = 0;
                    POLL_INTERVAL
                }
                Err(PipeError::Stopped) => POLL_INTERVAL,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, failures, "the local pipe failed; it retries");
                    POLL_INTERVAL
                        .saturating_mul(1 << failures.min(4))
                        .min(MAX_BACKOFF)
                }
            };
            tokio::time::sleep(wait).await;
        }
    })
}

#[cfg(test)]
mod tests;
