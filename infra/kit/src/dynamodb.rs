//! A DynamoDB Local of a test's own, for a test that must make it misbehave without
//! disturbing the shared one every other test runs against.

use std::path::{Path, PathBuf};

/// DynamoDB Local in memory on a free port, started by the same script as `make test`'s;
/// killed when dropped, even paused and even when the test fails.
pub struct PrivateDynamoDb {
    pub endpoint: String,
    pid: String,
    dir: PathBuf,
}

impl PrivateDynamoDb {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // The script runs DynamoDB Local from the pid file's folder, where it leaves a file.
        let dir = std::env::temp_dir().join(format!("dynamodb-{}", ulid::Ulid::generate()));
        std::fs::create_dir_all(&dir).expect("a folder for DynamoDB Local");
        let pid_file = dir.join("dynamodb.pid");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/dynamodb-local.sh");
        let started = tokio::process::Command::new(script)
            .args(["start", "--in-memory", "--port", &port.to_string()])
            .arg("--pid-file")
            .arg(&pid_file)
            .arg("--log")
            .arg(dir.join("dynamodb.log"))
            .stdout(std::process::Stdio::null())
            .status()
            .await
            .expect("infra/scripts/dynamodb-local.sh runs");
        let pid = std::fs::read_to_string(&pid_file)
            .map(|p| p.trim().to_owned())
            .unwrap_or_default();
        let dynamodb = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            pid,
            dir,
        };
        assert!(started.success(), "DynamoDB Local did not start");
        dynamodb
    }

    /// Freezes the process: connections are still accepted, nothing is answered, as when
    /// DynamoDB hangs.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let _ = std::process::Command::new("kill")
            .args([signal, &self.pid])
            .status();
    }
}

impl Drop for PrivateDynamoDb {
    fn drop(&mut self) {
        if !self.pid.is_empty() {
            self.signal("-KILL");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
