//! `INJECT_ERROR_PERCENT`: the failures a release drill injects into a canary (k8s/README.md,
//! "Canary releases"). They are the app's own 5xx under `/api`, counted by the same metrics the SLO
//! rules read, while the probes and `/metrics` (on the admin port) keep answering so the canary is
//! ready and measured.

use integration_tests::api::spawn_app_with;
use integration_tests::{assert_error, counter};

#[tokio::test]
async fn the_injected_share_of_api_requests_answers_500_and_is_counted() {
    let app = spawn_app_with(&[("INJECT_ERROR_PERCENT", "25")]).await;
    let mut failed = 0;
    for _ in 0..40 {
        let res = app.get("/api/echo?message=hi").await;
        match res.status().as_u16() {
            200 => {}
            500 => {
                let message = assert_error(res, 500, "internal_error").await;
                assert!(message.contains("INJECT_ERROR_PERCENT"), "{message}");
                failed += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(failed, 10, "25 % of 40 requests");
    // The operational surface, on the admin port, never fails: a faulty canary still becomes ready
    // and is scraped.
    for path in ["/healthz", "/readyz", "/metrics"] {
        for _ in 0..8 {
            assert_eq!(app.admin_get(path).await.status(), 200, "{path}");
        }
    }
    let metrics = app.metrics().await;
    assert_eq!(
        counter(
            &metrics,
            r#"http_requests_total{method="GET",route="/api/echo",status="500"}"#
        ),
        10,
        "the injected failures are in the series the SLO rules read"
    );
}

#[tokio::test]
async fn without_the_setting_nothing_is_injected() {
    let app = integration_tests::api::spawn_app().await;
    for _ in 0..50 {
        assert_eq!(app.get("/api/echo?message=hi").await.status(), 200);
    }
}
