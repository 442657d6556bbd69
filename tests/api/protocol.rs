//! One protocol, one form: no upgrades or tunnels, HEAD wherever GET is served.

use std::time::{Duration, Instant};

use integration_tests::raw_exchange;

use crate::helpers::spawn_app;

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
        "/healthz".to_owned(),
        "/metrics".to_owned(),
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
