//! What demo-app's README promises about its proxy and page, each checked against the exact value
//! it states: upstream answers relayed unchanged, the headers it names relayed or dropped, the
//! 8 MiB response cap, the documented timeouts, `/ui/info` and the JSON fallback.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use demo_app::config::Config;
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::helpers::{assert_error, logs, spawn_demo, spawn_demo_from};

/// An upstream that answers every request with the same bytes, written exactly as given, so a test
/// controls what an actix server would never send (a `Connection` header naming other headers, a
/// body one byte over a limit). It records the head of each request it received.
struct CannedApi {
    address: String,
    heads: Arc<Mutex<Vec<String>>>,
}

impl CannedApi {
    fn start(head: &str, body: &[u8]) -> Self {
        Self::start_after(head, body, Duration::ZERO)
    }

    /// The same, `delay` after each request's head arrived.
    fn start_after(head: &str, body: &[u8], delay: Duration) -> Self {
        let mut response = format!(
            "{head}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        response.extend_from_slice(body);
        Self::answering_after(response, delay)
    }

    /// An upstream that writes `response` as it is, then closes the connection.
    fn answering(response: Vec<u8>) -> Self {
        Self::answering_after(response, Duration::ZERO)
    }

    /// [`Self::answering`], `delay` after each request's head arrived.
    fn answering_after(response: Vec<u8>, delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = format!("http://{}", listener.local_addr().expect("address"));
        let response: Arc<[u8]> = response.into();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&heads);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let (response, seen) = (Arc::clone(&response), Arc::clone(&seen));
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut buf = [0_u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    seen.lock()
                        .push(String::from_utf8_lossy(&head).to_ascii_lowercase());
                    std::thread::sleep(delay);
                    let _ = conn.write_all(&response);
                });
            }
        });
        Self { address, heads }
    }

    /// The single request head received, lower-cased.
    fn only_head(&self) -> String {
        let heads = self.heads.lock();
        assert_eq!(heads.len(), 1, "{heads:?}");
        heads[0].clone()
    }
}

#[tokio::test]
async fn upstream_client_and_server_errors_are_relayed_unchanged() {
    for (status, reason) in [
        (400, "Bad Request"),
        (401, "Unauthorized"),
        (404, "Not Found"),
        (409, "Conflict"),
        (413, "Payload Too Large"),
        (422, "Unprocessable Entity"),
        (500, "Internal Server Error"),
        (503, "Service Unavailable"),
    ] {
        let body = json!({"error": {"code": format!("upstream_{status}"), "message": reason}});
        let api = CannedApi::start(
            &format!("HTTP/1.1 {status} {reason}\r\ncontent-type: application/json"),
            body.to_string().as_bytes(),
        );
        let demo = spawn_demo(Some(&api.address)).await;
        let res = demo.get("/api/tasks").await;
        assert_eq!(res.status(), status);
        assert_eq!(res.headers()["content-type"], "application/json");
        assert_eq!(res.json::<Value>().await.unwrap(), body, "{status}");
    }
}

/// The response headers the README says are relayed, with values an upstream might send.
const RELAYED: [(&str, &str); 11] = [
    ("content-type", "application/json"),
    ("content-encoding", "gzip"),
    ("content-language", "en"),
    ("cache-control", "max-age=5"),
    ("etag", "\"v1\""),
    ("last-modified", "Wed, 21 Oct 2026 07:28:00 GMT"),
    ("vary", "accept-encoding"),
    ("allow", "GET, POST"),
    ("www-authenticate", "ApiKey"),
    ("retry-after", "3"),
    (
        "content-security-policy",
        "default-src 'none'; img-src 'self'",
    ),
];

#[tokio::test]
async fn every_listed_response_header_is_relayed_with_its_value() {
    let head = RELAYED
        .iter()
        .fold("HTTP/1.1 200 OK".to_owned(), |head, (name, value)| {
            format!("{head}\r\n{name}: {value}")
        });
    // Bytes that are not JSON: a gzip body is relayed as it came, never decoded.
    let body = b"\x1f\x8b\x08\x00not-really-gzip";
    let api = CannedApi::start(&format!("{head}\r\nlocation: /api/docs/"), body);
    let demo = spawn_demo(Some(&api.address)).await;
    let res = demo.get("/api/tasks").await;
    assert_eq!(res.status(), 200);
    for (name, value) in RELAYED {
        assert_eq!(
            res.headers().get(name).map(|v| v.to_str().unwrap()),
            Some(value),
            "{name}"
        );
    }
    assert_eq!(res.headers()["location"], "/api/docs/");
    assert_eq!(&res.bytes().await.unwrap()[..], body);
}

#[tokio::test]
async fn response_headers_the_upstream_names_in_connection_are_dropped() {
    let api = CannedApi::start(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: etag, Vary\r\n\
         etag: \"v1\"\r\nvary: accept\r\ncontent-language: en",
        b"{}",
    );
    let demo = spawn_demo(Some(&api.address)).await;
    let res = demo.get("/api/tasks").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("etag").is_none(), "{:?}", res.headers());
    assert!(res.headers().get("vary").is_none(), "{:?}", res.headers());
    assert_eq!(
        res.headers()["content-language"],
        "en",
        "unnamed headers stay"
    );
}

