//! The x-api-key guard: header only, both rotation keys, fails closed.

use integration_tests::api::{API_KEY, API_KEY_PREVIOUS, spawn_app, spawn_app_with};
use integration_tests::assert_error;
use reqwest::header::HeaderValue;
use serde_json::Value;

#[tokio::test]
async fn stats_require_a_key() {
    let app = spawn_app().await;
    assert_error(app.stats_with_key(None).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_wrong_key_is_401_and_never_echoed() {
    let app = spawn_app().await;
    let wrong = "wrong-key-but-long-enough-000";
    let res = app.stats_with_key(Some(wrong)).await;
    let headers = format!("{:?}", res.headers());
    let message = assert_error(res, 401, "unauthorized").await;
    assert!(!message.contains(wrong) && !headers.contains(wrong));
    // A prefix of the real key is still wrong.
    assert_error(
        app.stats_with_key(Some(&API_KEY[..10])).await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn the_current_and_previous_keys_are_both_accepted() {
    let app = spawn_app().await;
    app.create_task("counted").await;
    for key in [API_KEY, API_KEY_PREVIOUS] {
        let res = app.stats_with_key(Some(key)).await;
        assert_eq!(res.status(), 200);
        let stats: Value = res.json().await.unwrap();
        assert_eq!(stats["tasks"]["total"], 1);
        assert_eq!(stats["tasks"]["completed"], 0);
        assert!(stats["requests_served"].as_u64().unwrap() >= 1);
        assert_eq!(stats["version"], env!("CARGO_PKG_VERSION"));
    }
}

#[tokio::test]
async fn a_key_set_as_both_current_and_previous_is_accepted() {
    // Mid-rotation, before the new key is set, both variables can hold the same value.
    let key = "same-key-in-both-0123456789";
    let app = spawn_app_with(&[("API_KEY", key), ("API_KEY_PREVIOUS", key)]).await;
    assert_eq!(app.stats_with_key(Some(key)).await.status(), 200);
}

#[tokio::test]
async fn a_key_in_the_query_string_does_not_count() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/protected/stats"))
        .query(&[("x-api-key", API_KEY), ("api_key", API_KEY)])
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "unauthorized").await;
}

#[tokio::test]
async fn without_a_configured_key_the_endpoint_is_unavailable_never_open() {
    let app = spawn_app_with(&[]).await;
    assert_error(app.stats_with_key(None).await, 503, "not_configured").await;
    assert_error(
        app.stats_with_key(Some(API_KEY)).await,
        503,
        "not_configured",
    )
    .await;
}

#[tokio::test]
async fn a_very_long_or_non_ascii_api_key_is_a_json_401() {
    let app = spawn_app().await;
    // Long, and inside the 16 KiB a request head may take (past it, 431: tests/api/platform/limits.rs).
    let long = "k".repeat(12 * 1024);
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

#[tokio::test]
async fn a_key_of_the_longest_allowed_length_is_accepted() {
    let longest = "k".repeat(api_app::auth::MAX_KEY_LEN);
    assert_eq!(longest.len(), 512, "README: 16-512 characters");
    let app = spawn_app_with(&[("API_KEY", &longest)]).await;
    assert_eq!(app.stats_with_key(Some(&longest)).await.status(), 200);
    let over = format!("{longest}k");
    assert_error(app.stats_with_key(Some(&over)).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn the_protected_scope_asks_for_the_key_before_it_says_what_it_holds() {
    // Without a key every path and method under /api/protected is 401, so a client without one
    // learns nothing of what is there; with the key, the router's own 404 and 405 answer.
    let app = spawn_app().await;
    let send = |method: reqwest::Method, path: &str, key: Option<&str>| {
        let mut req = app.client.request(method, app.url(path));
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        req.send()
    };
    for (method, path, with_key, code) in [
        (
            reqwest::Method::GET,
            "/api/protected/nothing-here",
            404,
            "not_found",
        ),
        (
            reqwest::Method::DELETE,
            "/api/protected/stats",
            405,
            "method_not_allowed",
        ),
    ] {
        let res = send(method.clone(), path, None).await.unwrap();
        assert_error(res, 401, "unauthorized").await;
        let res = send(method, path, Some(API_KEY)).await.unwrap();
        assert_error(res, with_key, code).await;
    }
}
