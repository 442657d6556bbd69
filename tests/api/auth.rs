//! The x-api-key guard: header only, both rotation keys, fails closed.

use serde_json::Value;

use crate::helpers::{API_KEY, API_KEY_PREVIOUS, assert_error, spawn_app, spawn_app_with};

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
