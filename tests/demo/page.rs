//! The page, its assets and demo-app's operational surface.

use integration_tests::assert_readiness_drains_first;

use crate::helpers::{assert_error, spawn_demo, spawn_demo_with};

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn assert_security_headers(res: &reqwest::Response) {
    let h = res.headers();
    assert_eq!(h["content-security-policy"], CSP);
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-frame-options"], "DENY");
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_with_the_csp() {
    let demo = spawn_demo(None).await;
    let page = demo.get("/").await;
    assert_eq!(page.status(), 200);
    assert_security_headers(&page);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script src="/static/app.js""#), "{html}");
    assert!(html.contains(r#"href="/static/app.css""#), "{html}");

    for (path, content_type) in [
        ("/static/app.js", "text/javascript"),
        ("/static/app.css", "text/css"),
        ("/static/favicon.svg", "image/svg+xml"),
    ] {
        let res = demo.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_security_headers(&res);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{path}"
        );
        assert!(!res.text().await.unwrap().is_empty());
    }
    assert_error(demo.get("/static/secrets.txt").await, 404, "not_found").await;
}

#[tokio::test]
async fn the_page_loads_nothing_from_another_origin_and_has_no_inline_code() {
    let demo = spawn_demo(None).await;
    let html = demo
        .get("/")
        .await
        .text()
        .await
        .unwrap()
        .to_ascii_lowercase();
    let css = demo.get("/static/app.css").await.text().await.unwrap();
    let js = demo.get("/static/app.js").await.text().await.unwrap();
    for (name, text) in [("index.html", &html), ("app.css", &css), ("app.js", &js)] {
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{name} names an origin"
        );
        assert!(
            !text.contains("//cdn") && !text.contains("@import"),
            "{name} pulls in more"
        );
    }
    assert!(
        !html.contains("<style"),
        "inline <style> would need 'unsafe-inline'"
    );
    assert!(
        !html.contains(" style="),
        "inline style attributes would need 'unsafe-inline'"
    );
    let scripts = html.matches("<script").count();
    assert_eq!(
        scripts,
        html.matches("<script src=\"/static/").count(),
        "inline script"
    );
    for handler in [
        " onclick=",
        " onload=",
        " onsubmit=",
        " onchange=",
        "javascript:",
    ] {
        assert!(!html.contains(handler), "inline handler {handler}");
    }
    assert!(
        !js.contains("localstorage") && !js.contains("localStorage"),
        "nothing is stored"
    );
    assert!(!js.contains("console.log"), "nothing is logged");
}

#[tokio::test]
async fn ui_info_shows_environment_build_and_pod() {
    let demo = spawn_demo_with(
        None,
        &[
            ("APP_ENV", "dev"),
            ("HOSTNAME", "demo-app-7d9f-abcde"),
            ("POD_NAMESPACE", "demo-app-dev"),
            ("NODE_NAME", "ip-10-0-1-23"),
        ],
    )
    .await;
    let res = demo.get("/ui/info").await;
    assert_eq!(res.status(), 200);
    let info: serde_json::Value = res.json().await.unwrap();
    assert_eq!(info["environment"], "dev");
    assert_eq!(info["build"]["name"], "demo-app");
    assert_eq!(info["build"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(info["build"]["commit"].is_string());
    assert_eq!(info["pod"], "demo-app-7d9f-abcde");
    assert_eq!(info["namespace"], "demo-app-dev");
    assert_eq!(info["node"], "ip-10-0-1-23");
    assert_eq!(info["api_proxy"], false);

    let bare: serde_json::Value = spawn_demo(None)
        .await
        .get("/ui/info")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bare["environment"], "local");
    assert!(bare["pod"].is_null() && bare["namespace"].is_null() && bare["node"].is_null());
}

#[tokio::test]
async fn probes_and_metrics_work() {
    let demo = spawn_demo(Some("http://127.0.0.1:9")).await;
    for path in ["/healthz", "/readyz"] {
        let res = demo.admin_get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["status"], "ok");
    }
    demo.get("/api/tasks/123").await;
    let res = demo.admin_get("/metrics").await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(
        text.contains(r#"route="/api/{tail:.*}""#),
        "proxied requests are labelled by template"
    );
    assert!(
        !text.contains("/api/tasks/123"),
        "raw paths never become labels"
    );
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_json() {
    let demo = spawn_demo(None).await;
    assert_error(demo.get("/nope").await, 404, "not_found").await;
    let post = demo.client.post(demo.url("/")).send().await.unwrap();
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    assert_error(post, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn readiness_fails_at_once_on_shutdown_while_liveness_holds() {
    // 503 well inside the 2 s drain, while the listener still answers.
    let demo = spawn_demo_with(None, &[("SHUTDOWN_DRAIN_SECS", "2")]).await;
    assert_readiness_drains_first(&demo, &demo.shutdown).await;
}
