//! `spawn_app()`: each test gets its own api-app on a free port, in memory or on PostgreSQL as the
//! pass asks (`TEST_STORE`), and a client for it (typed requests come from [`Http`]).

use std::sync::LazyLock;
use std::time::Duration;

use api_app::config::Config;
use api_app::startup::Application;
use serde_json::Value;

use crate::{Http, ShutdownTrigger, pg, test_env};

/// The key every test app accepts, and the previous one during a rotation.
pub const API_KEY: &str = "test-current-key-R7w2Kq9ZpX4mV8cN1bL5hT3y";
pub const API_KEY_PREVIOUS: &str = "test-previous-key-J6d0Fs8GuW2eQ9aY4oP7iM1x";

/// Logs stay quiet unless `TEST_LOG` is set.
static TRACING: LazyLock<()> = LazyLock::new(|| {
    let format = platform::telemetry::LogFormat::Pretty;
    if std::env::var_os("TEST_LOG").is_some() {
        platform::telemetry::init_with_writer(format, "info", std::io::stdout);
    } else {
        platform::telemetry::init_with_writer(format, "info", std::io::sink);
    }
});

/// A running api-app and a client for it (`url`, `get`, `client`, `address` come from [`Http`]).
#[derive(Debug)]
pub struct TestApp {
    pub http: Http,
    pub shutdown: ShutdownTrigger,
    pub server: tokio::task::JoinHandle<Result<(), api_app::startup::RunError>>,
}

/// Starts api-app on 127.0.0.1:0 with both keys configured.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[("API_KEY", API_KEY), ("API_KEY_PREVIOUS", API_KEY_PREVIOUS)]).await
}

/// A password file for the suite's database URLs, as every cluster mounts one (dev and prod refuse
/// to start without it). The throwaway server trusts its superuser on loopback and never asks for it.
static PASSWORD_FILE: LazyLock<String> = LazyLock::new(|| {
    let path = std::env::temp_dir().join(format!("api-suite-password-{}", std::process::id()));
    std::fs::write(
        &path,
        "unused: the test server trusts its superuser on loopback\n",
    )
    .expect("the temporary directory is writable");
    path.to_string_lossy().into_owned()
});

/// Starts api-app with extra environment variables (on top of HOST, PORT=0 and a zero drain delay).
/// With `TEST_STORE=postgres` (scripts/check-rust.sh's second pass), every app gets a fresh
/// PostgreSQL database of its own; with `TEST_STORE=postgres-replicas` (the third pass), two
/// processes share it; otherwise it runs the in-memory store.
pub async fn spawn_app_with(vars: &[(&str, &str)]) -> TestApp {
    LazyLock::force(&TRACING);
    let database = if pg::api_suite_uses_postgres() {
        // Encrypted, as a cluster must ask for (the throwaway server speaks TLS).
        Some(format!("{}?sslmode=require", pg::fresh_database().await))
    } else {
        None
    };
    let own_password = vars.iter().any(|(k, _)| *k == "DATABASE_PASSWORD_FILE");
    let store_vars = database.iter().flat_map(|url| {
        [("DATABASE_URL", url.as_str()), ("DATABASE_POOL_MAX", "4")]
            .into_iter()
            .chain((!own_password).then(|| ("DATABASE_PASSWORD_FILE", PASSWORD_FILE.as_str())))
    });
    let vars: Vec<(&str, &str)> = store_vars.chain(vars.iter().copied()).collect();
    let config = Config::from_vars(test_env(&vars)).expect("valid test configuration");
    let replica = if pg::api_suite_store() == pg::ApiSuiteStore::PostgresReplicas {
        // The second process stops with the test's runtime, as the first does unless a test
        // triggers its shutdown.
        let app = build(config.clone()).await;
        let ports = (app.port(), app.admin_port());
        tokio::spawn(app.run_until(std::future::pending()));
        until_ready(&Http::on_ports(ports.0, ports.1)).await;
        Some(ports.0)
    } else {
        None
    };
    let app = build(config).await;
    let http = match &replica {
        Some(port) => Http::with_replica(app.port(), app.admin_port(), *port),
        None => Http::on_ports(app.port(), app.admin_port()),
    };
    let shutdown = ShutdownTrigger::default();
    let server = tokio::spawn(app.run_until(shutdown.triggered()));
    until_ready(&http).await;
    TestApp {
        http,
        shutdown,
        server,
    }
}

/// Builds the app; it binds its ports at once and opens the store in the background.
async fn build(config: Config) -> Application {
    api_app::startup::build(config)
        .await
        .expect("the app starts")
}

/// Waits until the app is ready, as a load balancer would before sending it traffic, failing the
/// test if that takes over 20 s: on PostgreSQL the store retries a database it cannot reach (or
/// cannot handshake with) forever, which must fail a test, not hang it.
pub async fn until_ready(http: &Http) {
    crate::eventually(
        Duration::from_secs(20),
        "the app is ready (is its database reachable?)",
        || async {
            let res = http.client.get(http.admin_url("/readyz")).send().await;
            res.is_ok_and(|r| r.status() == 200).then_some(())
        },
    )
    .await;
}

/// The store kind the suite's apps report: `postgres` or `memory`.
pub fn store_kind() -> &'static str {
    if pg::api_suite_uses_postgres() {
        "postgres"
    } else {
        "memory"
    }
}

impl std::ops::Deref for TestApp {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

impl TestApp {
    /// The stats, fetched with the current key.
    pub async fn stats(&self) -> Value {
        let res = self.stats_with_key(Some(API_KEY)).await;
        assert_eq!(res.status(), 200, "stats with the current key");
        res.json().await.expect("a JSON body")
    }
}

/// Starts a POST of a `body_len`-byte JSON body to `path` on a fresh connection and sends only
/// `partial` of it: the request stays in flight until the rest is written to the returned stream. It returns
/// once api-app has answered `100 Continue`, that is, once it has parsed the head and is handling
/// the request, so a test never has to guess how long that takes.
pub async fn request_in_flight(
    app: &TestApp,
    path: &str,
    body_len: usize,
    partial: &[u8],
) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = app.address.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {body_len}\r\nexpect: 100-continue\r\n\r\n"
    );
    conn.write_all(head.as_bytes())
        .await
        .expect("the head is sent");
    let mut answer = [0_u8; 64];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), conn.read(&mut answer))
        .await
        .expect("api-app answers the head")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 100"), "{answer}");
    conn.write_all(partial)
        .await
        .expect("part of the body is sent");
    conn
}