#[tokio::test]
async fn conditional_request_headers_reach_the_api_unless_named_in_connection() {
    let conditional = [
        ("if-none-match", "\"v1\""),
        ("if-modified-since", "Wed, 21 Oct 2026 07:28:00 GMT"),
    ];
    let api = CannedApi::start("HTTP/1.1 304 Not Modified", b"");
    let demo = spawn_demo(Some(&api.address)).await;
    let mut req = demo.client.get(demo.url("/api/tasks"));
    for (name, value) in conditional {
        req = req.header(name, value);
    }
    assert_eq!(req.send().await.unwrap().status(), 304);
    let head = api.only_head();
    for (name, value) in conditional {
        assert!(
            head.contains(&format!("{name}: {}", value.to_ascii_lowercase())),
            "{name} did not reach the API: {head}"
        );
    }

    let api = CannedApi::start("HTTP/1.1 304 Not Modified", b"");
    let demo = spawn_demo(Some(&api.address)).await;
    let answer = demo
        .raw(format!(
            "GET /api/tasks HTTP/1.1\r\nHost: x\r\nif-none-match: \"v1\"\r\n\
             if-modified-since: {}\r\nConnection: close, If-None-Match\r\n\r\n",
            conditional[1].1
        ))
        .await;
    assert!(answer.starts_with("HTTP/1.1 304"), "{answer}");
    let head = api.only_head();
    assert!(!head.contains("if-none-match"), "{head}");
    assert!(head.contains("if-modified-since"), "{head}");
}

#[tokio::test]
async fn responses_up_to_8_mib_are_relayed_and_larger_ones_refused() {
    let cap = 8 * 1024 * 1024;
    let api = CannedApi::start(
        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream",
        &vec![b'x'; cap],
    );
    let demo = spawn_demo(Some(&api.address)).await;
    let res = demo.get("/api/docs/big.js").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().len(), cap, "relayed whole");

    let api = CannedApi::start(
        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream",
        &vec![b'x'; cap + 1],
    );
    let demo = spawn_demo(Some(&api.address)).await;
    let res = demo.get("/api/docs/big.js").await;
    assert_error(res, 502, "upstream_unavailable").await;
}

/// A write the proxy has forwarded may be committing in api-app, so demo-app's request deadline
/// waits for its answer, as api-app's own does for the store's: a 408 promises nothing was
/// written. The upstream timeout still bounds the wait. A read gets the deadline's 408.
#[tokio::test]
async fn a_forwarded_write_is_answered_by_the_upstream_not_by_the_deadline() {
    let api = CannedApi::start_after(
        "HTTP/1.1 201 Created\r\ncontent-type: application/json",
        b"{}",
        Duration::from_millis(2500),
    );
    let mut config = Config::from_vars(integration_tests::test_env(&[
        ("API_URL", &api.address),
        ("REQUEST_DEADLINE_SECS", "1"),
    ]))
    .unwrap();
    config.upstream_timeout = Duration::from_secs(5);
    let demo = spawn_demo_from(config).await;
    let res = demo
        .client
        .post(demo.url("/api/tasks"))
        .header("content-type", "application/json")
        .body(r#"{"title":"slow"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "api-app's answer, not a 408");
    assert_error(demo.get("/api/tasks").await, 408, "request_timeout").await;
}

#[tokio::test]
async fn a_connection_that_never_opens_is_cut_off_by_the_connect_timeout() {
    // A listener that never accepts, with its accept queue already full: the kernel drops further
    // connection attempts, so connecting to it hangs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let address = listener.local_addr().unwrap();
    let _queued = std::net::TcpStream::connect(address).unwrap();

    let mut config = Config::from_vars(integration_tests::test_env(&[(
        "API_URL",
        &format!("http://{address}"),
    )]))
    .unwrap();
    config.upstream_connect_timeout = Duration::from_millis(300);
    config.upstream_timeout = Duration::from_secs(8);
    let demo = spawn_demo_from(config).await;
    let started = std::time::Instant::now();
    let res = demo.get("/api/tasks").await;
    let waited = started.elapsed();
    assert_error(res, 504, "upstream_timeout").await;
    assert!(
        waited < Duration::from_secs(4),
        "the connect timeout, not the total one, answered: {waited:?}"
    );
}

#[test]
fn the_proxy_waits_2_s_to_connect_and_10_s_in_all() {
    let config = Config::from_vars(integration_tests::test_env(&[(
        "API_URL",
        "http://127.0.0.1:8080/",
    )]))
    .unwrap();
    assert_eq!(config.upstream_connect_timeout, Duration::from_secs(2));
    assert_eq!(config.upstream_timeout, Duration::from_secs(10));
    assert_eq!(config.api_url.as_deref(), Some("http://127.0.0.1:8080"));
}

#[tokio::test]
async fn ui_info_says_whether_this_demo_app_proxies_the_api() {
    for (api_url, proxying) in [(Some("http://127.0.0.1:9"), true), (None, false)] {
        let demo = spawn_demo(api_url).await;
        let info: Value = demo.get("/ui/info").await.json().await.unwrap();
        assert_eq!(info["api_proxy"], proxying, "{api_url:?}");
    }
}

#[tokio::test]
async fn unrouted_and_unknown_paths_answer_exactly_the_json_error_shape() {
    let demo = spawn_demo(None).await;
    // An asset name the page does not have is the asset route's own answer; any other unknown path
    // is the app's fallback. Both are demo-app's JSON, not a bare 404 dressed up by the safety net.
    let no_route = "no route matches this path";
    for (path, message) in [
        ("/static/missing.js", "no such asset"),
        ("/static/app.jsx", "no such asset"),
        ("/static/", no_route),
        ("/static/nested/app.js", no_route),
        ("/favicon.ico", no_route),
        ("/ui", no_route),
        ("/ui/info/extra", no_route),
    ] {
        let res = demo.get(path).await;
        assert_eq!(res.status(), 404, "{path}");
        assert_eq!(res.headers()["content-type"], "application/json", "{path}");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body,
            json!({"error": {"code": "not_found", "message": message}}),
            "{path}"
        );
    }
}

