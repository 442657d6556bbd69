//! What the README and SECURITY.md promise about api-app, each checked against the exact value
//! they state, so that breaking a promise fails a test.

use std::time::{Duration, Instant};

use api_app::config::Config;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::AsyncReadExt as _;

use crate::helpers::{TestApp, assert_error, request_in_flight, spawn_app, spawn_app_with};

/// SECURITY.md: "Every response: explicit Content-Type, nosniff, X-Frame-Options: DENY,
/// Referrer-Policy: no-referrer, CSP (default-src 'none' for the API), Cache-Control: no-store".
fn assert_security_headers(res: &reqwest::Response, what: &str) {
    let h = res.headers();
    let header = |name: &str| {
        h.get(name)
            .unwrap_or_else(|| panic!("{what}: no {name} header"))
            .to_str()
            .unwrap()
    };
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header("cache-control"), "no-store", "{what}");
    let csp = header("content-security-policy");
    assert!(
        csp.starts_with("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{what}: {csp}"
    );
    assert!(!header("content-type").is_empty(), "{what}");
}

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let too_big = json!({ "title": "x".repeat(17 * 1024) });
    let cases = [
        ("200 GET /api/health", app.get("/api/health").await),
        ("200 GET /metrics", app.get("/metrics").await),
        (
            "201 POST /api/tasks",
            app.post_json("/api/tasks", &json!({"title": "a"})).await,
        ),
        ("404 unrouted", app.get("/no/such/route").await),
        (
            "405 wrong method",
            app.client.put(app.url("/api/tasks")).send().await.unwrap(),
        ),
        ("413 too large", app.post_json("/api/tasks", &too_big).await),
        ("401 from the key guard", app.stats_with_key(None).await),
        ("400 bad query", app.get("/api/tasks?limit=0").await),
    ];
    for (what, res) in &cases {
        assert_security_headers(res, what);
    }
}

/// The bytes of a JSON object that creates a task, padded with spaces to exactly `len` bytes.
fn task_body_of_len(len: usize) -> Vec<u8> {
    let mut body = br#"{"title":"padded"}"#.to_vec();
    body.resize(len, b' ');
    body
}

