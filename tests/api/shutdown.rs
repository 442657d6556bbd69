//! Graceful shutdown: readiness flips at once, in-flight requests finish, the server stops.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use integration_tests::eventually;

use crate::helpers::{request_in_flight, spawn_app_with};

#[tokio::test]
async fn shutdown_flips_readiness_and_finishes_in_flight_requests() {
    let app = spawn_app_with(&[("SHUTDOWN_DRAIN_SECS", "1")]).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    // A request whose body has not fully arrived is in flight: its handler awaits the payload.
    let body = br#"{"title":"finished during the drain"}"#;
    let mut conn = request_in_flight(&app, "/api/tasks", body.len(), &body[..10]).await;

    app.shutdown.trigger();
    // Readiness turns 503 while the listener is still open (a GET that cannot connect fails).
    let app_ref = &app;
    let ready = eventually(
        Duration::from_secs(5),
        "readiness turns 503",
        || async move {
            let res = app_ref.get("/readyz").await;
            (res.status() == 503).then_some(res)
        },
    )
    .await;
    assert_eq!(
        ready.json::<Value>().await.unwrap()["status"],
        "shutting_down"
    );
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "liveness stays up while draining"
    );
    assert_eq!(app.get("/api/health").await.status(), 503);

    // After the drain delay the listener closes; the in-flight request still completes.
    let addr = app.address.trim_start_matches("http://").to_owned();
    let addr = addr.as_str();
    eventually(
        Duration::from_secs(10),
        "the listener closes",
        || async move { tokio::net::TcpStream::connect(addr).await.err().map(drop) },
    )
    .await;
    conn.write_all(&body[10..]).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut response))
        .await
        .expect("the in-flight request is answered")
        .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");

    let stopped = tokio::time::timeout(Duration::from_secs(10), app.server).await;
    assert!(
        matches!(stopped, Ok(Ok(Ok(())))),
        "the server stops cleanly: {stopped:?}"
    );
}

#[tokio::test]
async fn new_connections_are_refused_after_the_drain() {
    let app = spawn_app_with(&[("SHUTDOWN_DRAIN_SECS", "0")]).await;
    let address = app.address.clone();
    app.shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(10), app.server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let refused = reqwest::get(format!("{address}/healthz")).await;
    assert!(
        refused.is_err(),
        "the listener is closed once the server stopped"
    );
}
