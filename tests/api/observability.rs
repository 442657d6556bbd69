//! Probes, headers, request ids and metrics.

use std::collections::HashSet;

use serde_json::Value;

use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn probes_report_ok_once_started() {
    let app = spawn_app().await;
    for path in [
        platform::probes::LIVENESS_PATH,
        platform::probes::READINESS_PATH,
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.json::<Value>().await.unwrap()["status"], "ok");
    }
    let health: Value = app.get("/api/health").await.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["store"]["kind"], crate::helpers::store_kind());
    assert_eq!(health["store"]["reachable"], true);
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["uptime_seconds"].is_u64());
}

#[tokio::test]
async fn api_info_names_the_service_and_lists_every_endpoint() {
    let app = spawn_app_with_env().await;
    let info: Value = app.get("/api").await.json().await.unwrap();
    assert_eq!(info["name"], "api-app");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["commit"], option_env!("GIT_SHA").unwrap_or("unknown"));
    assert_eq!(
        info["build_time"],
        option_env!("BUILD_TIME").unwrap_or("unknown")
    );
    // A binary built without GIT_SHA/BUILD_TIME says where they come from; one built with them doesn't.
    let unknown = info["commit"] == "unknown" || info["build_time"] == "unknown";
    assert_eq!(
        info["build_note"]
            .as_str()
            .is_some_and(|n| n.contains("GIT_SHA")),
        unknown,
        "{info}"
    );
    assert_eq!(info["environment"], cluster_env());
    assert_eq!(info["hostname"], "api-app-7d9f-abcde");
    assert_eq!(info["store"]["kind"], crate::helpers::store_kind());
    let listed: HashSet<(String, String)> = info["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(!e["description"].as_str().unwrap().is_empty(), "{e}");
            (
                e["method"].as_str().unwrap().to_owned(),
                e["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (method, path) in [
        ("GET", "/api"),
        ("GET", "/api/health"),
        ("GET", "/api/tasks"),
        ("POST", "/api/tasks"),
        ("GET", "/api/tasks/{id}"),
        ("PATCH", "/api/tasks/{id}"),
        ("DELETE", "/api/tasks/{id}"),
        ("GET", "/api/echo"),
        ("GET", "/api/protected/stats"),
        ("GET", "/api/openapi.json"),
        ("GET", "/api/docs/"),
    ] {
        assert!(
            listed.contains(&(method.to_owned(), path.to_owned())),
            "{method} {path} in {listed:?}"
        );
    }
}

/// A cluster environment needs a database; the memory pass stays `local`.
fn cluster_env() -> &'static str {
    if crate::helpers::store_kind() == "postgres" {
        "dev"
    } else {
        "local"
    }
}

async fn spawn_app_with_env() -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(&[
        ("APP_ENV", cluster_env()),
        ("HOSTNAME", "api-app-7d9f-abcde"),
        ("API_KEY", crate::helpers::API_KEY),
    ])
    .await
}

#[tokio::test]
async fn every_response_carries_nosniff_and_a_request_id() {
    let app = spawn_app().await;
    for path in [
        "/api",
        "/api/health",
        "/api/tasks",
        "/healthz",
        "/metrics",
        "/nope",
        "/api/echo",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{path}");
        let id = res.headers()["x-request-id"].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{path}: {id}");
    }
    // Errors raised by middleware carry them too.
    let res = app.stats_with_key(None).await;
    let id = res.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    assert_error(res, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_callers_request_id_is_returned_and_a_bad_one_replaced() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/health"))
        .header("x-request-id", "trace-abc_123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-abc_123");
    let hostile = "x".repeat(500);
    let res = app
        .client
        .get(app.url("/api/health"))
        .header("x-request-id", &hostile)
        .send()
        .await
        .unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(id, hostile);
    assert!(
        uuid::Uuid::parse_str(id).is_ok(),
        "a fresh id replaces an unusable one: {id}"
    );
}

#[tokio::test]
async fn ids_never_become_metric_labels() {
    let app = spawn_app().await;
    for _ in 0..5 {
        let task = app.create_task("labelled?").await;
        let id = task["id"].as_str().unwrap();
        // Through `url`, not `get`: the read must reach the process whose /metrics is read below
        // (with TEST_STORE=postgres-replicas, `get` reads tasks from the other replica).
        app.client
            .get(app.url(&format!("/api/tasks/{id}")))
            .send()
            .await
            .unwrap();
        app.get(&format!("/random/{id}")).await;
    }
    let text = app.get("/metrics").await.text().await.unwrap();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("http_requests_total{"))
        .collect();
    assert!(
        series
            .iter()
            .any(|l| l.contains(r#"route="/api/tasks/{id}""#)),
        "{series:?}"
    );
    assert!(
        series.iter().any(|l| l.contains(r#"route="unmatched""#)),
        "{series:?}"
    );
    assert!(!text.contains("/random/"), "raw paths are never labels");
    assert_eq!(
        series
            .iter()
            .filter(|l| l.contains("/api/tasks/{id}") && l.contains("GET"))
            .count(),
        1,
        "five different ids share one series: {series:?}"
    );
}

#[tokio::test]
async fn metrics_expose_prometheus_text_with_latency_and_process_series() {
    let app = spawn_app().await;
    app.get("/api/health").await;
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = res.text().await.unwrap();
    for needle in [
        "# TYPE http_requests_total counter",
        "# TYPE http_request_duration_seconds histogram",
        r#"http_request_duration_seconds_bucket{method="GET",route="/api/health",status="200""#,
        "process_resident_memory_bytes",
        "# TYPE tasks_stored gauge",
    ] {
        assert!(text.contains(needle), "missing {needle}");
    }
}

#[tokio::test]
async fn the_task_gauge_follows_creates_and_deletes() {
    let app = spawn_app().await;
    let a = app.create_task("a").await;
    app.create_task("b").await;
    app.delete_task(a["id"].as_str().unwrap()).await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(text.lines().any(|l| l == "tasks_stored 1"), "{text}");
}

#[tokio::test]
async fn refused_and_unknown_requests_keep_bounded_route_labels() {
    let app = spawn_app().await;
    app.stats_with_key(Some("wrong-key-but-long-enough")).await;
    app.client
        .request(reqwest::Method::PUT, app.url("/api/tasks"))
        .send()
        .await
        .unwrap();
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(
            r#"http_requests_total{method="GET",route="/api/protected/stats",status="401"} 1"#
        ),
        "a refused key is counted on its route: {text}"
    );
    assert!(
        text.contains(r#"http_requests_total{method="PUT",route="/api/tasks",status="405"} 1"#),
        "{text}"
    );
}
