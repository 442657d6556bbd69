//! `GET /api/echo`: JSON only, a bounded message, counted in characters.

use integration_tests::api::spawn_app;
use integration_tests::assert_error;
use serde_json::{Value, json};

#[tokio::test]
async fn echo_answers_json_and_never_html() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/echo"))
        .query(&[("message", "<script>alert(1)</script>")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["message"], "<script>alert(1)</script>");
    assert_eq!(body["length"], 25);
}

#[tokio::test]
async fn echo_requires_a_message_of_at_most_1024_characters() {
    let app = spawn_app().await;
    assert_error(app.get("/api/echo").await, 400, "invalid_message").await;
    assert_error(app.get("/api/echo?message=").await, 400, "invalid_message").await;
    let long = "é".repeat(1025);
    let res = app
        .client
        .get(app.url("/api/echo"))
        .query(&[("message", &long)])
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "invalid_message").await;
    let max = "é".repeat(1024);
    let res = app
        .client
        .get(app.url("/api/echo"))
        .query(&[("message", &max)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the limit counts characters, not bytes");
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

/// What the query parser would turn into U+FFFD, or drop, is refused rather than echoed as text the
/// client never sent: percent-escapes that are not UTF-8, and a parameter echo does not know.
#[tokio::test]
async fn escapes_that_are_not_utf8_and_unknown_parameters_are_a_400() {
    let app = spawn_app().await;
    for query in ["message=%ff", "message=%ED%A0%80", "message=ok&x=%C3"] {
        let message = assert_error(
            app.get(&format!("/api/echo?{query}")).await,
            400,
            "invalid_query",
        )
        .await;
        assert!(message.contains("not UTF-8"), "{query}: {message}");
    }
    let message = assert_error(
        app.get("/api/echo?message=a&mesage=b").await,
        400,
        "invalid_query",
    )
    .await;
    assert!(message.contains("mesage"), "names the parameter: {message}");
    let res = app.get("/api/echo?message=%e2%82%ac%20ok").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"message": "€ ok", "length": 4}));
}
