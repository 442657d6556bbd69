//! The real api-app executable, started as its own process against a database.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use integration_tests::binary_path;

/// A running api-app process. Dropping it kills the process.
#[derive(Debug)]
pub struct AppProcess {
    pub child: Child,
    pub port: u16,
}

fn command(env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(binary_path("api-app"));
    cmd.env_clear()
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn,api_app=info,platform=info")
        .env("SHUTDOWN_DRAIN_SECS", "0")
        .env("WORKERS", "2")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

impl AppProcess {
    /// Starts api-app and waits (at most 20 s) until it logs the port it listens on.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let mut child = command(env).spawn().expect("api-app starts");
        let stdout = child.stdout.take().unwrap();
        let (port_tx, port_rx) = mpsc::channel();
        // Reads every log line for the life of the process, so a full pipe never blocks it.
        std::thread::spawn(move || {
            let mut port_tx = Some(port_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let port = serde_json::from_str::<serde_json::Value>(&line)
                    .ok()
                    .and_then(|json| json["port"].as_u64())
                    .filter(|p| *p != 0);
                if let (Some(port), Some(tx)) = (port, port_tx.as_ref()) {
                    let _ = tx.send(port);
                    port_tx = None;
                }
            }
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("api-app logs its port within 20 s");
        Self {
            child,
            port: u16::try_from(port).unwrap(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// SIGKILL: no drain, no chance to flush anything.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs api-app expecting it to exit by itself within `within`; returns its exit code, stdout and
/// stderr.
pub fn run_to_exit(env: &[(&str, &str)], within: Duration) -> (Option<i32>, String, String) {
    let mut child = command(env).spawn().expect("api-app starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > within {
            let _ = child.kill();
            panic!("api-app was still running after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), out, err)
}
