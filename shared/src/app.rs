use crate::config::Config;
use crate::domain::{Keyed, KeyedRequest, Transition};
use crate::http::{ApiError, CursorCodec, idempotency};
use crate::publisher::Publisher;
use crate::sockets::Sockets;
use crate::store::Store;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use lambda_http::{Body, Response};
use std::time::Duration;

/// What every handler needs, built once per cold start and cloned (cheaply) per request.
#[derive(Clone, Debug)]
pub struct App {
    pub store: Store,
    pub cursors: CursorCodec,
    pub publisher: Publisher,
    /// The Management API of the WebSocket API: pushes, answers on a socket, closes.
    pub sockets: Sockets,
    pub redrive_delay: Duration,
    pub release_window: chrono::Duration,
}

impl App {
    pub fn new(
        dynamo: aws_sdk_dynamodb::Client,
        sqs: Option<aws_sdk_sqs::Client>,
        sockets: Option<aws_sdk_apigatewaymanagement::Client>,
        config: &Config,
    ) -> Self {
        Self {
            store: Store::new(dynamo, config.table_name.as_str()),
            cursors: CursorCodec::new(config.cursor_secret.as_bytes()),
            publisher: Publisher::new(sqs, config.queue_urls.clone()),
            sockets: Sockets::new(sockets),
            redrive_delay: config.redrive_delay,
            release_window: config.release_window,
        }
    }

    /// Commits a transition and answers with `render` of its answer: where every request
    /// that changes something ends. What it announced is in its outbox items, which the
    /// table's stream carries to the queue; the request itself makes its one read and its
    /// one write, and no call to SQS.
    ///
    /// A request sent with an `Idempotency-Key` commits its answer in the same transaction
    /// as the change, unless its read found the key holding an answer already: that one is
    /// the answer then, and nothing is written.
    pub async fn commit<T, R>(
        &self,
        transition: T,
        render: R,
    ) -> Result<(T::Answer, Response<Body>), ApiError>
    where
        T: Transition,
        R: Fn(&T::Answer) -> Response<Body> + Sync,
    {
        let answer = match self.store.keyed_request() {
            None => self.store.run(transition).await?.answer,
            Some(request) => {
                if let Some(record) = self.store.recorded()
                    && request.replay(record, crate::time::now()).is_some()
                {
                    return Err(ApiError::KeyTaken(Box::new(record.clone())));
                }
                let keyed = Keyed {
                    inner: transition,
                    request: request.clone(),
                    render: |answer: &T::Answer| idempotency::stored(&render(answer)),
                };
                self.store.run(keyed).await?.answer
            }
        };
        let response = render(&answer);
        Ok((answer, response))
    }

    /// This context for one invocation that must answer by `deadline`.
    pub fn until(&self, deadline: crate::deadline::Deadline) -> Self {
        Self {
            store: self.store.until(deadline),
            ..self.clone()
        }
    }

    /// This context for a request sent with an `Idempotency-Key`.
    pub fn keyed(&self, request: KeyedRequest) -> Self {
        Self {
            store: self.store.keyed(request),
            ..self.clone()
        }
    }

    /// The handlers over `clients`.
    pub fn with_clients(clients: Clients, config: &Config) -> Self {
        Self::new(clients.dynamo, Some(clients.sqs), clients.sockets, config)
    }

    /// The clients of a Lambda, built once per cold start, with the DynamoDB connection
    /// already open.
    pub async fn from_env() -> Result<Self, crate::config::ConfigError> {
        let config = Config::from_env()?;
        // Only a function told the queues (the sweeper) builds an SQS client: the others
        // announce through the table's stream and never call SQS.
        let (dynamo, sqs, sockets) = Clients::from_env(
            !config.queue_urls.is_empty(),
            config.connections_endpoint.as_deref(),
        )
        .await;
        open_dynamodb_connection(&dynamo).await;
        Ok(Self::new(dynamo, sqs, sockets, &config))
    }
}

/// The most init waits for the DynamoDB connection: a TLS handshake at init's full CPU takes
/// tens of milliseconds; one that takes longer is left to the first request.
const OPEN_CONNECTION: Duration = Duration::from_millis(800);

/// The AWS clients the handlers use. The Lambdas and the local stack build them here alike,
/// so a DynamoDB that hangs locally answers 503 as it would in production, instead of
/// holding the request for as long as the SDK's defaults allow.
#[derive(Clone, Debug)]
pub struct Clients {
    pub dynamo: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// The WebSocket API's Management API, where one is configured.
    pub sockets: Option<aws_sdk_apigatewaymanagement::Client>,
}

