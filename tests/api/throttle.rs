//! Limits in the app: failed `x-api-key` attempts and creates are throttled per client with a JSON
//! 429 and `Retry-After`; the client is the peer unless the peer is a trusted proxy.

use integration_tests::api::{API_KEY, TestApp, spawn_app, spawn_app_with};
use integration_tests::assert_error;
use serde_json::json;

async fn stats(app: &TestApp, key: &str, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .get(app.url("/api/protected/stats"))
        .header("x-api-key", key);
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.unwrap()
}

/// api-app with the limits on, `API_KEY` set, and `extra` on top.
async fn spawn_limited(extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![("API_KEY", API_KEY), ("RATE_LIMITS", "on")];
    vars.extend_from_slice(extra);
    spawn_app_with(&vars).await
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn failed_key_attempts_are_throttled_and_then_even_the_right_key_waits() {
    let app = spawn_limited(&[("AUTH_FAILURES_PER_MINUTE", "3")]).await;
    for _ in 0..3 {
        assert_error(
            stats(&app, "wrong-key-guess", None).await,
            401,
            "unauthorized",
        )
        .await;
    }
    let res = stats(&app, "wrong-key-guess", None).await;
    let wait = retry_after(&res);
    assert!((1..=20).contains(&wait), "retry-after {wait}");
    let message = assert_error(res, 429, "rate_limited").await;
    assert!(message.contains("retry in"), "{message}");
    // A right guess would otherwise stand out among the 429s.
    let res = stats(&app, API_KEY, None).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, 429, "rate_limited").await;
    // Successes never spend the budget.
    let fresh = spawn_limited(&[("AUTH_FAILURES_PER_MINUTE", "3")]).await;
    for _ in 0..10 {
        assert_eq!(stats(&fresh, API_KEY, None).await.status(), 200);
    }
}

#[tokio::test]
async fn creates_are_throttled_per_client() {
    let app = spawn_limited(&[("CREATES_PER_MINUTE", "5")]).await;
    for i in 0..5 {
        app.create_task(&format!("task {i}")).await;
    }
    let res = app
        .post_json("/api/tasks", &json!({ "title": "one too many" }))
        .await;
    assert!(retry_after(&res) >= 1);
    assert_error(res, 429, "rate_limited").await;
    assert_eq!(
        app.get("/api/tasks").await.status(),
        200,
        "reads are not limited"
    );
}

#[tokio::test]
async fn forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    // The test client connects from 127.0.0.1: trusted here, as the ALB's subnets are in a cluster.
    let behind_alb = spawn_limited(&[
        ("AUTH_FAILURES_PER_MINUTE", "2"),
        ("TRUSTED_PROXY_CIDRS", "127.0.0.0/8"),
    ])
    .await;
    for _ in 0..2 {
        let res = stats(&behind_alb, "guess", Some("198.51.100.1")).await;
        assert_eq!(res.status(), 401);
    }
    assert_eq!(
        stats(&behind_alb, "guess", Some("198.51.100.1"))
            .await
            .status(),
        429
    );
    assert_eq!(
        stats(&behind_alb, "guess", Some("198.51.100.2"))
            .await
            .status(),
        401,
        "another client behind the same proxy has its own budget"
    );

    // From an untrusted peer, a made-up X-Forwarded-For changes nothing.
    let direct = spawn_limited(&[("AUTH_FAILURES_PER_MINUTE", "2")]).await;
    for i in 0..2 {
        let spoofed = format!("203.0.113.{i}");
        assert_eq!(stats(&direct, "guess", Some(&spoofed)).await.status(), 401);
    }
    assert_eq!(
        stats(&direct, "guess", Some("203.0.113.99")).await.status(),
        429
    );
}

#[tokio::test]
async fn limits_are_off_by_default_locally() {
    let app = spawn_app().await;
    for _ in 0..30 {
        assert_eq!(stats(&app, "guess", None).await.status(), 401);
    }
}
