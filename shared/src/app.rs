use crate::config::Config;
use crate::domain::Transition;
use crate::http::CursorCodec;
use crate::publisher::Publisher;
use crate::store::Store;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
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

    /// Commits a transition: where every request that changes something ends. What it
    /// announced is in its outbox items, which the table's stream carries to the queue; the
    /// request itself makes its one read and its one write, and no call to SQS.
    pub async fn commit<T: Transition>(
        &self,
        transition: T,
    ) -> Result<T::Answer, crate::store::StoreError> {
        Ok(self.store.run(transition).await?.answer)
    }

    /// This context for one invocation that must answer by `deadline`.
    pub fn until(&self, deadline: crate::deadline::Deadline) -> Self {
        Self {
            store: self.store.until(deadline),
            ..self.clone()
        }
    }

    /// The handlers over `clients`.
    pub fn with_clients(clients: Clients, config: &Config) -> Self {
        Self::new(clients.dynamo, clients.sqs, config)
    }

    /// The clients of a Lambda, built once per cold start.
    pub async fn from_env() -> Result<Self, crate::config::ConfigError> {
        let config = Config::from_env()?;
        Ok(Self::with_clients(Clients::from_env().await, &config))
    }
}

/// The AWS clients the handlers use. The Lambdas and the local stack build them here alike,
/// so a DynamoDB that hangs locally answers 503 as it would in production, instead of
/// holding the request for as long as the SDK's defaults allow.
#[derive(Clone, Debug)]
pub struct Clients {
    pub dynamo: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Clients {
    /// From the SDK's own chain: the function's role, region and any `AWS_ENDPOINT_URL_*`.
    pub async fn from_env() -> Self {
        let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Self::from_sdk(&sdk, &sdk)
    }

    /// For emulators (DynamoDB Local, the SQS emulator): only the endpoints, the region and
    /// the credentials differ from production, and emulators take any credentials.
    pub fn local(dynamodb_endpoint: &str, sqs_endpoint: &str) -> Self {
        Self::from_sdk(
            &local_sdk_config(dynamodb_endpoint),
            &local_sdk_config(sqs_endpoint),
        )
    }

    fn from_sdk(dynamo: &SdkConfig, sqs: &SdkConfig) -> Self {
        Self {
            dynamo: aws_sdk_dynamodb::Client::from_conf(dynamodb_config(dynamo).build()),
            sqs: aws_sdk_sqs::Client::new(sqs),
        }
    }
}

/// An emulator's SDK settings. Static, so nothing is looked up on the machine (profiles,
/// instance metadata) and a local run never reaches AWS.
pub fn local_sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "local", "local", None, None, "local",
        )))
        .endpoint_url(endpoint)
        .build()
}

/// The DynamoDB client configuration every client starts from; public so that a test can
/// give it an HTTP client that injects faults and keep the rest.
pub fn dynamodb_config(sdk: &SdkConfig) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::from(sdk)
        .timeout_config(dynamodb_timeouts())
        .retry_config(dynamodb_retries())
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
