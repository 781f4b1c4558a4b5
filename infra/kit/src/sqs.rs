//! An SQS emulator of a test's own, for a test that stops and restarts it without
//! disturbing the shared one every other test runs against.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The SQS emulator (moto) on a free port, started by the same script as `make test`'s;
/// killed when dropped, even paused and even when the test fails. It keeps its queues in
/// memory: [`PrivateSqs::restart`] loses them, as a restart of the shared one would.
pub struct PrivateSqs {
    pub endpoint: String,
    port: u16,
    dir: PathBuf,
}

impl PrivateSqs {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("sqs-{}", ulid::Ulid::generate()));
        std::fs::create_dir_all(&dir).expect("a folder for the SQS emulator");
        let sqs = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            dir,
        };
        sqs.run().await;
        sqs
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("sqs.pid")
    }

    fn pid(&self) -> String {
        std::fs::read_to_string(self.pid_file())
            .map(|p| p.trim().to_owned())
            .unwrap_or_default()
    }

    /// Starts it on its port; returns once it answers.
    async fn run(&self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/sqs-local.sh");
        let started = tokio::process::Command::new(script)
            .args(["start", "--port", &self.port.to_string()])
            .arg("--pid-file")
            .arg(self.pid_file())
            .arg("--log")
            .arg(self.dir.join("sqs.log"))
            .stdout(std::process::Stdio::null())
            .status()
            .await
            .expect("infra/scripts/sqs-local.sh runs");
        assert!(started.success(), "the SQS emulator did not start");
    }

    /// Kills it (its queues and messages go with it) and waits until its port is free.
    pub async fn stop(&self) {
        self.signal("-KILL");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_ok()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the SQS emulator still listens after it was killed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stopped and started again on the same port, without its queues.
    pub async fn restart(&self) {
        self.stop().await;
        self.run().await;
    }

    /// Freezes the process: connections are still accepted, nothing is answered.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.pid();
        if !pid.is_empty() {
            let _ = std::process::Command::new("kill")
                .args([signal, &pid])
                .status();
        }
    }
}

impl Drop for PrivateSqs {
    fn drop(&mut self) {
        self.signal("-KILL");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
