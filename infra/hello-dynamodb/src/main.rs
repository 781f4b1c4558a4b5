//! What any Rust Lambda that works on DynamoDB pays before its first event, built as the
//! functions are: the runtime, the DynamoDB client they build (`shared::app::Clients`, the
//! very code: one HTTPS client with the compiled-in roots, region and credentials from
//! Lambda's environment, the same timeouts and retries) and its connection opened during
//! init. What a function adds on top (its logging, its metrics, its configuration, its
//! handler) is what the benchmark's ratios are about, so none of it is here.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (dynamo, _, _) = shared::app::Clients::from_env(false, None).await;
    // Opened as the functions open it: one DescribeEndpoints, whatever it answers, given
    // at most their 800 ms.
    let opened = dynamo.describe_endpoints().send();
    let _ = tokio::time::timeout(Duration::from_millis(800), opened).await;
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({ "message": "hello" }))
    }))
    .await
}