#[tokio::test]
async fn json_bodies_are_accepted_up_to_exactly_16_kib_and_refused_above() {
    let app = spawn_app().await;
    let post = |body: Vec<u8>| {
        app.client
            .post(app.url("/api/tasks"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let at_limit = post(task_body_of_len(16 * 1024)).await.unwrap();
    assert_eq!(at_limit.status(), 201, "16 KiB is the limit, inclusive");
    let over = post(task_body_of_len(16 * 1024 + 1)).await.unwrap();
    let message = assert_error(over, 413, "payload_too_large").await;
    assert!(message.contains("16384"), "names the limit: {message}");
    let page = app.get_json("/api/tasks").await;
    assert_eq!(page["total"], 1, "the refused body stored nothing");
}

#[tokio::test]
async fn next_offset_is_null_exactly_when_no_task_follows_the_page() {
    let app = spawn_app().await;
    let empty = app.get_json("/api/tasks").await;
    assert_eq!(empty["next_offset"], Value::Null, "an empty store");
    for i in 0..20 {
        app.create_task(&format!("t{i}")).await;
    }
    for (query, items, next) in [
        ("limit=10&offset=0", 10, json!(10)),
        ("limit=10&offset=10", 10, Value::Null),
        ("limit=8&offset=12", 8, Value::Null),
        ("limit=5&offset=12", 5, json!(17)),
        ("limit=19&offset=0", 19, json!(19)),
        ("limit=20&offset=0", 20, Value::Null),
        ("limit=10&offset=19", 1, Value::Null),
        ("limit=10&offset=20", 0, Value::Null),
    ] {
        let page = app.get_json(&format!("/api/tasks?{query}")).await;
        assert_eq!(page["items"].as_array().unwrap().len(), items, "{query}");
        assert_eq!(page["next_offset"], next, "{query}");
        assert_eq!(page["total"], 20, "{query}");
    }
}

fn timestamp(task: &Value, field: &str) -> OffsetDateTime {
    OffsetDateTime::parse(task[field].as_str().unwrap(), &Rfc3339).unwrap()
}

#[tokio::test]
async fn patch_moves_updated_at_forward_and_keeps_created_at() {
    let app = spawn_app().await;
    let task = app.create_task("draft").await;
    assert_eq!(
        timestamp(&task, "created_at"),
        timestamp(&task, "updated_at")
    );
    let id = task["id"].as_str().unwrap();
    for patch in [json!({"completed": true}), json!({"title": "final"})] {
        let before = app.get_json(&format!("/api/tasks/{id}")).await;
        let res = app.patch_task(id, &patch).await;
        assert_eq!(res.status(), 200);
        let after: Value = res.json().await.unwrap();
        assert!(
            timestamp(&after, "updated_at") > timestamp(&before, "updated_at"),
            "{patch}: {before} -> {after}"
        );
        assert_eq!(after["created_at"], task["created_at"], "{patch}");
        let stored = app.get_json(&format!("/api/tasks/{id}")).await;
        assert_eq!(stored, after, "{patch}: the change is stored");
    }
}

#[tokio::test]
async fn echo_counts_characters_not_bytes() {
    let app = spawn_app().await;
    let message = "héllo wörld ✓";
    let res = app
        .client
        .get(app.url("/api/echo"))
        .query(&[("message", message)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"message": message, "length": 13}));
}

#[tokio::test]
async fn stats_count_tasks_and_requests_exactly() {
    let app = spawn_app().await;
    let a = app.create_task("a").await;
    app.create_task("b").await;
    app.patch_task(a["id"].as_str().unwrap(), &json!({"completed": true}))
        .await;
    let stats = app.stats().await;
    assert_eq!(stats["tasks"], json!({"total": 2, "completed": 1}));
    assert_eq!(stats["requests_served"], 3, "the three requests before it");
    assert_eq!(stats["version"], env!("CARGO_PKG_VERSION"));
    let again = app.stats().await;
    assert_eq!(again["requests_served"], 4);
}

#[tokio::test]
async fn uptime_is_counted_in_seconds_since_start() {
    let app = spawn_app().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let health = app.get_json("/api/health").await;
    let stats = app.stats().await;
    for (what, uptime) in [
        ("health", &health["uptime_seconds"]),
        ("stats", &stats["uptime_seconds"]),
    ] {
        let uptime = uptime.as_u64().unwrap();
        assert!((1..60).contains(&uptime), "{what}: {uptime}");
    }
}

#[tokio::test]
async fn the_task_gauge_never_counts_refused_creates_or_deletes() {
    let app = spawn_app_with(&[("MAX_TASKS", "2")]).await;
    let a = app.create_task("a").await;
    app.create_task("b").await;
    let refused = app.post_json("/api/tasks", &json!({"title": "c"})).await;
    assert_error(refused, 409, "capacity_exceeded").await;
    let invalid = app.post_json("/api/tasks", &json!({"title": ""})).await;
    assert_error(invalid, 422, "validation_failed").await;
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_error(app.delete_task(&unknown).await, 404, "not_found").await;
    assert_eq!(tasks_stored(&app).await, 2);
    assert_eq!(
        app.delete_task(a["id"].as_str().unwrap()).await.status(),
        204
    );
    assert_eq!(tasks_stored(&app).await, 1);
}

async fn tasks_stored(app: &TestApp) -> u64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    crate::helpers::sample(&text, "tasks_stored ")
        .unwrap_or_else(|| panic!("no tasks_stored in {text}"))
}

#[tokio::test]
async fn a_usable_request_id_is_kept_and_anything_else_replaced() {
    let app = spawn_app().await;
    let longest = "a".repeat(128);
    for (sent, kept) in [
        ("trace-abc_123.x:y", true),
        (longest.as_str(), true),
        (&format!("{longest}b"), false),
        ("two words", false),
        ("semi;colon", false),
        ("", false),
    ] {
        let res = app
            .client
            .get(app.url("/api/health"))
            .header("x-request-id", sent)
            .send()
            .await
            .unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap();
        if kept {
            assert_eq!(id, sent);
        } else {
            let minted = uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("{sent:?} -> {id}"));
            assert_eq!(minted.get_version_num(), 7, "{sent:?} -> {id}");
        }
    }
}

#[tokio::test]
async fn a_key_of_the_longest_allowed_length_is_accepted() {
    let longest = "k".repeat(api_app::auth::MAX_KEY_LEN);
    assert_eq!(longest.len(), 512, "README: 16-512 characters");
    let app = spawn_app_with(&[("API_KEY", &longest)]).await;
    assert_eq!(app.stats_with_key(Some(&longest)).await.status(), 200);
    let over = format!("{longest}k");
    assert_error(app.stats_with_key(Some(&over)).await, 401, "unauthorized").await;
}

