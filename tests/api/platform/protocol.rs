//! One protocol, one form: no upgrades or tunnels, HEAD wherever GET is served, and request heads
//! that are slow or oversized get a bounded answer.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use integration_tests::api::spawn_app;
use integration_tests::{assert_error, raw_exchange};
use reqwest::header::HeaderValue;

#[tokio::test]
async fn an_upgrade_header_or_connect_gets_a_json_400_and_the_connection_closes() {
    let app = spawn_app().await;
    let requests: [&[u8]; 4] = [
        // Before: actix read this body until the client closed, ignoring Content-Length.
        b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
        b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: upgrade, http2-settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    ];
    for request in requests {
        let address = app.address.clone();
        let started = Instant::now();
        let answer = tokio::task::spawn_blocking(move || {
            raw_exchange(&address, request, Duration::from_secs(5))
        })
        .await
        .unwrap();
        let head = String::from_utf8_lossy(&request[..20]);
        assert!(answer.starts_with("HTTP/1.1 400"), "{head}: {answer}");
        assert!(answer.contains("connection: close"), "{head}: {answer}");
        assert!(
            answer.contains(r#""code":"upgrade_not_supported""#),
            "{head}: {answer}"
        );
        assert!(
            answer.contains("x-content-type-options: nosniff"),
            "{answer}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{head}: the server closed the connection itself"
        );
    }
    assert_eq!(app.get("/api/health").await.status(), 200);
}

#[tokio::test]
async fn head_is_answered_on_every_get_route_with_headers_and_no_body() {
    let app = spawn_app().await;
    let task = app.create_task("head me").await;
    let id = task["id"].as_str().unwrap();
    for path in [
        "/api".to_owned(),
        "/api/health".to_owned(),
        "/api/tasks".to_owned(),
        format!("/api/tasks/{id}"),
        "/api/echo?message=hi".to_owned(),
    ] {
        let get = app.get(&path).await;
        assert_eq!(get.status(), 200, "GET {path}");
        let res = app.client.head(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "HEAD {path}");
        assert_eq!(
            res.headers()["content-type"],
            get.headers()["content-type"],
            "HEAD {path}"
        );
        assert!(res.headers().contains_key("x-request-id"), "HEAD {path}");
        assert!(
            res.bytes().await.unwrap().is_empty(),
            "HEAD {path} has no body"
        );
    }
    // The raw answer: a length for the GET body, and no body bytes after the head.
    let address = app.address.clone();
    let answer = tokio::task::spawn_blocking(move || {
        raw_exchange(
            &address,
            b"HEAD /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        )
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n"), "no body: {answer}");
    assert!(!answer.contains("content-length: 0\r\n"), "{answer}");
}

/// The server's `client_request_timeout` (`platform::configure_server!`).
const HEAD_DEADLINE: Duration = Duration::from_secs(5);

/// Opens a raw connection, sends `head` (an unfinished request head) and then one more byte every
/// `drip` until the server answers or closes. Returns what it answered and when.
fn unfinished_head(
    address: &str,
    head: &'static [u8],
    drip: Option<Duration>,
) -> (String, Duration) {
    let addr = address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(drip.unwrap_or(Duration::from_secs(1))))
        .unwrap();
    let started = Instant::now();
    stream.write_all(head).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0_u8; 512];
    while started.elapsed() < HEAD_DEADLINE * 3 {
        if drip.is_some() && stream.write_all(b"a").is_err() {
            break; // closed by the server
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break, // reset by the server
        }
    }
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_dropped_after_a_bounded_time() {
    let app = spawn_app().await;
    let silent = {
        let address = app.address.clone();
        tokio::task::spawn_blocking(move || {
            unfinished_head(&address, b"GET /api/health HTTP/1.1\r\nHost: x\r\n", None)
        })
    };
    // Slowloris: a byte a second keeps a per-read timeout happy, but not a deadline.
    let dripping = {
        let address = app.address.clone();
        tokio::task::spawn_blocking(move || {
            unfinished_head(
                &address,
                b"GET /api/health HTTP/1.1\r\nHost: x\r\nx-drip: ",
                Some(Duration::from_millis(500)),
            )
        })
    };
    for (answer, took) in [silent.await.unwrap(), dripping.await.unwrap()] {
        assert!(
            took + Duration::from_millis(500) >= HEAD_DEADLINE,
            "dropped after {took:?}, before the deadline: {answer}"
        );
        assert!(
            took < HEAD_DEADLINE + Duration::from_secs(3),
            "still connected after {took:?}"
        );
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );
    }
    assert_eq!(app.get("/api/health").await.status(), 200, "still serving");
}

#[tokio::test]
async fn oversized_headers_get_a_4xx_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let huge = HeaderValue::from_str(&"a".repeat(256 * 1024)).unwrap();
    let res = app
        .client
        .get(app.url("/api/health"))
        .header("x-padding", huge)
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    // A 4xx, or a closed connection; never a 5xx and never a hang.
    match res {
        Ok(res) => assert_eq!(res.status(), 431),
        Err(e) => assert!(!e.is_timeout(), "{e}"),
    }
    let mut many = app.client.get(app.url("/api/health"));
    for i in 0..200 {
        many = many.header(format!("x-h{i}"), "v");
    }
    match many.timeout(Duration::from_secs(10)).send().await {
        Ok(res) => assert_eq!(res.status(), 431),
        Err(e) => assert!(!e.is_timeout(), "{e}"),
    }
    assert_eq!(app.get("/api/health").await.status(), 200, "still serving");
}

#[tokio::test]
async fn oversized_query_strings_get_a_4xx_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    // Over the message limit, over the URI limit, and over the whole-head limit.
    for len in [1025, 70_000, 200_000] {
        let path = format!("/api/echo?message={}", "a".repeat(len));
        let res = app
            .client
            .get(app.url(&path))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match res {
            Ok(res) => assert!(res.status().is_client_error(), "{len}: {}", res.status()),
            Err(e) => assert!(len > 1025 && !e.is_timeout(), "{len}: {e}"),
        }
    }
    let res = app
        .get(&format!("/api/echo?message={}", "a".repeat(1025)))
        .await;
    assert_error(res, 400, "invalid_message").await;
    let res = app
        .get(&format!("/api/tasks?limit=10&{}=1", "x".repeat(4000)))
        .await;
    assert_error(res, 400, "invalid_query").await;
    assert_eq!(app.get("/api/health").await.status(), 200, "still serving");
}

