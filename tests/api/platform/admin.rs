//! The admin port: the probes and `/metrics` answer there and only there, with the same JSON and
//! headers as the public port, and no number of public connections delays them.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use integration_tests::api::spawn_app;
use integration_tests::{RealBinary, assert_error};

use super::deadlines::busy_connections;
use platform::admin::ADMIN_PATHS;

#[tokio::test]
async fn the_probes_and_metrics_answer_on_the_admin_port_and_not_on_the_public_one() {
    let app = spawn_app().await;
    assert_ne!(app.port, app.admin_port);
    for path in ADMIN_PATHS {
        let res = app.admin_get(path).await;
        assert_eq!(res.status(), 200, "admin {path}");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{path}");
        assert!(res.headers().contains_key("x-request-id"), "{path}");
        let head = app.client.head(app.admin_url(path)).send().await.unwrap();
        assert_eq!(head.status(), 200, "HEAD admin {path}");
        assert_error(app.get(path).await, 404, "not_found").await;
    }
    let ready: serde_json::Value = app.admin_get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "ok");
}

#[tokio::test]
async fn the_admin_port_serves_nothing_else_and_answers_in_the_json_envelope() {
    let app = spawn_app().await;
    for path in ["/api", "/api/tasks", "/api/health", "/nope"] {
        assert_error(app.admin_get(path).await, 404, "not_found").await;
    }
    let res = app
        .client
        .delete(app.admin_url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["allow"], "GET, HEAD");
    assert_error(res, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn the_admin_ports_metrics_count_the_public_ports_requests_and_not_its_own() {
    let app = spawn_app().await;
    assert_eq!(app.get("/api/health").await.status(), 200);
    for path in ADMIN_PATHS {
        assert_eq!(app.admin_get(path).await.status(), 200);
    }
    let text = app.metrics().await;
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/api/health",status="200"} 1"#),
        "{text}"
    );
    for path in ADMIN_PATHS {
        assert!(
            !text.contains(&format!("route=\"{path}\"")),
            "{path}: {text}"
        );
    }
}

#[test]
fn a_full_public_connection_cap_never_delays_a_probe() {
    let app = RealBinary::spawn(
        "api-app",
        &[
            ("MAX_CONNECTIONS", "16"),
            ("WORKERS", "1"),
            ("REQUEST_DEADLINE_SECS", "30"),
        ],
    );
    let public = app.address.trim_start_matches("http://").to_owned();
    let held = busy_connections(&public, 16);
    // The cap is full: a 17th public connection waits.
    let mut waiting = TcpStream::connect(&public).unwrap();
    waiting
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    waiting
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let mut buf = [0_u8; 64];
    assert!(
        waiting.read(&mut buf).is_err(),
        "the 17th public connection waits while 16 are busy"
    );
    let admin = app.admin_address.trim_start_matches("http://").to_owned();
    for path in ADMIN_PATHS {
        let started = Instant::now();
        let answer = integration_tests::raw_exchange(
            &admin,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            Duration::from_secs(2),
        );
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{path} took {:?}",
            started.elapsed()
        );
    }
    drop(held);
}
