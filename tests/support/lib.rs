//! Helpers shared by the integration and contract test binaries.

pub mod api;
pub mod facts;
pub mod imports;
pub mod k8s;
pub mod pg;
mod process;
pub mod terraform;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

pub use process::{
    RealBinary, binary_path, eventually, lines_containing, run_to_exit, start_failure, status_of,
    wait_until,
};

/// The repository root (the workspace that holds `k8s/`, `terraform/` and `.github/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_path_buf()
}

/// Runs `cmd` to its end: whether it succeeded, and its stdout then stderr as one text (a script's
/// verdict and every line it printed, for the assertion messages of the script tests).
pub fn run_for_text(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("the command starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Renders a kustomization folder (relative to the repo root) with `kubectl kustomize` and returns
/// every document it produces.
pub fn kustomize(dir: &str) -> Vec<serde_yaml_ng::Value> {
    let path = repo_root().join(dir);
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(&path)
        .output()
        .expect("kubectl is installed");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_yaml_stream(&String::from_utf8(out.stdout).expect("kustomize prints UTF-8"))
}

/// `path` relative to the repository root, with symbolic links and `..` resolved; the path must exist.
pub fn repo_relative(path: &Path) -> String {
    let full = path
        .canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    full.strip_prefix(
        repo_root()
            .canonicalize()
            .expect("the repository root exists"),
    )
    .unwrap_or_else(|_| panic!("{} is outside the repository", full.display()))
    .to_string_lossy()
    .into_owned()
}

/// Reads a YAML file (one or more documents) relative to the repo root.
pub fn read_yaml(rel: &str) -> Vec<serde_yaml_ng::Value> {
    let text = std::fs::read_to_string(repo_root().join(rel))
        .unwrap_or_else(|e| panic!("reading {rel}: {e}"));
    parse_yaml_stream(&text)
}

/// The repo-relative paths of every `.ext` file under directory `rel`, sorted (Terraform's
/// `.terraform` caches left out).
pub fn files_under(rel: &str, ext: &str) -> Vec<String> {
    fn walk(dir: &std::path::Path, ext: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a readable directory entry").path();
            if path.is_dir() && !path.ends_with(".terraform") {
                walk(&path, ext, out);
            } else if path.extension().is_some_and(|x| x == ext) {
                let rel = path.strip_prefix(repo_root()).expect("under the repo");
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo_root().join(rel), ext, &mut out);
    out.sort();
    out
}

/// Reads a text file relative to the repo root.
pub fn read_text(rel: &str) -> String {
    std::fs::read_to_string(repo_root().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

/// Runs git in `dir` (a scratch repository of a script test) as a fixed test identity, and returns
/// its stdout; a failure panics with git's stderr.
pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@localhost"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("git {args:?}: {e}"));
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("git prints UTF-8")
}

fn parse_yaml_stream(text: &str) -> Vec<serde_yaml_ng::Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("valid YAML"))
        .filter(|v: &serde_yaml_ng::Value| !v.is_null())
        .collect()
}

/// The objects of one `kind` among rendered documents.
pub fn of_kind<'a>(
    docs: &'a [serde_yaml_ng::Value],
    kind: &'a str,
) -> impl Iterator<Item = &'a serde_yaml_ng::Value> + 'a {
    docs.iter()
        .filter(move |d| d["kind"].as_str() == Some(kind))
}

/// The environment every in-process test server starts from: loopback, OS-chosen ports, no
/// drain delay and two workers. `overrides` are applied in order, and a later value for the same
/// variable wins, as it would in a real environment.
pub fn test_env(overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    let defaults = [
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("ADMIN_PORT", "0"),
        ("SHUTDOWN_DRAIN_SECS", "0"),
        ("WORKERS", "2"),
    ];
    defaults
        .iter()
        .chain(overrides)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .collect()
}

/// An HTTP client for black-box tests: it never follows redirects, so tests see what was answered.
pub fn test_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// Sends `request` as raw bytes to `address` (`http://host:port` or `host:port`) and returns
/// everything the server answers until it closes the connection, or until `wait` passes.
pub fn raw_exchange(address: &str, request: &[u8], wait: std::time::Duration) -> String {
    use std::io::Write as _;
    let mut stream = std::net::TcpStream::connect(address.trim_start_matches("http://"))
        .expect("the server accepts connections");
    let _ = stream.write_all(request);
    read_until_closed(&mut stream, wait).0
}

/// Everything the server sends on `stream` until it closes the connection (the end of the stream,
/// or a reset) or `wait` passes, and whether it closed: a read that merely timed out is no close.
pub fn read_until_closed(
    stream: &mut std::net::TcpStream,
    wait: std::time::Duration,
) -> (String, bool) {
    use std::io::{ErrorKind, Read as _};
    stream.set_read_timeout(Some(wait)).expect("a read timeout");
    let mut answer = Vec::new();
    let closed = match stream.read_to_end(&mut answer) {
        Ok(_) => true,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    };
    (String::from_utf8_lossy(&answer).into_owned(), closed)
}

/// A server under test on 127.0.0.1, and a client for it. The test harnesses of both apps and of
/// the real binaries dereference to it.
#[derive(Debug, Clone)]
pub struct Http {
    /// The public port's `http://127.0.0.1:<port>`.
    pub address: String,
    pub port: u16,
    /// The admin port's (probes and metrics) `http://127.0.0.1:<admin port>`.
    pub admin_address: String,
    pub admin_port: u16,
    pub client: reqwest::Client,
    /// A second replica on the same database: `get` sends task reads (`/api/tasks...`) there.
    replica: Option<String>,
}

impl Http {
    /// A server whose public port is `port` and admin port `admin_port`.
    pub fn on_ports(port: u16, admin_port: u16) -> Self {
        Self {
            address: format!("http://127.0.0.1:{port}"),
            port,
            admin_address: format!("http://127.0.0.1:{admin_port}"),
            admin_port,
            client: test_client(),
            replica: None,
        }
    }

    /// As [`Http::on_ports`], with task reads through [`Http::get`] answered by the replica on
    /// `replica_port`, so a test reads back through the other process what it wrote through this one.
    pub fn with_replica(port: u16, admin_port: u16, replica_port: u16) -> Self {
        Self {
            replica: Some(format!("http://127.0.0.1:{replica_port}")),
            ..Self::on_ports(port, admin_port)
        }
    }

    /// `path` on the public port.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `path` on the second replica in the replicas pass; on this server otherwise.
    pub fn replica_url(&self, path: &str) -> String {
        format!("{}{path}", self.replica.as_deref().unwrap_or(&self.address))
    }

    /// `path` on the admin port (`/healthz`, `/readyz`, `/metrics`).
    pub fn admin_url(&self, path: &str) -> String {
        format!("{}{path}", self.admin_address)
    }

    /// GETs `path` on the admin port.
    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.admin_url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        let url = match &self.replica {
            Some(replica) if path.starts_with("/api/tasks") => format!("{replica}{path}"),
            _ => self.url(path),
        };
        self.client.get(url).send().await.expect("request sent")
    }

    /// GETs `path` and parses its JSON body.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.expect("a JSON body")
    }

    /// The Prometheus text the server exposes at `/metrics` on its admin port.
    pub async fn metrics(&self) -> String {
        self.admin_get("/metrics")
            .await
            .text()
            .await
            .expect("a text body")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// `POST /api/tasks` with `title`, whatever the answer.
    pub async fn post_task(&self, title: &str) -> reqwest::Response {
        self.post_json("/api/tasks", &json!({ "title": title }))
            .await
    }

    /// Creates a task and returns it, failing the test unless the answer is 201.
    pub async fn create_task(&self, title: &str) -> Value {
        let res = self.post_task(title).await;
        assert_eq!(res.status(), 201, "creating {title:?}");
        res.json().await.expect("a task")
    }

    /// `GET /api/tasks/{id}`'s JSON body (read from the other replica in the replicas pass).
    pub async fn task(&self, id: &str) -> Value {
        self.get_json(&format!("/api/tasks/{id}")).await
    }

    /// Every stored task, in creation order, read by following `next_offset` `limit` at a time.
    pub async fn all_tasks(&self, limit: usize) -> Vec<Value> {
        let mut tasks = Vec::new();
        let mut offset = Some(0_u64);
        while let Some(o) = offset {
            let mut page = self
                .get_json(&format!("/api/tasks?limit={limit}&offset={o}"))
                .await;
            offset = page["next_offset"].as_u64();
            tasks.append(page["items"].as_array_mut().expect("items"));
        }
        tasks
    }

    pub async fn patch_task(&self, id: &str, body: &Value) -> reqwest::Response {
        self.client
            .patch(self.url(&format!("/api/tasks/{id}")))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn delete_task(&self, id: &str) -> reqwest::Response {
        self.client
            .delete(self.url(&format!("/api/tasks/{id}")))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn stats_with_key(&self, key: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url("/api/protected/stats"));
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        req.send().await.expect("request sent")
    }
}

/// The value of one series (`name` or `name{labels}`) in Prometheus text; `None` when it is not
/// exported. Every series the suites read counts or is a non-negative gauge.
pub fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
}

