//! The table and the queues, created from `template.yaml`'s own resources.

use crate::template::{Template, TemplateError};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_norway::Value;
use shared::domain::Consumer;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("DynamoDB Local: {0}")]
    Dynamo(String),
    #[error("SQS emulator: {0}")]
    Sqs(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Config(#[from] shared::config::ConfigError),
    #[error("template.yaml routes to function {0}, which has no handler")]
    NoHandler(String),
    #[error("{0}")]
    Setting(String),
    #[error("seeding the demo data: {0}")]
    Seed(String),
    #[error(transparent)]
    Pipe(#[from] crate::pipe::PipeError),
}

fn dynamo<E: std::fmt::Debug>(e: E) -> StackError {
    StackError::Dynamo(format!("{e:?}"))
}

fn sqs_error<E: std::fmt::Debug>(e: E) -> StackError {
    StackError::Sqs(format!("{e:?}"))
}

fn text<'a>(v: &'a Value, key: &str) -> Result<&'a str, StackError> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| StackError::Template(TemplateError::Shape(format!("table: missing {key}"))))
}

fn key_schema(v: &Value) -> Result<Vec<KeySchemaElement>, StackError> {
    let elements = v
        .get("KeySchema")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten();
    elements
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(text(k, "AttributeName")?)
                .key_type(KeyType::from(text(k, "KeyType")?))
                .build()
                .map_err(dynamo)
        })
        .collect()
}

/// Creates `table` as `template.yaml` defines it, unless it exists. Returns whether it
/// was created.
pub async fn ensure_table(
    client: &Client,
    table: &str,
    template: &Template,
) -> Result<bool, StackError> {
    if let Ok(existing) = client.describe_table().table_name(table).send().await {
        let existing = existing.table;
        let stream = existing
            .as_ref()
            .and_then(|t| t.stream_specification.clone());
        add_missing_indexes(client, table, template, existing).await?;
        add_missing_stream(client, table, template, stream).await?;
        return Ok(false);
    }
    let props = template.table()?;
    let attributes = attribute_definitions(props)?;
    let indexes = global_indexes(props)?;
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::from(text(props, "BillingMode")?))
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(props)?))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .set_stream_specification(stream_specification(props)?)
        .send()
        .await
        .map_err(dynamo)?;
    if let Some(ttl) = props.get("TimeToLiveSpecification") {
        // DynamoDB Local records TTL but never deletes expired items.
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(text(ttl, "AttributeName")?)
                    .enabled(true)
                    .build()
                    .map_err(dynamo)?,
            )
            .send()
            .await
            .map_err(dynamo)?;
    }
    Ok(true)
}

fn attribute_definitions(props: &Value) -> Result<Vec<AttributeDefinition>, StackError> {
    props
        .get("AttributeDefinitions")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(text(a, "AttributeName")?)
                .attribute_type(ScalarAttributeType::from(text(a, "AttributeType")?))
                .build()
                .map_err(dynamo)
        })
        .collect()
}

fn global_indexes(props: &Value) -> Result<Vec<GlobalSecondaryIndex>, StackError> {
    props
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .map(|i| {
            let projection = i
                .get("Projection")
                .map_or(Ok("ALL"), |p| text(p, "ProjectionType"))?;
            GlobalSecondaryIndex::builder()
                .index_name(text(i, "IndexName")?)
                .set_key_schema(Some(key_schema(i)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(projection))
                        .build(),
                )
                .build()
                .map_err(dynamo)
        })
        .collect()
}

/// The table's stream as the template declares it (its presence enables it).
fn stream_specification(props: &Value) -> Result<Option<StreamSpecification>, StackError> {
    props
        .get("StreamSpecification")
        .map(|spec| {
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(text(spec, "StreamViewType")?))
                .build()
                .map_err(dynamo)
        })
        .transpose()
}