#[test]
fn keys_must_be_16_to_512_ascii_characters_without_surrounding_spaces() {
    let config = |var: &str, key: &str| {
        let mut vars = vec![("API_KEY", "current-key-0123456789")];
        vars.retain(|(name, _)| *name != var);
        vars.push((var, key));
        Config::from_vars(integration_tests::test_env(&vars))
    };
    let at_least = "k".repeat(16);
    for var in ["API_KEY", "API_KEY_PREVIOUS"] {
        for bad in [
            " leading-space-0123456789",
            "trailing-space-0123456789 ",
            "\ttabbed-key-0123456789\t",
            &"k".repeat(15),
            &"k".repeat(513),
            "ünïcödé-key-0123456789",
        ] {
            let err = config(var, bad)
                .expect_err(&format!("{var}={bad:?} is refused"))
                .to_string();
            assert!(err.contains(var), "{err}");
            assert!(
                !err.contains(bad.trim()),
                "the value is never echoed: {err}"
            );
            assert_eq!(err.lines().count(), 1, "{err}");
        }
        assert!(config(var, &at_least).is_ok(), "{var}: 16 characters");
        assert!(
            config(var, &"k".repeat(512)).is_ok(),
            "{var}: 512 characters"
        );
    }
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

#[tokio::test]
async fn an_unrouted_path_gets_the_404_envelope_naming_the_problem() {
    let app = spawn_app().await;
    let res = app.get("/api/no/such/thing").await;
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"code": "not_found", "message": "no route matches this path"}})
    );
}

/// README: "Every 4xx and 5xx has one shape", even the bare errors actix itself produces: the
/// safety net turns any non-JSON error response into the envelope and keeps its other headers.
#[actix_web::test]
async fn bare_error_responses_are_turned_into_the_envelope() {
    use actix_web::http::StatusCode;
    use actix_web::{App, HttpResponse, test, web};

    let app = test::init_service(
        App::new()
            .wrap(platform::error::json_error_bodies())
            .route(
                "/{status}",
                web::get().to(|status: web::Path<u16>| async move {
                    HttpResponse::build(StatusCode::from_u16(*status).unwrap())
                        .insert_header(("allow", "GET"))
                        .content_type("text/plain")
                        .body("a plain-text error")
                }),
            )
            .route(
                "/json/409",
                web::get().to(|| async {
                    HttpResponse::Conflict().json(json!({"error": {"code": "own", "message": "m"}}))
                }),
            ),
    )
    .await;
    for (status, code, message) in [
        (400, "bad_request", "bad request"),
        (401, "unauthorized", "unauthorized"),
        (403, "bad_request", "forbidden"),
        (404, "not_found", "not found"),
        (405, "method_not_allowed", "method not allowed"),
        (413, "payload_too_large", "payload too large"),
        (414, "uri_too_long", "uri too long"),
        (415, "unsupported_media_type", "unsupported media type"),
        (431, "headers_too_large", "request header fields too large"),
        (503, "unavailable", "service unavailable"),
        (500, "internal_error", "internal server error"),
        (502, "upstream_unavailable", "bad gateway"),
        (501, "internal_error", "not implemented"),
        (418, "bad_request", "i'm a teapot"),
    ] {
        let req = test::TestRequest::get()
            .uri(&format!("/{status}"))
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status().as_u16(), status);
        let header = |name: &str| {
            res.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(
            header("content-type").as_deref(),
            Some("application/json"),
            "{status}"
        );
        assert_eq!(
            header("allow").as_deref(),
            Some("GET"),
            "{status}: other headers are kept"
        );
        let body: Value = test::read_body_json(res).await;
        assert_eq!(
            body,
            json!({"error": {"code": code, "message": message}}),
            "{status}"
        );
    }
    let req = test::TestRequest::get().uri("/json/409").to_request();
    let body: Value = test::read_body_json(test::call_service(&app, req).await).await;
    assert_eq!(
        body["error"]["code"], "own",
        "a JSON error is left as it is"
    );
    let req = test::TestRequest::get().uri("/200").to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(
        test::read_body(res).await,
        "a plain-text error",
        "successes are untouched"
    );
}

/// The parameter `name` of `GET path` in the OpenAPI document.
fn query_parameter<'a>(doc: &'a Value, path: &str, name: &str) -> &'a Value {
    doc["paths"][path]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("GET {path} documents {name}"))
}

