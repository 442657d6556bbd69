//! `/metrics`: Prometheus text, labelled by route template, never by raw path or id.

use integration_tests::api::spawn_app;

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
    let text = app.admin_get("/metrics").await.text().await.unwrap();
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
    let res = app.admin_get("/metrics").await;
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
async fn refused_and_unknown_requests_keep_bounded_route_labels() {
    let app = spawn_app().await;
    app.stats_with_key(Some("wrong-key-but-long-enough")).await;
    app.client
        .request(reqwest::Method::PUT, app.url("/api/tasks"))
        .send()
        .await
        .unwrap();
    let text = app.admin_get("/metrics").await.text().await.unwrap();
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