/// A table kept on disk by `make dev` may predate the stream: the local pipe needs it.
async fn add_missing_stream(
    client: &Client,
    table: &str,
    template: &Template,
    existing: Option<StreamSpecification>,
) -> Result<(), StackError> {
    let Some(wanted) = stream_specification(template.table()?)? else {
        return Ok(());
    };
    let enabled = existing.filter(|e| e.stream_enabled);
    if enabled
        .as_ref()
        .is_some_and(|e| e.stream_view_type == wanted.stream_view_type)
    {
        return Ok(());
    }
    // A stream's view type cannot change: the old stream goes and a new one comes.
    if enabled.is_some() {
        client
            .update_table()
            .table_name(table)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(false)
                    .build()
                    .map_err(dynamo)?,
            )
            .send()
            .await
            .map_err(dynamo)?;
    }
    tracing::info!("enabling the table's stream as the template defines it");
    client
        .update_table()
        .table_name(table)
        .stream_specification(wanted)
        .send()
        .await
        .map_err(dynamo)?;
    Ok(())
}

/// A table kept on disk by `make dev` predates indexes added to the template since; add
/// them, so an old local table never drifts from production.
async fn add_missing_indexes(
    client: &Client,
    table: &str,
    template: &Template,
    existing: Option<aws_sdk_dynamodb::types::TableDescription>,
) -> Result<(), StackError> {
    use aws_sdk_dynamodb::types::{CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate};
    let props = template.table()?;
    let have: Vec<String> = existing
        .and_then(|t| t.global_secondary_indexes)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| i.index_name)
        .collect();
    for index in global_indexes(props)? {
        if have.iter().any(|h| h == index.index_name()) {
            continue;
        }
        tracing::info!(
            index = index.index_name(),
            "adding an index the template gained"
        );
        let create = CreateGlobalSecondaryIndexAction::builder()
            .index_name(index.index_name())
            .set_key_schema(Some(index.key_schema().to_vec()))
            .set_projection(index.projection().cloned())
            .build()
            .map_err(dynamo)?;
        client
            .update_table()
            .table_name(table)
            .set_attribute_definitions(Some(attribute_definitions(props)?))
            .global_secondary_index_updates(
                GlobalSecondaryIndexUpdate::builder().create(create).build(),
            )
            .send()
            .await
            .map_err(dynamo)?;
    }
    Ok(())
}

/// Whether DynamoDB Local answers and the table exists.
pub async fn table_ready(client: &Client, table: &str) -> bool {
    client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .is_ok()
}

#[derive(Debug, Clone)]
pub struct Queues {
    /// The queue's logical id in the template.
    pub id: String,
    pub url: String,
    pub dead_letter_url: String,
    pub max_receive_count: u32,
}

/// The consumers' queues of a stack, kept as the template declares them. The SQS emulator
/// keeps its queues in memory: restarted, it answers every call on them with
/// `QueueDoesNotExist`. Every SQS client of the stack is [watched](QueueKeeper::watch) for
/// that answer, whoever got it (a pump's receive, the pipe's send, the sweeper's send), and
/// the keeper's task ([`QueueKeeper::spawn`]) then makes them all again: the same names,
/// attributes and redrive policies, so the same URLs. The caller's call failed meanwhile;
/// each goes on as after any failure: a pump polls again, the pipe sends the same records
/// again (its position holds), and what the sweeper could not send stays due for its next
/// run.
#[derive(Debug, Clone)]
pub struct QueueKeeper {
    /// Unwatched: the keeper's own calls never report to itself.
    sqs: aws_sdk_sqs::Client,
    prefix: String,
    template: Template,
    visibility: std::time::Duration,
    missing: Arc<Notify>,
}

impl QueueKeeper {
    /// `prefix` names the queues (the stack's table); `visibility` replaces the template's
    /// visibility timeout: locally a failed message should come back in seconds, not
    /// minutes.
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        prefix: &str,
        template: &Template,
        visibility: std::time::Duration,
    ) -> Self {
        Self {
            sqs,
            prefix: prefix.to_owned(),
            template: template.clone(),
            visibility,
            missing: Arc::default(),
        }
    }

    /// Creates each consumer's queue and its DLQ, unless they exist.
    pub async fn ensure(&self) -> Result<BTreeMap<Consumer, Queues>, StackError> {
        ensure_queues(&self.sqs, &self.prefix, &self.template, self.visibility).await
    }

    /// `sqs`, configured alike, reporting to this keeper every answer that a queue does not
    /// exist.
    pub fn watch(&self, sqs: &aws_sdk_sqs::Client) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::from_conf(
            sqs.config()
                .to_builder()
                .interceptor(MissingQueueWatch(self.missing.clone()))
                .build(),
        )
    }

    /// Makes the queues again after each report, until the task is aborted. A failure is
    /// logged: the next call on a missing queue reports again.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                self.missing.notified().await;
                match self.ensure().await {
                    Ok(_) => tracing::warn!(
                        "a queue was missing (the SQS emulator restarted?); made the template's queues again"
                    ),
                    Err(e) => tracing::warn!(error = %e, "making the missing queues again failed"),
                }
            }
        })
    }
}

