//! No key leaks: the real binary never logs a key, and no endpoint returns the environment or a key.

use std::fmt::Write as _;

use integration_tests::RealBinary;
use reqwest::Method;
use serde_json::json;

/// The real binary at debug level, one worker.
fn real_app(env: &[(&str, &str)]) -> RealBinary {
    let defaults = [("RUST_LOG", "debug"), ("WORKERS", "1")];
    let env: Vec<(&str, &str)> = defaults.iter().chain(env).copied().collect();
    RealBinary::spawn("api-app", &env)
}

const REAL_KEY: &str = "real-key-5f0c9a1e7d2b4c6f8a0e";

const REAL_PREVIOUS: &str = "prev-key-3b8d1f6a9c2e5b7d0f4a";

const CANARY: &str = "canary-value-9e4f7c2a1b8d";

#[tokio::test]
async fn logs_at_debug_level_never_contain_an_api_key() {
    let app = real_app(&[("API_KEY", REAL_KEY), ("API_KEY_PREVIOUS", REAL_PREVIOUS)]);
    let client = &app.client;
    let wrong = "wrong-key-guess-1234567890abcdef";
    for key in [REAL_KEY, REAL_PREVIOUS, wrong] {
        let res = client
            .get(format!("{}/api/protected/stats", app.address))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), if key == wrong { 401 } else { 200 });
    }
    // A key in the wrong place (a query string) is not accepted, and not logged either.
    let res = client
        .get(format!(
            "{}/api/protected/stats?x-api-key={REAL_KEY}",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let logs = app.stop();
    assert!(
        logs.contains("/api/protected/stats") && logs.contains("\"status\":200"),
        "the access log saw the requests: {logs}"
    );
    for secret in [REAL_KEY, REAL_PREVIOUS, wrong] {
        assert!(!logs.contains(secret), "a key reached the logs:\n{logs}");
    }
}

#[tokio::test]
async fn no_endpoint_returns_the_environment_or_a_key() {
    let app = real_app(&[
        ("API_KEY", REAL_KEY),
        ("API_KEY_PREVIOUS", REAL_PREVIOUS),
        ("DRILL_CANARY", CANARY),
        ("AWS_SECRET_ACCESS_KEY", CANARY),
    ]);
    let client = &app.client;
    let task = app.create_task("canary").await;
    let id = task["id"].as_str().unwrap();
    let info = app.get_json("/api").await;
    let mut endpoints: Vec<(String, String)> = info["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let path = e["path"].as_str().unwrap().replace("{id}", id);
            (e["method"].as_str().unwrap().to_owned(), path)
        })
        .collect();
    // Every endpoint the README lists is called, so a route dropped from the list is noticed.
    let listed: std::collections::BTreeSet<String> = endpoints
        .iter()
        .map(|(m, p)| format!("{m} {}", p.replace(id, "{id}")))
        .collect();
    let documented: std::collections::BTreeSet<String> = [
        "GET /api",
        "GET /api/health",
        "GET /api/tasks",
        "POST /api/tasks",
        "GET /api/tasks/{id}",
        "PATCH /api/tasks/{id}",
        "DELETE /api/tasks/{id}",
        "GET /api/echo",
        "GET /api/protected/stats",
        "GET /api/openapi.json",
        "GET /api/docs/",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(listed, documented);
    // Deleting last keeps the task around for the other calls.
    endpoints.sort_by_key(|(method, _)| method == "DELETE");
    endpoints.push(("GET".into(), "/api/docs/swagger-initializer.js".into()));

    for (method, path) in &endpoints {
        let res = client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", app.address),
            )
            .header("x-api-key", REAL_KEY)
            .json(&json!({ "title": "canary check" }))
            .send()
            .await
            .unwrap();
        assert!(
            !res.status().is_server_error(),
            "{method} {path}: {}",
            res.status()
        );
        let mut text = format!("{method} {path} {}\n", res.status());
        for (name, value) in res.headers() {
            let _ = writeln!(
                text,
                "{name}: {}",
                String::from_utf8_lossy(value.as_bytes())
            );
        }
        text.push_str(&res.text().await.unwrap());
        for secret in [CANARY, REAL_KEY, REAL_PREVIOUS] {
            assert!(
                !text.contains(secret),
                "{method} {path} exposed a secret:\n{text}"
            );
        }
    }
    app.stop();
}