impl Clients {
    /// A Lambda's clients, from what Lambda's environment says (region, the role's
    /// credentials, any `AWS_ENDPOINT_URL_*`), over one HTTP client; an SQS client only
    /// `with_sqs`, a Management API client only given its endpoint. Without credentials in
    /// the environment (not under Lambda) the SDK's own chain finds them.
    pub async fn from_env(
        with_sqs: bool,
        connections_endpoint: Option<&str>,
    ) -> (
        aws_sdk_dynamodb::Client,
        Option<aws_sdk_sqs::Client>,
        Option<aws_sdk_apigatewaymanagement::Client>,
    ) {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let http = https_client(var("SSL_CERT_FILE").is_some() || var("SSL_CERT_DIR").is_some());
        let (dynamo, sqs) = match lambda_sdk_config(&var, http.clone()) {
            Some(sdk) => {
                let endpoint = |service: &str| {
                    var(&format!("AWS_ENDPOINT_URL_{service}")).or(var("AWS_ENDPOINT_URL"))
                };
                let with_endpoint = |url: Option<String>| match url {
                    Some(url) => sdk.to_builder().endpoint_url(url).build(),
                    None => sdk.clone(),
                };
                (
                    with_endpoint(endpoint("DYNAMODB")),
                    with_endpoint(endpoint("SQS")),
                )
            }
            None => {
                let sdk = aws_config::defaults(BehaviorVersion::latest())
                    .http_client(http)
                    .load()
                    .await;
                (sdk.clone(), sdk)
            }
        };
        (
            aws_sdk_dynamodb::Client::from_conf(dynamodb_config(&dynamo).build()),
            with_sqs.then(|| aws_sdk_sqs::Client::new(&sqs)),
            connections_endpoint.map(|url| sockets_client(&sqs, url)),
        )
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
            sockets: None,
        }
    }

    /// These clients with a Management API client for `endpoint` (the local gateway's own
    /// `@connections`, known once it listens).
    pub fn with_sockets(self, endpoint: &str) -> Self {
        Self {
            sockets: Some(sockets_client(&local_sdk_config(endpoint), endpoint)),
            ..self
        }
    }
}

/// A Management API client for the WebSocket API at `endpoint` (its stage's URL): the
/// shared settings with the endpoint, which is the API's own, not a regional one.
fn sockets_client(sdk: &SdkConfig, endpoint: &str) -> aws_sdk_apigatewaymanagement::Client {
    aws_sdk_apigatewaymanagement::Client::from_conf(
        aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .build(),
    )
}

/// Opens the pooled DynamoDB connection (TCP, TLS) during init, which Lambda runs at full
/// CPU, so that the first request does not pay for the handshake on the slice of a CPU an
/// invocation gets. DescribeEndpoints reads no table; its answer does not matter (any
/// answer leaves the connection open in the pool), nor does a failure: the first request
/// then connects as it would have.
async fn open_dynamodb_connection(dynamo: &aws_sdk_dynamodb::Client) {
    let call = dynamo.describe_endpoints().send();
    match tokio::time::timeout(OPEN_CONNECTION, call).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::debug!(error = %crate::telemetry::error_chain(&e), "DescribeEndpoints at init failed")
        }
        Err(_) => tracing::warn!("DynamoDB did not answer at init; the first request connects"),
    }
}

/// The settings Lambda gives every function in its environment: the region and the
/// execution role's credentials (valid for the environment's lifetime). Read directly,
/// because the SDK's chains would first look for profile files and instance metadata a
/// Lambda does not have.
fn lambda_sdk_config(
    var: &dyn Fn(&str) -> Option<String>,
    http: SharedHttpClient,
) -> Option<SdkConfig> {
    let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION"))?;
    let credentials = Credentials::new(
        var("AWS_ACCESS_KEY_ID")?,
        var("AWS_SECRET_ACCESS_KEY")?,
        var("AWS_SESSION_TOKEN"),
        None,
        "LambdaEnvironment",
    );
    Some(
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .http_client(http)
            // What the SDK's loader would set: the rest comes from the clients' defaults.
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_millis(3100))
                    .build(),
            )
            .retry_config(aws_config::retry::RetryConfig::standard())
            .build(),
    )
}

/// One HTTPS client for every AWS client of the process: one connection pool, and the
/// trust store built once. `SSL_CERT_FILE` or `SSL_CERT_DIR` (a test's own CA, a proxy's)
/// make it trust those files instead, as they would OpenSSL.
fn https_client(roots_from_files: bool) -> SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let trust = if roots_from_files {
        TrustStore::default()
    } else {
        TrustStore::empty().with_pem_certificate(AWS_ROOTS_PEM)
    };
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .expect("a TLS context of a trust store alone always builds"),
        )
        .build_https()
}

/// The roots every AWS endpoint's certificate chains to, as AWS documents for its services
/// (Amazon Trust Services: Amazon Root CA 1–4, and Starfield Services Root CA G2 that
/// cross-signs them), compiled in so that init reads no certificate files. Only these five:
/// the SDK takes roots as PEM and parses every one when it builds its connector, and picking
/// them out of a whole root set at run time touches every page of it; the whole Mozilla set
/// cost more than the rest of init together. A test checks each is Mozilla's own, as
/// `webpki-root-certs` ships it.
const AWS_ROOTS_PEM: &[u8] = include_bytes!("aws-roots.pem");

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

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    #[test]
    fn the_compiled_in_roots_are_mozillas_amazon_trust_services_roots() {
        let roots: Vec<CertificateDer> = CertificateDer::pem_slice_iter(AWS_ROOTS_PEM)
            .collect::<Result<_, _>>()
            .expect("the SDK's PEM reader reads them");
        let names = [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ];
        assert_eq!(roots.len(), names.len());
        for (root, name) in roots.iter().zip(names) {
            assert!(
                webpki_root_certs::TLS_SERVER_ROOT_CERTS.contains(root),
                "{name} is not in Mozilla's set as webpki-root-certs ships it"
            );
            assert!(
                root.as_ref()
                    .windows(name.len())
                    .any(|w| w == name.as_bytes()),
                "the certificate of {name}"
            );
        }
    }
}
