use crate::config::Config;
use crate::domain::Transition;
use crate::http::CursorCodec;
use crate::publisher::Publisher;
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

    /// Commits a transition and publishes what it announced: where every request that
    /// changes something ends.
    pub async fn commit<T: Transition>(
        &self,
        transition: T,
    ) -> Result<T::Answer, crate::store::StoreError> {
        let committed = self.store.run(transition).await?;
        self.publisher
            .publish(&self.store, &committed.announced)
            .await;
        Ok(committed.answer)
    }

    /// This context for one invocation that must answer by `deadline`.
    pub fn until(&self, deadline: crate::deadline::Deadline) -> Self {
        Self {
            store: self.store.until(deadline),
            ..self.clone()
        }
    }

    /// The clients of a Lambda, built once per cold start.
    pub async fn from_env() -> Result<Self, crate::config::ConfigError> {
        let config = Config::from_env()?;
        let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
        let dynamo = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .timeout_config(dynamodb_timeouts())
            .retry_config(dynamodb_retries())
            .build();
        Ok(Self::new(
            aws_sdk_dynamodb::Client::from_conf(dynamo),
            aws_sdk_sqs::Client::new(&sdk),
            &config,
        ))
    }
}

/// A DynamoDB call answers in milliseconds; one that hangs must become a timeout the store
/// can retry (with the same `ClientRequestToken`) well inside the function's 10 s, never
/// the function's own timeout, which would answer 5xx for a change that may have committed.
/// Two calls at 2.5 s each, a read and a 2 s publish fit.
fn dynamodb_timeouts() -> aws_sdk_dynamodb::config::timeout::TimeoutConfig {
    aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(Duration::from_millis(800))
        .operation_timeout(crate::deadline::CALL)
        .build()
}

/// The SDK's standard retries start at a 1 s backoff, too slow for DynamoDB's own
/// millisecond answers; AWS's DynamoDB clients start near 25-50 ms.
fn dynamodb_retries() -> aws_sdk_dynamodb::config::retry::RetryConfig {
    aws_sdk_dynamodb::config::retry::RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(50))
}