/// Whether an SQS error is the answer that the queue does not exist: `QueueDoesNotExist`
/// in SQS's JSON protocol, `AWS.SimpleQueueService.NonExistentQueue` in its query one.
pub fn is_missing_queue(code: &str) -> bool {
    code.ends_with("QueueDoesNotExist") || code.ends_with("NonExistentQueue")
}

/// Reports answers that a queue does not exist: SQS names the error in headers
/// (`x-amzn-query-error`, `x-amzn-errortype`), whatever the operation.
#[derive(Debug)]
struct MissingQueueWatch(Arc<Notify>);

impl Intercept for MissingQueueWatch {
    fn name(&self) -> &'static str {
        "MissingQueueWatch"
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        let missing = ["x-amzn-query-error", "x-amzn-errortype"]
            .iter()
            .filter_map(|name| response.headers().get(*name))
            .any(|value| is_missing_queue(value.split([';', ':']).next().unwrap_or_default()));
        if response.status().as_u16() == 400 && missing {
            self.0.notify_one();
        }
        Ok(())
    }
}

/// Creates each consumer's queue and its DLQ as the template declares them (every queue a
/// function consumes, named after `prefix` and the queue's logical id), with its redrive
/// policy. `visibility` replaces the template's visibility timeout: locally a failed message
/// should come back in seconds, not minutes.
pub async fn ensure_queues(
    sqs: &aws_sdk_sqs::Client,
    prefix: &str,
    template: &Template,
    visibility: std::time::Duration,
) -> Result<BTreeMap<Consumer, Queues>, StackError> {
    let mut queues = BTreeMap::new();
    for (queue_id, function) in template.queue_functions()? {
        let consumer = Consumer::parse(&function).ok_or_else(|| {
            StackError::Setting(format!("{queue_id} feeds {function}, which is no consumer"))
        })?;
        let queue = ensure_queue(sqs, prefix, template, &queue_id, visibility).await?;
        queues.insert(consumer, queue);
    }
    Ok(queues)
}

/// The name of the queue `queue_id` (its logical id) of the stack whose resources are named
/// after `prefix` (its table).
pub fn queue_name(prefix: &str, queue_id: &str) -> String {
    format!("{prefix}-{}", queue_id.to_lowercase())
}

async fn ensure_queue(
    sqs: &aws_sdk_sqs::Client,
    prefix: &str,
    template: &Template,
    queue_id: &str,
    visibility: std::time::Duration,
) -> Result<Queues, StackError> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let shape =
        |what: &str| StackError::Template(TemplateError::Shape(format!("{queue_id}: {what}")));
    let redrive = template
        .resource_properties(queue_id)?
        .get("RedrivePolicy")
        .ok_or_else(|| shape("no RedrivePolicy"))?;
    let max_receive_count = redrive
        .get("maxReceiveCount")
        .and_then(Value::as_u64)
        .ok_or_else(|| shape("no maxReceiveCount"))? as u32;
    let dlq_id = redrive
        .get("deadLetterTargetArn")
        .and_then(crate::template::referenced)
        .ok_or_else(|| shape("no deadLetterTargetArn"))?;
    let name = |id: &str| queue_name(prefix, id);
    let dlq = sqs
        .create_queue()
        .queue_name(name(dlq_id))
        .send()
        .await
        .map_err(sqs_error)?;
    let dead_letter_url = dlq.queue_url.unwrap_or_default();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dead_letter_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(sqs_error)?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap_or_default();
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receive_count.to_string(),
    });
    let main = sqs
        .create_queue()
        .queue_name(name(queue_id))
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility.as_secs().to_string(),
        )
        .send()
        .await
        .map_err(sqs_error)?;
    Ok(Queues {
        id: queue_id.to_owned(),
        url: main.queue_url.unwrap_or_default(),
        dead_letter_url,
        max_receive_count,
    })
}
