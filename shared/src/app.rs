use crate::config::Config;
use crate::events::Publisher;
use crate::http::CursorCodec;
use crate::store::Store;
use aws_config::BehaviorVersion;
use std::time::Duration;

/// What every handler needs, built once per cold start and cloned (cheaply) per request.
#[derive(Clone, Debug)]
pub struct App {
    pub store: Store,
    pub cursors: CursorCodec,
    pub publisher: Publisher,
    pub redrive_delay: Duration,
    pub release_window: chrono::Duration,
}

impl App {
    pub fn new(
        dynamo: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
        config: &Config,
    ) -> Self {
        Self {
            store: Store::new(dynamo, config.table_name.as_str()),
            cursors: CursorCodec::new(config.cursor_secret.as_bytes()),
            publisher: Publisher::new(sqs, config.queue_url.clone()),
            redrive_delay: config.redrive_delay,
            release_window: config.release_window,
        }
    }

    pub async fn from_env() -> Result<Self, crate::config::ConfigError> {
        let config = Config::from_env()?;
        let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Ok(Self::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            aws_sdk_sqs::Client::new(&sdk),
            &config,
        ))
    }
}
