//! Every response carries the security headers and a usable request id.

use integration_tests::api::spawn_app;
use integration_tests::assert_error;
use serde_json::json;

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
        ("200 GET /metrics", app.admin_get("/metrics").await),
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

#[tokio::test]
async fn every_response_carries_nosniff_and_a_request_id() {
    let app = spawn_app().await;
    for path in ["/api", "/api/health", "/api/tasks", "/nope", "/api/echo"] {
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
