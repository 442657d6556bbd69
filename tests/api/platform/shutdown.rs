//! The lifecycle: probes, graceful shutdown (readiness flips at once, in-flight requests finish),
//! and the real binary's answer to SIGTERM, SIGINT and a second signal.

use std::time::{Duration, Instant};

use integration_tests::api::{request_in_flight, spawn_app, spawn_app_with};
use integration_tests::{
    RealBinary, assert_readiness_drains_first, eventually, status_of, wait_until,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[tokio::test]
async fn probes_report_ok_once_started() {
    let app = spawn_app().await;
    for path in [
        platform::probes::LIVENESS_PATH,
        platform::probes::READINESS_PATH,
    ] {
        let res = app.admin_get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.json::<Value>().await.unwrap()["status"], "ok");
    }
    let health: Value = app.get("/api/health").await.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(
        health["store"]["kind"],
        integration_tests::api::store_kind()
    );
    assert_eq!(health["store"]["reachable"], true);
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["uptime_seconds"].is_u64());
}

#[tokio::test]
async fn shutdown_flips_readiness_and_finishes_in_flight_requests() {
    let app = spawn_app_with(&[("SHUTDOWN_DRAIN_SECS", "1")]).await;

    // A request whose body has not fully arrived is in flight: its handler awaits the payload.
    let body = br#"{"title":"finished during the drain"}"#;
    let mut conn = request_in_flight(&app, "/api/tasks", body.len(), &body[..10]).await;

    // Readiness turns 503 while the listener is still open, and liveness holds.
    assert_readiness_drains_first(&app, &app.shutdown).await;
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

#[tokio::test]
async fn shutdown_timeout_secs_bounds_how_long_in_flight_requests_may_take() {
    let app = spawn_app_with(&[("SHUTDOWN_TIMEOUT_SECS", "1")]).await;
    // A request whose body never finishes arriving keeps its worker busy for as long as it is allowed.
    let mut stuck = request_in_flight(&app, "/api/tasks", 100, br#"{"title""#).await;
    let started = Instant::now();
    app.shutdown.trigger();
    let stopped = tokio::time::timeout(Duration::from_secs(10), app.server).await;
    let took = started.elapsed();
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
    assert!(
        took >= Duration::from_millis(900),
        "the in-flight request was given its second: stopped after {took:?}"
    );
    assert!(
        took < Duration::from_secs(8),
        "SHUTDOWN_TIMEOUT_SECS=1 was not honoured (the default is 15 s): {took:?}"
    );
    let mut rest = Vec::new();
    let _ = stuck.read_to_end(&mut rest).await;
    assert!(
        !String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 201"),
        "the unfinished request was not stored"
    );
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let mut app = RealBinary::spawn("api-app", &[("SHUTDOWN_DRAIN_SECS", "1")]);
    let ready = app.admin_url("/readyz");
    assert_eq!(status_of(&ready, &[]), Some(200));

    let started = Instant::now();
    app.signal("TERM");
    // Readiness flips while the process still listens (during the 1 s drain delay).
    integration_tests::wait_until(Duration::from_secs(5), "readiness turns 503", || {
        (status_of(&ready, &[])? == 503).then_some(())
    });

    let code = app.wait();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "exits well inside 30 s"
    );
    assert_eq!(code.code(), Some(0), "a drained shutdown exits 0");
}

/// api-app with a drain of `drain_secs`, sent `signal` once it is ready, and seen draining:
/// readiness 503 while it still listens.
fn draining(drain_secs: &str, signal: &str) -> RealBinary {
    let app = RealBinary::spawn("api-app", &[("SHUTDOWN_DRAIN_SECS", drain_secs)]);
    let readyz = app.admin_url("/readyz");
    assert_eq!(status_of(&readyz, &[]), Some(200));
    app.signal(signal);
    wait_until(Duration::from_secs(5), "readiness turns 503", || {
        (status_of(&readyz, &[])? == 503).then_some(())
    });
    app
}

#[test]
fn sigint_drains_like_sigterm_and_exits_zero() {
    let mut app = draining("1", "INT");
    let status = app.wait();
    assert_eq!(status.code(), Some(0), "a drained shutdown exits 0");
    let output = app.output();
    assert!(output.contains("SIGINT"), "{output}");
    assert!(
        output.contains(r#""environment":"local""#),
        "the start line names the environment: {output}"
    );
}

#[test]
fn a_second_signal_stops_at_once_instead_of_waiting_out_the_drain() {
    // A drain far longer than the test allows: only the second signal can end the process in time.
    let mut app = draining("60", "TERM");
    let second = Instant::now();
    app.signal("TERM");
    let status = app.wait();
    assert!(
        second.elapsed() < Duration::from_secs(5),
        "{:?}",
        second.elapsed()
    );
    assert_eq!(status.code(), Some(130), "{}", app.output());
}
