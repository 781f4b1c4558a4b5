//! Reading a table, and nothing else: Scan and ListTables are the only calls made, so the
//! audit can run against production with read-only credentials.

use crate::items::Item;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A client for DynamoDB Local at `endpoint` (dummy credentials, as the local gateway's), or
/// for AWS with the ambient credentials and region when there is no endpoint.
pub async fn dynamo_client(endpoint: Option<&str>) -> Client {
    match endpoint {
        Some(endpoint) => Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("local", "local", None, None, "local"))
                .endpoint_url(endpoint)
                .build(),
        ),
        None => Client::new(&aws_config::load_defaults(BehaviorVersion::latest()).await),
    }
}

/// Every item of `table`, read by a parallel Scan of `segments` segments: at most that many
/// requests in flight, each segment paging on from where its last page ended.
pub async fn read_table(
    client: &Client,
    table: &str,
    segments: u32,
) -> Result<Vec<Item>, BoxError> {
    let segments = segments.max(1);
    let parts = futures::future::try_join_all(
        (0..segments).map(|segment| read_segment(client, table, segment, segments)),
    )
    .await?;
    Ok(parts.into_iter().flatten().collect())
}

async fn read_segment(
    client: &Client,
    table: &str,
    segment: u32,
    segments: u32,
) -> Result<Vec<Item>, BoxError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .segment(segment as i32)
            .total_segments(segments as i32)
            // Never older than a write that finished before the read. A Scan is no snapshot,
            // though: on a table taking writes, an item can be read just before a related one
            // changes.
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| failed(&format!("scan of {table}"), &e))?;
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}

/// The error's code and message: the whole response would be noise.
fn failed<E, R>(what: &str, e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> BoxError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match e.as_service_error() {
        Some(service) => format!(
            "{what}: {}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or_default()
        ),
        None => format!("{what}: {}", shared::telemetry::error_chain(e)),
    }
    .into()
}

/// Names of the tables that start with `prefix`, in name order.
pub async fn list_tables(client: &Client, prefix: &str) -> Result<Vec<String>, BoxError> {
    let mut names = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .list_tables()
            .set_exclusive_start_table_name(start)
            .send()
            .await
            .map_err(|e| failed("list tables", &e))?;
        names.extend(
            out.table_names
                .unwrap_or_default()
                .into_iter()
                .filter(|n| n.starts_with(prefix)),
        );
        start = out.last_evaluated_table_name;
        if start.is_none() {
            names.sort();
            return Ok(names);
        }
    }
}