/// A raw POST to `/api/tasks` whose body of `len` spaces is sent in 4 KiB chunks
/// (`Transfer-Encoding: chunked`, so no length is declared up front).
fn chunked_post(len: usize) -> String {
    let mut raw = "POST /api/tasks HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\
                   transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        .to_owned();
    let mut left = len;
    while left > 0 {
        let n = left.min(4096);
        let _ = write!(raw, "{n:x}\r\n{}\r\n", " ".repeat(n));
        left -= n;
    }
    raw.push_str("0\r\n\r\n");
    raw
}

#[tokio::test]
async fn request_bodies_over_64_kib_are_refused_even_without_a_declared_length() {
    let limit = 64 * 1024;
    let api = crate::helpers::FakeApi::start();
    let demo = spawn_demo(Some(&api.address)).await;
    let at_limit = demo.raw(chunked_post(limit)).await;
    assert!(at_limit.starts_with("HTTP/1.1 201"), "{at_limit}");
    let over = demo.raw(chunked_post(limit + 1)).await;
    assert!(over.starts_with("HTTP/1.1 413"), "{over}");
    assert!(over.contains("payload_too_large"), "{over}");
    let seen = api.seen().await;
    assert_eq!(seen.len(), 1, "only the body at the limit was forwarded");
    assert_eq!(seen[0].body.len(), limit);
}

#[tokio::test]
async fn a_declared_oversized_body_is_refused_before_it_is_sent() {
    let api = crate::helpers::FakeApi::start();
    let demo = spawn_demo(Some(&api.address)).await;
    // The head alone: were the proxy to wait for these 100 MB, no answer would come.
    let answer = demo
        .raw(
            "POST /api/tasks HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\
             content-length: 100000000\r\nconnection: close\r\n\r\n"
                .to_owned(),
        )
        .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(api.seen().await.is_empty());
}

#[tokio::test]
async fn an_answer_cut_short_by_the_upstream_is_a_502_not_a_success() {
    // Announced 100 bytes, sent 7, closed; and a whole answer beside it, which passes.
    let cut = CannedApi::answering(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{\"id\":".to_vec(),
    );
    let demo = spawn_demo(Some(&cut.address)).await;
    assert_error(demo.get("/api/tasks").await, 502, "upstream_unavailable").await;
    assert!(
        logs().contains("the upstream response ended before its content-length"),
        "the cut is logged"
    );

    let whole = CannedApi::start(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json",
        br#"{"id":"1"}"#,
    );
    let demo = spawn_demo(Some(&whole.address)).await;
    let res = demo.get("/api/tasks").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), r#"{"id":"1"}"#);
}

#[tokio::test]
async fn a_bodiless_answer_may_announce_a_length_it_does_not_send() {
    // A 304 may carry the Content-Length of the representation it stands for (RFC 9110, 8.6);
    // a 204 should not, but a wrong one sends no body either. Neither is an answer cut short.
    // (The upstream closes after the head: awc would otherwise wait for the announced bytes on a
    // kept-alive connection and the proxy answer 504 at its timeout. api-app sends no length on
    // either, so its answers never meet that.)
    for (status, reason) in [(304, "Not Modified"), (204, "No Content")] {
        let api = CannedApi::answering(
            format!(
                "HTTP/1.1 {status} {reason}\r\ncontent-length: 25\r\nconnection: close\r\n\r\n"
            )
            .into_bytes(),
        );
        let demo = spawn_demo(Some(&api.address)).await;
        let res = demo.get("/api/tasks/1").await;
        assert_eq!(res.status(), status, "relayed as it is");
    }
}
