//! `spawn_demo()`, a recording fake API and a raw-socket client for request-line tricks.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use demo_app::config::Config;
use integration_tests::{Http, ShutdownTrigger, test_env};

/// The upstream timeout the test apps use, so "slow API" tests finish quickly.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_millis(700);
/// How long the fake API's `/api/slow` takes: well past [`UPSTREAM_TIMEOUT`].
const SLOW_FOR: Duration = Duration::from_secs(3);

/// Every log line of this test binary, kept in memory so that no log file is left behind, for
/// tests that assert what is never logged.
static LOGS: LazyLock<Arc<parking_lot::Mutex<Vec<u8>>>> = LazyLock::new(|| {
    let buffer = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let sink = Arc::clone(&buffer);
    platform::telemetry::init_with_writer(
        platform::telemetry::LogFormat::Json,
        "info,demo_app=trace,platform=trace",
        move || LogBuffer(Arc::clone(&sink)),
    );
    buffer
});

/// Appends to [`LOGS`].
struct LogBuffer(Arc<parking_lot::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock()).into_owned()
}

pub use integration_tests::assert_error;

/// A running demo-app and a client for it that never follows redirects (`url`, `get`, `client`,
/// `address` and `port` come from [`Http`]).
#[derive(Debug)]
pub struct TestDemo {
    pub http: Http,
    pub shutdown: ShutdownTrigger,
}

/// Starts demo-app proxying to `api_url` (or not proxying, with `None`).
pub async fn spawn_demo(api_url: Option<&str>) -> TestDemo {
    spawn_demo_with(api_url, &[]).await
}

pub async fn spawn_demo_with(api_url: Option<&str>, vars: &[(&str, &str)]) -> TestDemo {
    LazyLock::force(&LOGS);
    let overrides: Vec<(&str, &str)> = api_url
        .map(|url| ("API_URL", url))
        .into_iter()
        .chain(vars.iter().copied())
        .collect();
    let mut config = Config::from_vars(test_env(&overrides)).expect("valid test configuration");
    config.upstream_timeout = UPSTREAM_TIMEOUT;
    config.upstream_connect_timeout = UPSTREAM_TIMEOUT;
    spawn_demo_from(config).await
}

/// Starts demo-app with exactly `config`.
pub async fn spawn_demo_from(config: Config) -> TestDemo {
    LazyLock::force(&LOGS);
    let app = demo_app::startup::build(config)
        .await
        .expect("demo-app starts");
    let http = Http::on_ports(app.port(), app.admin_port());
    let shutdown = ShutdownTrigger::default();
    tokio::spawn(app.run_until(shutdown.triggered()));
    TestDemo { http, shutdown }
}

impl std::ops::Deref for TestDemo {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

impl TestDemo {
    /// Sends `raw` (a whole HTTP/1.1 request) on a fresh connection and returns the raw answer.
    pub async fn raw(&self, raw: String) -> String {
        let port = self.port;
        tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            stream.write_all(raw.as_bytes()).expect("write");
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).expect("read");
            String::from_utf8_lossy(&answer).into_owned()
        })
        .await
        .expect("the raw request ran")
    }
}

/// One request as the fake API received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Recorder = Arc<tokio::sync::Mutex<Vec<Seen>>>;

/// A tiny upstream that records every request. Its answers depend on the path:
/// `/api/slow` sleeps past the proxy's timeout; `/api/redirect?to=URL` answers 302 to URL;
/// `/api/headers` answers with hop-by-hop, private and allow-listed headers; anything else answers
/// 201 to POST and 200 otherwise, echoing the body (or `{"ok":true}`) with the request's content type.
#[derive(Debug)]
pub struct FakeApi {
    pub address: String,
    pub port: u16,
    seen: Recorder,
    handle: ServerHandle,
}

impl FakeApi {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let seen: Recorder = Arc::default();
        let data = web::Data::new(seen.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(record))
        })
        .workers(1)
        // One request per connection: once stopped, the API refuses connections rather than
        // leaving one in the proxy's pool that a worker still answers for a moment.
        .keep_alive(actix_web::http::KeepAlive::Disabled)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            address: format!("http://127.0.0.1:{port}"),
            port,
            seen,
            handle,
        }
    }

    pub async fn seen(&self) -> Vec<Seen> {
        self.seen.lock().await.clone()
    }

    /// The single request received, failing if there were more or none.
    pub async fn only(&self) -> Seen {
        let seen = self.seen().await;
        assert_eq!(
            seen.len(),
            1,
            "expected exactly one upstream request: {seen:?}"
        );
        seen.into_iter().next().unwrap()
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

async fn record(req: HttpRequest, body: web::Bytes, seen: web::Data<Recorder>) -> HttpResponse {
    let entry = Seen {
        method: req.method().to_string(),
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("<binary>").to_owned()))
            .collect(),
        body: body.to_vec(),
    };
    seen.lock().await.push(entry);

    match req.path() {
        "/api/slow" => {
            tokio::time::sleep(SLOW_FOR).await;
            HttpResponse::Ok().json(serde_json::json!({"late": true}))
        }
        "/api/redirect" => {
            let to = req.query_string().strip_prefix("to=").unwrap_or("/");
            HttpResponse::Found()
                .insert_header(("location", to))
                .finish()
        }
        "/api/headers" => HttpResponse::Ok()
            .insert_header(("content-type", "application/json"))
            .insert_header(("etag", "\"v1\""))
            .insert_header(("cache-control", "max-age=5"))
            .insert_header(("www-authenticate", "ApiKey"))
            .insert_header(("retry-after", "3"))
            .insert_header(("idempotent-replayed", "true"))
            .insert_header(("set-cookie", "session=upstream"))
            .insert_header(("x-powered-by", "fake"))
            .insert_header(("x-upstream-internal", "10.0.0.7"))
            .insert_header(("keep-alive", "timeout=5"))
            .insert_header(("proxy-authenticate", "Basic"))
            .insert_header(("trailer", "x-checksum"))
            .insert_header(("access-control-allow-origin", "*"))
            .body("{}"),
        _ => {
            let status = if req.method() == actix_web::http::Method::POST {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let content_type = req
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_owned();
            let body = if body.is_empty() {
                web::Bytes::from_static(br#"{"ok":true}"#)
            } else {
                body
            };
            HttpResponse::build(status)
                .insert_header(("content-type", content_type))
                .body(body)
        }
    }
}

/// An address where nothing listens: bound once to get a free port, then released.
pub fn closed_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
