//! The run's own stack, as processes it can pause, kill and start again: DynamoDB Local on
//! disk (so a restart keeps the table), the SQS emulator (which keeps queues in memory: a
//! restart loses them, and the local gateway recreates them), and the local gateway (this
//! binary again, `chaos gateway`), each on a free port, with the scaled-down delays below.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

type Error = String;

/// A redrive delay scaled down from 60 s, so a stopped pipe is covered by the sweeper within
/// the run; its backoff doubles from it as in production.
pub const REDRIVE_DELAY_SECS: u64 = 8;
/// The sweeper's interval, scaled down from a minute.
pub const SWEEP_INTERVAL_SECS: u64 = 2;
/// What the chaos table is called.
pub const TABLE: &str = "chaos";

pub struct Stack {
    root: PathBuf,
    dir: PathBuf,
    pub dynamodb_port: u16,
    pub sqs_port: u16,
    pub gateway_port: u16,
    gateway: Option<Child>,
    /// The product broken on purpose: set again on every gateway start.
    broken: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    DynamoDb,
    Sqs,
}

impl Service {
    fn script(self) -> &'static str {
        match self {
            Self::DynamoDb => "infra/scripts/dynamodb-local.sh",
            Self::Sqs => "infra/scripts/sqs-local.sh",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::DynamoDb => "dynamodb",
            Self::Sqs => "sqs",
        }
    }
}

impl Stack {
    /// Starts all three in a fresh directory under `.local/chaos/<seed>`.
    pub async fn start(seed: u64, broken: bool) -> Result<Self, Error> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let root = root.canonicalize().map_err(|e| format!("{root:?}: {e}"))?;
        let dir = root.join(".local/chaos").join(seed.to_string());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{dir:?}: {e}"))?;
        let mut stack = Self {
            root,
            dir,
            dynamodb_port: free_port()?,
            sqs_port: free_port()?,
            gateway_port: free_port()?,
            gateway: None,
            broken,
        };
        stack.start_service(Service::DynamoDb)?;
        stack.start_service(Service::Sqs)?;
        stack.start_gateway().await?;
        Ok(stack)
    }

    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.gateway_port)
    }

    pub fn dynamodb_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.dynamodb_port)
    }

    fn pid_file(&self, service: Service) -> PathBuf {
        self.dir.join(format!("{}.pid", service.name()))
    }

    fn pid(&self, service: Service) -> Result<String, Error> {
        let file = self.pid_file(service);
        std::fs::read_to_string(&file)
            .map(|s| s.trim().to_owned())
            .map_err(|e| format!("{file:?}: {e}"))
    }

    /// Starts a service with its script, which waits until it answers.
    pub fn start_service(&self, service: Service) -> Result<(), Error> {
        let port = match service {
            Service::DynamoDb => self.dynamodb_port,
            Service::Sqs => self.sqs_port,
        };
        let mut command = Command::new(self.root.join(service.script()));
        command.arg("start").args(["--port", &port.to_string()]);
        if service == Service::DynamoDb {
            command.arg("--db-path").arg(self.dir.join("dynamodb"));
        }
        command
            .arg("--pid-file")
            .arg(self.pid_file(service))
            .arg("--log")
            .arg(self.dir.join(format!("{}.log", service.name())));
        run(command)
    }

    pub fn stop_service(&self, service: Service) -> Result<(), Error> {
        let mut command = Command::new(self.root.join(service.script()));
        command
            .arg("stop")
            .arg("--pid-file")
            .arg(self.pid_file(service));
        run(command)
    }

    /// SIGSTOP: the process holds its sockets and answers nothing, as a stalled host does.
    pub fn pause(&self, service: Service) -> Result<(), Error> {
        signal("-STOP", &self.pid(service)?)
    }

    pub fn resume(&self, service: Service) -> Result<(), Error> {
        signal("-CONT", &self.pid(service)?)
    }

    /// Stopped and started again on the same port (DynamoDB Local on the same files).
    pub fn restart(&self, service: Service) -> Result<(), Error> {
        // A paused process must run again to exit on its signal.
        let _ = self.resume(service);
        self.stop_service(service)?;
        self.start_service(service)
    }

    pub async fn start_gateway(&mut self) -> Result<(), Error> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("gateway.log"))
            .map_err(|e| e.to_string())?;
        let child = Command::new(exe)
            .arg("gateway")
            .env("PORT", self.gateway_port.to_string())
            .env("TABLE_NAME", TABLE)
            .env("DYNAMODB_ENDPOINT", self.dynamodb_endpoint())
            .env(
                "SQS_ENDPOINT",
                format!("http://127.0.0.1:{}", self.sqs_port),
            )
            .env("SWEEP_INTERVAL_SECS", SWEEP_INTERVAL_SECS.to_string())
            .env("REDRIVE_DELAY_SECS", REDRIVE_DELAY_SECS.to_string())
            .env("LOCAL_FAULTS", "1")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting the gateway: {e}"))?;
        self.gateway = Some(child);
        let health = format!("{}/_local/health", self.api());
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(&health).send().await
                && r.status().is_success()
            {
                break;
            }
            if let Some(Ok(Some(status))) = self.gateway.as_mut().map(Child::try_wait) {
                return Err(format!("the gateway exited: {status} (see {:?})", self.dir));
            }
            if tokio::time::Instant::now() > deadline {
                return Err("the gateway did not answer within 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if self.broken {
            let state = serde_json::json!({"dynamodb": self.dynamodb_at_rest(), "rate": 1.0});
            crate::switch::set(&http, &self.api(), state).await?;
        }
        Ok(())
    }

    /// The DynamoDB switch between faults: off, or every condition dropped when the product
    /// is broken on purpose.
    pub fn dynamodb_at_rest(&self) -> &'static str {
        if self.broken { "unconditional" } else { "off" }
    }

    /// SIGKILL, as a Lambda instance dies: requests in flight and a batch in hand are lost.
    pub fn kill_gateway(&mut self) {
        if let Some(mut child) = self.gateway.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn stop(&mut self) {
        self.kill_gateway();
        for service in [Service::DynamoDb, Service::Sqs] {
            let _ = self.resume(service);
            let _ = self.stop_service(service);
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(mut command: Command) -> Result<(), Error> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{command:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn signal(signal: &str, pid: &str) -> Result<(), Error> {
    let mut command = Command::new("kill");
    command.args([signal, pid]);
    run(command)
}

fn free_port() -> Result<u16, Error> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}
