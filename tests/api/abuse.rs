//! Hostile and careless clients: slow, oversized, malformed, racing and key-guessing requests get a
//! bounded, well-formed answer and never a 5xx, and the real binary never leaks a key or the
//! environment, in its logs or its responses.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::RealBinary;
use reqwest::Method;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

use crate::helpers::{API_KEY, assert_error, spawn_app, spawn_app_with};

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

#[tokio::test]
async fn invalid_utf8_in_a_json_body_is_a_json_400() {
    let app = spawn_app().await;
    for body in [
        &b"{\"title\":\"\xff\xfe\"}"[..],
        b"{\"title\":\"ok\xc3\"}",
        b"\xef\xbb\xbf{\"title\":\"bom\"}",
    ] {
        let res = app
            .client
            .post(app.url("/api/tasks"))
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_error(res, 400, "malformed_json").await;
    }
    let task = app.create_task("still fine").await;
    let res = app
        .client
        .patch(app.url(&format!("/api/tasks/{}", task["id"].as_str().unwrap())))
        .header("content-type", "application/json")
        .body(b"{\"title\":\"\xff\"}".to_vec())
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "malformed_json").await;
    assert_eq!(
        app.get("/api/tasks").await.json::<Value>().await.unwrap()["total"],
        1
    );
}

#[tokio::test]
async fn a_flood_of_creates_past_max_tasks_is_refused_and_loses_nothing() {
    let app = spawn_app_with(&[("MAX_TASKS", "5"), ("API_KEY", API_KEY)]).await;
    let app = Arc::new(app);
    let flood = (0..60).map(|i| {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            app.post_json("/api/tasks", &json!({ "title": format!("flood {i}") }))
                .await
        })
    });
    let mut created = Vec::new();
    for res in futures_util::future::join_all(flood).await {
        let res = res.unwrap();
        if res.status() == 201 {
            created.push(res.json::<Value>().await.unwrap()["id"].clone());
        } else {
            let message = assert_error(res, 409, "capacity_exceeded").await;
            assert!(message.contains('5'), "names the limit: {message}");
        }
    }
    assert_eq!(created.len(), 5, "exactly MAX_TASKS accepted");

    // Nothing stored was lost or replaced, and the store stays at its bound.
    let page: Value = app.get("/api/tasks").await.json().await.unwrap();
    assert_eq!(page["total"], 5);
    let stored: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["id"])
        .collect();
    for id in &created {
        assert!(stored.contains(&id), "{id} is still stored");
    }
    let more = app
        .post_json("/api/tasks", &json!({ "title": "one more" }))
        .await;
    assert_error(more, 409, "capacity_exceeded").await;
    // Deleting one frees exactly one slot.
    let id = created[0].as_str().unwrap();
    assert_eq!(app.delete_task(id).await.status(), 204);
    app.create_task("fits again").await;
    let stats: Value = app
        .stats_with_key(Some(API_KEY))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stats["tasks"]["total"], 5);
}

#[tokio::test]
async fn concurrent_patch_and_delete_of_one_task_end_consistently() {
    let app = Arc::new(spawn_app().await);
    for round in 0..20 {
        let task = app.create_task(&format!("race {round}")).await;
        let id = task["id"].as_str().unwrap().to_owned();
        let patches = (0..8).map(|i| {
            let (app, id) = (Arc::clone(&app), id.clone());
            tokio::spawn(async move {
                app.patch_task(
                    &id,
                    &json!({ "completed": i % 2 == 0, "title": format!("patched {i}") }),
                )
                .await
            })
        });
        let delete = {
            let (app, id) = (Arc::clone(&app), id.clone());
            tokio::spawn(async move { app.delete_task(&id).await })
        };
        for res in futures_util::future::join_all(patches).await {
            let res = res.unwrap();
            match res.status().as_u16() {
                200 => {
                    let after: Value = res.json().await.unwrap();
                    assert_eq!(after["id"], task["id"]);
                    assert!(after["title"].as_str().unwrap().starts_with("patched "));
                }
                404 => {
                    assert_error(res, 404, "not_found").await;
                }
                other => panic!("round {round}: PATCH answered {other}"),
            }
        }
        assert_eq!(delete.await.unwrap().status(), 204, "round {round}");
        assert_error(app.get(&format!("/api/tasks/{id}")).await, 404, "not_found").await;
    }
    // The completed counter moved with every patch and delete and is back to zero.
    let stats: Value = app
        .stats_with_key(Some(API_KEY))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stats["tasks"], json!({ "total": 0, "completed": 0 }));
}

#[tokio::test]
async fn unknown_methods_get_a_json_405_or_404_and_a_bounded_metrics_label() {
    let app = spawn_app().await;
    for method in ["BREW", "PROPFIND", "TRACE", "CONNECTX"] {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let res = app
            .client
            .request(method.clone(), app.url("/api/tasks"))
            .send()
            .await
            .unwrap();
        assert!(res.headers()["allow"].to_str().unwrap().contains("GET"));
        assert_error(res, 405, "method_not_allowed").await;
        let res = app
            .client
            .request(method, app.url("/no/such/path"))
            .send()
            .await
            .unwrap();
        assert_error(res, 404, "not_found").await;
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains(r#"method="other""#), "{metrics}");
    for raw in ["BREW", "PROPFIND", "CONNECTX", "/no/such/path"] {
        assert!(!metrics.contains(raw), "{raw} became a label");
    }
}

#[tokio::test]
async fn a_very_long_or_non_ascii_api_key_is_a_json_401() {
    let app = spawn_app().await;
    let long = "k".repeat(64 * 1024);
    let long_prefix = format!("{API_KEY}{}", "x".repeat(600));
    let keys = [
        HeaderValue::from_str(&long).unwrap(),
        HeaderValue::from_str(&long_prefix).unwrap(),
        HeaderValue::from_bytes("clé-ünïcødé-0123456789".as_bytes()).unwrap(),
        HeaderValue::from_bytes(format!("{API_KEY}é").as_bytes()).unwrap(),
        HeaderValue::from_bytes(b"\xff\xfe\xfd-not-utf8-0123456789").unwrap(),
    ];
    for key in keys {
        let res = app
            .client
            .get(app.url("/api/protected/stats"))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap();
        assert_error(res, 401, "unauthorized").await;
    }
    assert_eq!(app.stats_with_key(Some(API_KEY)).await.status(), 200);
}

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
    let task: Value = client
        .post(format!("{}/api/tasks", app.address))
        .json(&json!({ "title": "canary" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = task["id"].as_str().unwrap();
    let info: Value = client
        .get(format!("{}/api", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
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
