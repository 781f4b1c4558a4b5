//! What any Rust Lambda pays before its first event: the runtime and nothing else, on the
//! same single-threaded tokio runtime and linked as the functions are (`infra/no-pie.rs`).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({ "message": "hello" }))
    }))
    .await
}
