//! Every 4xx and 5xx is the JSON envelope with the right status.

use platform::error::ErrorCode;
use serde_json::json;

use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn unknown_routes_are_json_404() {
    let app = spawn_app().await;
    for path in ["/nope", "/api/nope", "/api/tasks/1/2", "/metricsx"] {
        assert_error(app.get(path).await, 404, "not_found").await;
    }
}

#[tokio::test]
async fn wrong_methods_are_json_405_with_allow() {
    let app = spawn_app().await;
    let cases = [
        (reqwest::Method::PUT, "/api/tasks", "GET, POST"),
        (reqwest::Method::POST, "/api/health", "GET"),
        (reqwest::Method::DELETE, "/healthz", "GET"),
        (
            reqwest::Method::POST,
            "/api/tasks/6a2f41a3-c54c-4f2b-9f5d-1d6f6b2f0a11",
            "GET",
        ),
    ];
    for (method, path, _) in &cases {
        let res = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        let allow = res
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned());
        assert!(allow.is_some(), "{method} {path} names the allowed methods");
        assert_error(res, 405, "method_not_allowed").await;
    }
    let res = app.client.put(app.url("/api/tasks")).send().await.unwrap();
    assert_eq!(res.headers()["allow"], "GET, POST");
}

#[tokio::test]
async fn bodies_over_16_kib_are_413() {
    let app = spawn_app().await;
    let res = app
        .post_json("/api/tasks", &json!({ "title": "x".repeat(17 * 1024) }))
        .await;
    assert_error(res, 413, "payload_too_large").await;
}

#[tokio::test]
async fn non_json_content_types_are_415() {
    let app = spawn_app().await;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut req = app
            .client
            .post(app.url("/api/tasks"))
            .body(r#"{"title":"a"}"#);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        assert_error(req.send().await.unwrap(), 415, "unsupported_media_type").await;
    }
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    for body in [r#"{"title":"#, "not json", r#"{"title":"a"} trailing"#] {
        let res = app
            .client
            .post(app.url("/api/tasks"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_error(res, 400, "malformed_json").await;
    }
}

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

/// The README's table is the code's table: one row per [`ErrorCode`], with its status.
#[test]
fn the_readme_error_table_lists_every_code_with_its_status() {
    let expected: Vec<String> = ErrorCode::ALL
        .iter()
        .map(|code| {
            format!(
                "| {} | `{code}` | {} |",
                code.status().as_u16(),
                code.when()
            )
        })
        .collect();
    let readme = integration_tests::read_text("README.md");
    let table: Vec<&str> = readme
        .lines()
        .skip_while(|line| *line != "| Status | `code` | When |")
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .collect();
    assert_eq!(
        table,
        expected,
        "README.md's error table must read, from platform::error::ErrorCode:\n{}",
        expected.join("\n")
    );
}