#[tokio::test]
async fn the_document_publishes_the_bounds_the_api_enforces() {
    let app = spawn_app().await;
    let doc = app.get_json("/api/openapi.json").await;
    // README: limit 1-1000 (default 100), offset up to 10 000 000, message 1-1024 characters.
    let limit = &query_parameter(&doc, "/api/tasks", "limit")["schema"];
    assert_eq!(
        (&limit["minimum"], &limit["maximum"], &limit["default"]),
        (&json!(1), &json!(1000), &json!(100))
    );
    let offset = &query_parameter(&doc, "/api/tasks", "offset")["schema"];
    assert_eq!(
        (&offset["minimum"], &offset["maximum"], &offset["default"]),
        (&json!(0), &json!(10_000_000), &json!(0))
    );
    let message = &query_parameter(&doc, "/api/echo", "message")["schema"];
    assert_eq!(
        (&message["minLength"], &message["maxLength"]),
        (&json!(1), &json!(1024))
    );
    // The title rule, exactly as TaskTitle::parse applies it.
    assert_eq!(
        doc["components"]["schemas"]["TaskTitle"]["pattern"],
        api_app::domain::TITLE_PATTERN
    );
}

#[tokio::test]
async fn a_key_set_as_both_current_and_previous_is_accepted() {
    // Mid-rotation, before the new key is set, both variables can hold the same value.
    let key = "same-key-in-both-0123456789";
    let app = spawn_app_with(&[("API_KEY", key), ("API_KEY_PREVIOUS", key)]).await;
    assert_eq!(app.stats_with_key(Some(key)).await.status(), 200);
}

#[test]
fn the_configuration_prints_keys_only_as_redacted() {
    let key = "current-key-0123456789";
    let config = Config::from_vars(integration_tests::test_env(&[
        ("API_KEY", key),
        ("API_KEY_PREVIOUS", "previous-key-0123456789"),
    ]))
    .unwrap();
    let printed = format!("{config:?}");
    assert_eq!(
        printed.matches("ApiKey([redacted])").count(),
        2,
        "{printed}"
    );
    assert!(!printed.contains("key-0123456789"), "{printed}");
}

#[tokio::test]
async fn a_bad_query_string_is_refused_with_a_message_naming_the_problem() {
    let app = spawn_app().await;
    let message = assert_error(app.get("/api/tasks?lmit=5").await, 400, "invalid_query").await;
    assert!(
        message.contains("lmit"),
        "names the unknown parameter: {message}"
    );
    let message = assert_error(app.get("/api/tasks?limit=many").await, 400, "invalid_query").await;
    assert!(
        message.contains("invalid digit"),
        "says what is wrong: {message}"
    );
}

#[tokio::test]
async fn a_full_store_says_how_many_tasks_it_holds() {
    for (max, message) in [
        ("1", "the store is full: at most 1 task can be stored"),
        ("2", "the store is full: at most 2 tasks can be stored"),
    ] {
        let app = spawn_app_with(&[("MAX_TASKS", max)]).await;
        for i in 0..max.parse().unwrap() {
            app.create_task(&format!("t{i}")).await;
        }
        let refused = app
            .post_json("/api/tasks", &json!({"title": "one more"}))
            .await;
        assert_eq!(
            assert_error(refused, 409, "capacity_exceeded").await,
            message
        );
    }
}

#[test]
fn prod_starts_with_a_key_and_refuses_to_start_without_one() {
    // DATABASE_URL as prod sets it (the database store reads it; the in-memory one ignores it).
    let prod = [
        ("APP_ENV", "prod"),
        ("DATABASE_URL", "postgres://api_app@db.example:5432/tasks"),
    ];
    let with_key: Vec<_> = prod
        .iter()
        .copied()
        // A key as prod requires (generated: long and random).
        .chain([("API_KEY", crate::helpers::API_KEY)])
        .collect();
    let config = Config::from_vars(integration_tests::test_env(&with_key));
    assert!(config.is_ok(), "{config:?}");
    let err = Config::from_vars(integration_tests::test_env(&prod)).unwrap_err();
    assert!(err.to_string().contains("API_KEY"), "{err}");
}

#[tokio::test]
async fn the_completed_count_follows_tasks_reopened_and_deleted() {
    let app = spawn_app().await;
    let a = app.create_task("a").await;
    let id = a["id"].as_str().unwrap();
    let done = app
        .post_json("/api/tasks", &json!({"title": "b", "completed": true}))
        .await;
    let b: Value = done.json().await.unwrap();
    let completed = |stats: Value| stats["tasks"]["completed"].clone();
    assert_eq!(completed(app.stats().await), 1);
    app.patch_task(id, &json!({"completed": true})).await;
    assert_eq!(completed(app.stats().await), 2);
    app.patch_task(id, &json!({"completed": true})).await;
    assert_eq!(
        completed(app.stats().await),
        2,
        "completing twice counts once"
    );
    app.patch_task(id, &json!({"completed": false})).await;
    assert_eq!(completed(app.stats().await), 1, "reopening uncounts");
    app.delete_task(b["id"].as_str().unwrap()).await;
    assert_eq!(
        app.stats().await["tasks"],
        json!({"total": 1, "completed": 0})
    );
}
