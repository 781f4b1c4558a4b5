//! DynamoDB Local: the client and the table, created from `template.yaml`'s own resource.

use crate::template::{Template, TemplateError};
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use serde_norway::Value;

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("DynamoDB Local: {0}")]
    Dynamo(String),
}

fn dynamo<E: std::fmt::Debug>(e: E) -> StackError {
    StackError::Dynamo(format!("{e:?}"))
}

/// A client for DynamoDB Local. Credentials are dummies; DynamoDB Local runs with
/// `-sharedDb`, so every access key sees the same tables.
pub fn dynamo_client(endpoint: &str) -> Client {
    Client::from_conf(dynamo_config(endpoint).build())
}

/// The client configuration for DynamoDB Local, for callers that add to it.
pub fn dynamo_config(endpoint: &str) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "local"))
        .endpoint_url(endpoint)
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
    if client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .is_ok()
    {
        return Ok(false);
    }
    let props = template.table()?;
    let attributes = props
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
        .collect::<Result<Vec<_>, _>>()?;
    let indexes = props
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
        .collect::<Result<Vec<_>, _>>()?;
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::from(text(props, "BillingMode")?))
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(props)?))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
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

/// Whether DynamoDB Local answers and the table exists.
pub async fn table_ready(client: &Client, table: &str) -> bool {
    client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .is_ok()
}
