//! A function's init opens its DynamoDB connection, TLS included, so its first invocation
//! reuses it instead of paying for a handshake on the CPU an invocation gets.
//!
//! DynamoDB Local speaks plain HTTP; a TLS terminator of the test's own (a self-signed
//! certificate from `rcgen`, `tokio-rustls`) sits in front of it and counts the handshakes
//! it completes. The function binary trusts that certificate through `SSL_CERT_FILE`.

use coldstart::{Emulator, Setting, binary, sample};
use local_gateway::auth::Auth;
use local_gateway::{LocalStack, Options};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;
use shared::config::Config;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WITHIN: Duration = Duration::from_secs(30);

/// TLS in front of a plain-TCP upstream, counting what passes.
struct Terminator {
    port: u16,
    handshakes: Arc<AtomicUsize>,
    /// Bytes from clients to the upstream, all connections together.
    forwarded: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Terminator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Terminator {
    async fn start(
        cert: CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
        upstream: String,
    ) -> Self {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let forwarded = Arc::new(AtomicUsize::new(0));
        let (count, bytes) = (handshakes.clone(), forwarded.clone());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, count, bytes, upstream) = (
                    acceptor.clone(),
                    count.clone(),
                    bytes.clone(),
                    upstream.clone(),
                );
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    count.fetch_add(1, Ordering::SeqCst);
                    let Ok(plain) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    relay(tls, plain, bytes).await;
                });
            }
        });
        Self {
            port,
            handshakes,
            forwarded,
            task,
        }
    }

    fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }

    fn forwarded(&self) -> usize {
        self.forwarded.load(Ordering::SeqCst)
    }
}

async fn relay(
    tls: tokio_rustls::server::TlsStream<TcpStream>,
    plain: TcpStream,
    forwarded: Arc<AtomicUsize>,
) {
    let (mut tls_read, mut tls_write) = tokio::io::split(tls);
    let (mut plain_read, mut plain_write) = plain.into_split();
    let up = async move {
        let mut buf = vec![0; 16 * 1024];
        while let Ok(n @ 1..) = tls_read.read(&mut buf).await {
            forwarded.fetch_add(n, Ordering::SeqCst);
            if plain_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = plain_write.shutdown().await;
    };
    let down = async move {
        let _ = tokio::io::copy(&mut plain_read, &mut tls_write).await;
        let _ = tls_write.shutdown().await;
    };
    tokio::join!(up, down);
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `make test`, which starts the local services")
    })
}

#[tokio::test]
async fn the_first_invocation_reuses_the_dynamodb_connection_init_opened() {
    let dynamodb_endpoint = env("DYNAMODB_ENDPOINT");
    let sqs_endpoint = env("SQS_ENDPOINT");
    let table = format!("test-{}", ulid::Ulid::generate().to_string().to_lowercase());
    let stack = LocalStack::start(
        Options::new(
            dynamodb_endpoint.clone(),
            sqs_endpoint.clone(),
            Config {
                table_name: table.clone(),
                cursor_secret: "test-cursor-secret".into(),
                queue_urls: Default::default(),
                redrive_delay: Config::DEFAULT_REDRIVE_DELAY,
                release_window: chrono::Duration::days(Config::DEFAULT_RELEASE_WINDOW_DAYS),
                connections_endpoint: None,
            },
            Auth::new("test-secret-that-is-at-least-32-bytes-long"),
        )
        .unwrap(),
    )
    .await
    .expect("the table and queues are created");

    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert_file = std::env::temp_dir().join(format!("{table}.pem"));
    std::fs::write(&cert_file, certified.cert.pem()).unwrap();
    let upstream = dynamodb_endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let terminator = Terminator::start(
        certified.cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        )),
        upstream,
    )
    .await;

    let function = "get-job";
    let mut emulator = Emulator::start(sample(function).unwrap(), true)
        .await
        .unwrap();
    let setting = Setting {
        function: function.into(),
        table: table.clone(),
        queue_urls: stack.queue_urls(),
        dynamodb_endpoint: format!("https://127.0.0.1:{}", terminator.port),
        sqs_endpoint,
        extra: vec![(
            "SSL_CERT_FILE".into(),
            cert_file.to_string_lossy().into_owned(),
        )],
    };
    let path = binary("debug", function);
    assert!(
        path.exists(),
        "{} is missing: `cargo build --workspace --bins` (make test does)",
        path.display()
    );
    let mut child = tokio::process::Command::new(&path)
        .env_clear()
        .envs(setting.environment(emulator.address))
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    emulator
        .first_next(WITHIN)
        .await
        .expect("the function finished its init");
    let (handshakes_at_init, forwarded_at_init) = (terminator.handshakes(), terminator.forwarded());
    emulator.release();
    let answer = emulator
        .answer(WITHIN)
        .await
        .expect("the function answered");
    let _ = child.kill().await;
    let _ = std::fs::remove_file(&cert_file);

    assert_eq!(answer.kind, "response", "{}", answer.body);
    let response: Value = serde_json::from_str(&answer.body).unwrap();
    let body: Value =
        serde_json::from_str(response["body"].as_str().unwrap_or_default()).unwrap_or_default();
    // Its GetItem went through the terminator to DynamoDB Local and found nothing.
    assert_eq!(
        (response["statusCode"].as_u64(), body["code"].as_str()),
        (Some(404), Some("JOB_NOT_FOUND")),
        "{}",
        answer.body
    );
    assert!(
        terminator.forwarded() > forwarded_at_init,
        "the first invocation reached DynamoDB through the terminator"
    );
    assert_eq!(
        handshakes_at_init, 1,
        "init opened exactly one TLS connection to DynamoDB"
    );
    assert_eq!(
        terminator.handshakes(),
        handshakes_at_init,
        "the first invocation made no TLS handshake of its own"
    );
}
