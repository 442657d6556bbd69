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

/// api-app with a failed-key budget of 2 behind a "proxy": the test client connects from
/// 127.0.0.1, trusted here as the ALB's subnets are in a cluster; `extra` on top.
async fn behind_proxy(extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![
        ("AUTH_FAILURES_PER_MINUTE", "2"),
        ("TRUSTED_PROXY_CIDRS", "127.0.0.0/8"),
    ];
    vars.extend_from_slice(extra);
    spawn_limited(&vars).await
}

/// Spends the failed-key budget of 2 as the client `forwarded_for` names, and checks the next
/// attempt is refused.
async fn spend_failed_key_budget(app: &TestApp, forwarded_for: Option<&str>) {
    for _ in 0..2 {
        assert_eq!(stats(app, "guess", forwarded_for).await.status(), 401);
    }
    assert_eq!(
        stats(app, "guess", forwarded_for).await.status(),
        429,
        "{forwarded_for:?}"
    );
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
    let behind_alb = behind_proxy(&[]).await;
    spend_failed_key_budget(&behind_alb, Some("198.51.100.1")).await;
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

#[tokio::test]
async fn patches_and_deletes_are_throttled_per_client() {
    let app = spawn_limited(&[("CHANGES_PER_MINUTE", "3")]).await;
    let task = app.create_task("changed too often").await;
    let id = task["id"].as_str().unwrap();
    for completed in [true, false] {
        let res = app.patch_task(id, &json!({ "completed": completed })).await;
        assert_eq!(res.status(), 200);
    }
    // A delete of a task that does not exist spends the budget too: it is the client's rate
    // that is limited, not its success.
    let absent = "0b356a4c-10eb-4da4-8e07-4708c3101826";
    assert_eq!(app.delete_task(absent).await.status(), 404);
    let res = app.delete_task(id).await;
    assert!(retry_after(&res) >= 1);
    let message = assert_error(res, 429, "rate_limited").await;
    assert!(message.contains("changes"), "{message}");
    let res = app
        .patch_task(id, &json!({ "title": "one too many" }))
        .await;
    assert_error(res, 429, "rate_limited").await;
    assert_eq!(app.task(id).await["completed"], false, "nothing changed");
    assert_eq!(
        app.post_json(
            "/api/tasks",
            &json!({ "title": "creates are counted apart" })
        )
        .await
        .status(),
        201
    );
}

/// A client of `app` whose connections come from `local` (a loopback address of its own).
fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(local.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn on_a_dual_stack_socket_ipv4_clients_are_ipv4_for_the_bucket_and_the_proxy_ranges() {
    // HOST=:: accepts IPv4 peers as IPv4-mapped IPv6 addresses (::ffff:127.0.0.1).
    let app = spawn_limited(&[("HOST", "::"), ("AUTH_FAILURES_PER_MINUTE", "2")]).await;
    let stats_from = |local: &'static str| {
        let url = app.url("/api/protected/stats");
        async move {
            client_from(local)
                .get(url)
                .header("x-api-key", "guess")
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..2 {
        assert_eq!(stats_from("127.0.0.2").await.status(), 401);
    }
    assert_eq!(stats_from("127.0.0.2").await.status(), 429);
    assert_eq!(
        stats_from("127.0.0.3").await.status(),
        401,
        "another IPv4 client is not in the first one's IPv6 /64"
    );

    let dual_stack = behind_proxy(&[("HOST", "::")]).await;
    spend_failed_key_budget(&dual_stack, Some("198.51.100.1")).await;
    assert_eq!(
        stats(&dual_stack, "guess", Some("198.51.100.2"))
            .await
            .status(),
        401,
        "the IPv4 proxy range matches the mapped peer, so X-Forwarded-For names the client"
    );
}

#[tokio::test]
async fn a_garbled_forwarded_for_gets_its_own_budget_not_the_proxys() {
    let app = behind_proxy(&[]).await;
    spend_failed_key_budget(&app, Some("not-an-address")).await;
    assert_eq!(
        stats(&app, "guess", None).await.status(),
        401,
        "the proxy itself (and every client it names) keeps its budget"
    );
    assert_eq!(
        stats(&app, "guess", Some("198.51.100.9")).await.status(),
        401
    );
}
