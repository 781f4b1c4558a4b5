//! The local gateway's fault switch, `POST /_local/faults` (only with `LOCAL_FAULTS=1`):
//! throttling and conflicts injected in its DynamoDB client, the pipe stopped, or every
//! condition dropped (the product broken on purpose).

use serde_json::Value;
use std::time::Duration;

/// Sets the switch, retrying briefly: a gateway that is restarting answers nothing.
pub async fn set(http: &reqwest::Client, api: &str, state: Value) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..50 {
        match http
            .post(format!("{api}/_local/faults"))
            .json(&state)
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("{}: {}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("the fault switch {state}: {last}"))
}