/// `GET path` on a fresh connection to `address`, as sent (no client normalises it).
async fn get_raw(address: &str, path: &str) -> String {
    let (address, request) = (
        address.to_owned(),
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    );
    tokio::task::spawn_blocking(move || {
        raw_exchange(&address, request.as_bytes(), Duration::from_secs(5))
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_path_spelled_with_percent_escapes_is_refused_on_both_ports_and_never_aliases_a_route() {
    let app = spawn_app().await;
    for (address, path) in [
        (&app.address, "/%61pi/tasks"),
        (&app.address, "/api/t%61sks"),
        (&app.address, "/%6detrics"),
        (&app.address, "/api/%2e%2e/tasks"),
        (&app.admin_address, "/healt%68z"),
        (&app.admin_address, "/%6detrics"),
    ] {
        let answer = get_raw(address, path).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
        assert!(
            answer.contains(r#""code":"invalid_path""#),
            "{path}: {answer}"
        );
    }
    // Escapes the router keeps as they are alias nothing: they match no route.
    for path in ["/api/tasks%2F", "/api%2Ftasks"] {
        let answer = get_raw(&app.address, path).await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
    }
    // A character a path cannot hold as it is has only its escaped spelling: its route judges it.
    let answer = get_raw(&app.address, "/api/tasks/%7Bid%7D").await;
    assert!(answer.contains(r#""code":"invalid_id""#), "{answer}");
    let text = app.metrics().await;
    assert!(
        text.contains(r#"route="unmatched",status="400""#),
        "refused paths count as unmatched: {text}"
    );
    assert!(!text.contains("%61") && !text.contains("%6d"), "{text}");
}