/// The value of one series in Prometheus text, 0 when it is not exported (a counter not yet touched).
pub fn counter(text: &str, series: &str) -> u64 {
    sample(text, series).unwrap_or(0)
}

/// Triggers `shutdown` and checks what the probes say while the server drains: readiness turns 503
/// `shutting_down` at once, while the listener still answers, and liveness stays 200 (a draining
/// process must not be restarted).
pub async fn assert_readiness_drains_first(http: &Http, shutdown: &ShutdownTrigger) {
    assert_eq!(
        http.admin_get("/readyz").await.status(),
        200,
        "ready before"
    );
    shutdown.trigger();
    let ready = eventually(
        std::time::Duration::from_secs(5),
        "readiness turns 503",
        || async move {
            let res = http.admin_get("/readyz").await;
            (res.status() == 503).then_some(res)
        },
    )
    .await;
    assert_eq!(
        ready.json::<Value>().await.expect("a JSON body")["status"],
        "shutting_down"
    );
    assert_eq!(
        http.admin_get("/healthz").await.status(),
        200,
        "liveness stays up while draining"
    );
}

/// Asserts the response is the JSON error envelope with `status` and `code`, with the security
/// headers every answer carries; returns the message.
pub async fn assert_error(res: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(res.status(), status, "status");
    let content_type = res.headers()["content-type"]
        .to_str()
        .expect("a text content type")
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let body: serde_json::Value = res.json().await.expect("a JSON body");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"]
        .as_str()
        .expect("a message")
        .to_owned();
    assert!(!message.is_empty());
    message
}

/// The shutdown a test passes to `Application::run_until` in place of SIGTERM: [`trigger`] starts
/// the same drain a signal would.
///
/// [`trigger`]: ShutdownTrigger::trigger
#[derive(Debug, Clone, Default)]
pub struct ShutdownTrigger(std::sync::Arc<tokio::sync::Notify>);

impl ShutdownTrigger {
    /// Starts the graceful shutdown, exactly as SIGTERM would.
    pub fn trigger(&self) {
        self.0.notify_one();
    }

    /// Resolves once [`ShutdownTrigger::trigger`] has been called.
    pub fn triggered(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let notify = std::sync::Arc::clone(&self.0);
        async move { notify.notified().await }
    }
}
