//! The real binaries as child processes: built fresh, started on a free port, read line by line,
//! and killed when the handle drops, so a failed test never leaves a process running; and where
//! `setpriv` can, also sent SIGTERM when the thread that started them ends, so a test process that
//! is itself killed (a test runner's timeout) leaves none either.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{LazyLock, mpsc};
use std::time::{Duration, Instant};

use crate::Http;

/// How long a binary may take to start, or to exit once told to.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(20);

/// The path of workspace binary `name`, built now if it is stale, with
/// the profile the tests were built with. `cargo build` is a no-op when it is fresh. (No
/// `--target`: that would build every dependency again in a second directory.)
pub fn binary_path(name: &str) -> PathBuf {
    static BUILT: LazyLock<parking_lot::Mutex<HashMap<String, PathBuf>>> =
        LazyLock::new(Default::default);
    BUILT
        .lock()
        .entry(name.to_owned())
        .or_insert_with(|| {
            escargot::CargoBuild::new()
                .manifest_path(crate::repo_root().join("Cargo.toml"))
                // The workspace's feature set, as `cargo build --workspace --bins` builds it, so
                // no dependency is compiled a second time with other features.
                .arg("--workspace")
                .bin(name)
                .current_release()
                .run()
                .unwrap_or_else(|e| panic!("building {name}: {e}"))
                .path()
                .to_path_buf()
        })
        .clone()
}

/// util-linux's `setpriv`, when it can set the parent-death signal: a killed test process
/// runs no `Drop`, and its servers would otherwise run on under PID 1 (a mutation run left one).
/// Setting it in the child ourselves needs `unsafe` `pre_exec`, which the workspace forbids.
fn setpriv() -> Option<&'static str> {
    static SETPRIV: LazyLock<Option<&'static str>> = LazyLock::new(|| {
        let path = "/usr/bin/setpriv";
        Command::new(path)
            .args(["--pdeathsig", "TERM", "--", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
            .then_some(path)
    });
    *SETPRIV
}

/// A command for binary `name` with a clean environment: loopback, OS-chosen ports, JSON logs
/// and no drain delay, then `env` on top. Under `setpriv` (which execs it: the process id is the
/// binary's) it gets SIGTERM, and drains, if the thread that started it ends first.
fn command<V: AsRef<std::ffi::OsStr>>(name: &str, env: &[(&str, V)]) -> Command {
    let binary = binary_path(name);
    let mut cmd = match setpriv() {
        Some(setpriv) => {
            let mut cmd = Command::new(setpriv);
            cmd.args(["--pdeathsig", "TERM", "--"]).arg(&binary);
            cmd
        }
        None => Command::new(&binary),
    };
    cmd.env_clear()
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("ADMIN_PORT", "0")
        .env("LOG_FORMAT", "json")
        .env("SHUTDOWN_DRAIN_SECS", "0")
        .envs(env.iter().map(|(k, v)| (k, v.as_ref())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A binary that should fail to start: its exit code and what it wrote to stderr. A process
/// still running after the timeout is killed and the test fails.
pub fn start_failure<V: AsRef<std::ffi::OsStr>>(
    name: &str,
    env: &[(&str, V)],
) -> (Option<i32>, String) {
    run_to_exit(name, &[], env)
}

/// Runs binary `name` with `args` until it exits on its own (a command such as `api-app
/// migrate`): its exit code and what it wrote to stderr. A process still running after the
/// timeout is killed and the test fails.
pub fn run_to_exit<V: AsRef<std::ffi::OsStr>>(
    name: &str,
    args: &[&str],
    env: &[(&str, V)],
) -> (Option<i32>, String) {
    let mut child = KillOnDrop(
        command(name, env)
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .expect("the binary starts"),
    );
    // Read on a thread: a process that never exits must fail the test at the timeout, not hold
    // it on a read that waits for EOF.
    let mut pipe = child.0.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut stderr = String::new();
        pipe.read_to_string(&mut stderr).map(|_| stderr)
    });
    let status = wait_for_exit(&mut child.0);
    let stderr = reader
        .join()
        .expect("the reader thread ends")
        .expect("stderr is UTF-8");
    (status.code(), stderr)
}

/// A running binary: where it listens, and every line it writes (stdout and stderr).
#[derive(Debug)]
pub struct RealBinary {
    http: Http,
    child: KillOnDrop,
    lines: mpsc::Receiver<String>,
    /// The stdout of a binary started by [`RealBinary::spawn_unread`]: held open, never read.
    _unread_stdout: Option<BufReader<ChildStdout>>,
}

/// Starts binary `name` and returns the first `n` lines it writes (stdout or stderr) that contain
/// `needle`, failing the test if they do not come within the timeout. The process is killed either
/// way: for a binary that never listens because it keeps retrying, and the lines that say why.
pub fn lines_containing(name: &str, env: &[(&str, &str)], needle: &str, n: usize) -> Vec<String> {
    let mut child = KillOnDrop(command(name, env).spawn().expect("the binary starts"));
    let lines = forward_lines(&mut child.0, |_| {});
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    let (mut found, mut others) = (Vec::new(), Vec::new());
    while found.len() < n {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => found.push(line),
            Ok(line) => others.push(line),
            Err(_) => break,
        }
    }
    assert!(
        found.len() == n,
        "{name} wrote {} of {n} lines containing {needle:?}:\n{}\nand:\n{}",
        found.len(),
        found.join("\n"),
        others.join("\n")
    );
    found
}

