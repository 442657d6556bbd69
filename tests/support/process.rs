//! A service binary as a child process, for the tests that need a real process (signals, exit
//! codes, what reaches stdout and stderr). Its output goes to a log file of its own, removed when
//! the test passes and kept (its path printed) when it fails; the child is killed when the handle
//! drops, so a failed assertion never leaves a server listening.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::binary_path;

/// How often [`wait_until`] looks again.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// Calls `probe` until it returns `Some`, failing the test if `within` passes first. Tests wait for
/// a condition this way instead of sleeping for a guessed time.
pub fn wait_until<T>(within: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(POLL_EVERY);
    }
}

/// The async twin of [`wait_until`], for tests running on a tokio runtime.
pub async fn eventually<T, F>(within: Duration, what: &str, mut probe: impl FnMut() -> F) -> T
where
    F: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// A running (or finished) service process.
#[derive(Debug)]
pub struct Service {
    child: Child,
    log: PathBuf,
}

impl Service {
    /// Starts the workspace binary `name` with only `env` (plus loopback, port 0, JSON logs and no
    /// drain delay unless `env` says otherwise) in its environment.
    pub fn spawn(name: &str, env: &[(&str, &str)]) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let log = std::env::temp_dir().join(format!(
            "{name}-{}-{}.log",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let file = std::fs::File::create(&log).expect("a log file");
        let child = Command::new(binary_path(name))
            .env_clear()
            .envs([
                ("HOST", "127.0.0.1"),
                ("PORT", "0"),
                ("LOG_FORMAT", "json"),
                ("SHUTDOWN_DRAIN_SECS", "0"),
                ("WORKERS", "1"),
            ])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("the log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Self { child, log }
    }

    /// Everything the process has written to stdout and stderr so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The port the process logged it listens on, once it has.
    pub fn port(&mut self) -> u16 {
        wait_until(
            Duration::from_secs(20),
            "the listening port is logged",
            || {
                assert!(
                    self.child.try_wait().ok().flatten().is_none(),
                    "exited before listening:\n{}",
                    self.output()
                );
                self.output().lines().find_map(|line| {
                    let fields: serde_json::Value = serde_json::from_str(line).ok()?;
                    fields["port"].as_u64().filter(|p| *p != 0)?.try_into().ok()
                })
            },
        )
    }

    /// Sends a signal by name (`TERM`, `INT`).
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit, failing the test if it is still running after `within`.
    pub fn exit_within(&mut self, within: Duration) -> ExitStatus {
        wait_until(within, "the process exits", || {
            self.child.try_wait().expect("the child can be polled")
        })
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("the process's output is kept in {}", self.log.display());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