impl RealBinary {
    /// Starts binary `name` (see [`command`] for its environment) and waits until it is ready:
    /// its admin port answers `/readyz` with 200, as a load balancer waits before sending traffic.
    pub fn spawn(name: &str, env: &[(&str, &str)]) -> Self {
        let app = Self::spawn_listening(name, env);
        app.until_ready();
        app
    }

    /// Waits until the admin port answers `/readyz` with 200; fails the test after the timeout.
    pub fn until_ready(&self) {
        let admin = self.admin_address.trim_start_matches("http://").to_owned();
        wait_until(PROCESS_TIMEOUT, "the process is ready", || {
            let answer = crate::raw_exchange(
                &admin,
                b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                Duration::from_secs(2),
            );
            answer.starts_with("HTTP/1.1 200").then_some(())
        });
    }

    /// As [`RealBinary::spawn`], but returns as soon as the process logs the ports it listens on,
    /// ready or not (api-app opens its store after binding them).
    pub fn spawn_listening(name: &str, env: &[(&str, &str)]) -> Self {
        let mut child = KillOnDrop(command(name, env).spawn().expect("the binary starts"));
        let (port_tx, port_rx) = mpsc::channel();
        let lines = forward_lines(&mut child.0, move |line| {
            if let Some(ports) = logged_ports(line) {
                let _ = port_tx.send(ports);
            }
        });
        let (port, admin_port) = port_rx
            .recv_timeout(PROCESS_TIMEOUT)
            .unwrap_or_else(|_| panic!("{name} logs the ports it listens on"));
        Self {
            http: Http::on_ports(port, admin_port),
            child,
            lines,
            _unread_stdout: None,
        }
    }

    /// As [`RealBinary::spawn`], but its stdout is read only until the port is logged and never
    /// again: the pipe fills and stays full, as behind a stuck log collector.
    pub fn spawn_unread(name: &str, env: &[(&str, &str)]) -> Self {
        let mut child = KillOnDrop(command(name, env).spawn().expect("the binary starts"));
        let mut stdout = BufReader::new(child.0.stdout.take().expect("piped"));
        let mut line = String::new();
        let (port, admin_port) = loop {
            line.clear();
            let read = stdout.read_line(&mut line).expect("stdout is readable");
            assert!(
                read > 0,
                "{name} logs the ports it listens on before closing stdout"
            );
            if let Some(ports) = logged_ports(&line) {
                break ports;
            }
        };
        let (tx, lines) = mpsc::channel();
        forward(child.0.stderr.take().expect("piped"), tx, |_| {});
        let app = Self {
            http: Http::on_ports(port, admin_port),
            child,
            lines,
            _unread_stdout: Some(stdout),
        };
        app.until_ready();
        app
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Sends `signal` (`TERM`, `INT`) to the process.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([format!("-{signal}"), self.child.0.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{signal}");
    }

    /// Waits for the process to exit on its own; fails the test if it takes too long.
    pub fn wait(&mut self) -> ExitStatus {
        wait_for_exit(&mut self.child.0)
    }

    /// SIGTERM, then expects exit 0, and returns every line the process wrote.
    pub fn stop(mut self) -> String {
        self.signal("TERM");
        let status = self.wait();
        assert!(status.success(), "a drained shutdown exits 0: {status}");
        self.output()
    }

    /// Every line the process wrote; call it once the process has exited.
    pub fn output(self) -> String {
        // The reader threads end at EOF, when the process has exited; collect until they do.
        self.lines.iter().collect::<Vec<_>>().join("\n")
    }
}

impl std::ops::Deref for RealBinary {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

/// Every line `child` writes, stdout and stderr, in one channel that ends when the process does;
/// `on_stdout` sees each stdout line first (on the reader thread).
fn forward_lines(
    child: &mut Child,
    on_stdout: impl FnMut(&str) + Send + 'static,
) -> mpsc::Receiver<String> {
    let (tx, lines) = mpsc::channel();
    forward(child.stdout.take().expect("piped"), tx.clone(), on_stdout);
    forward(child.stderr.take().expect("piped"), tx, |_| {});
    lines
}

/// Sends every line of `pipe` to `tx` from a thread of its own, `on_line` seeing each first.
fn forward(
    pipe: impl Read + Send + 'static,
    tx: mpsc::Sender<String>,
    mut on_line: impl FnMut(&str) + Send + 'static,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            on_line(&line);
            let _ = tx.send(line);
        }
    });
}

/// The non-zero `port` and `admin_port` fields of the line that logs both, JSON (`"port":8080`)
/// or text (`port=8080`).
fn logged_ports(line: &str) -> Option<(u16, u16)> {
    let json: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
    let field = |name: &str| {
        json[name]
            .as_u64()
            .or_else(|| {
                let key = format!(" {name}=");
                let rest = &line[line.find(&key)? + key.len()..];
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
    };
    Some((field("port")?, field("admin_port")?))
}

fn wait_for_exit(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("the process can be waited for") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the process did not exit in time"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process that is killed, if it still runs, when a test ends, panicking or not.
#[derive(Debug)]
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// How often [`wait_until`] and [`eventually`] look again.
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

/// A blocking GET for tests that run outside a runtime (the real-binary tests): the status, or
/// None when nothing answered.
pub fn status_of(url: &str, headers: &[(&str, &str)]) -> Option<u16> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let req = headers
            .iter()
            .fold(reqwest::Client::new().get(url), |req, (name, value)| {
                req.header(*name, *value)
            });
        req.send().await.ok().map(|r| r.status().as_u16())
    })
}
