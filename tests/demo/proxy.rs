//! The `/api` proxy: what passes, what is dropped, failures, and that only `API_URL` is ever reached.

use std::time::Instant;

use crate::helpers::{FakeApi, UPSTREAM_TIMEOUT, assert_error, closed_address, logs, spawn_demo};

const KEY: &str = "proxy-test-key-0123456789abcdef";

#[tokio::test]
async fn method_body_content_type_key_request_id_and_query_pass_through() {
    let api = FakeApi::start();
    let demo = spawn_demo(Some(&api.address)).await;

    let res = demo
        .client
        .patch(demo.url("/api/tasks/42?limit=5&offset=10"))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("x-api-key", KEY)
        .header("x-request-id", "trace-me-123")
        // The write's own semantics: a stale update must fail upstream, a retried create replay.
        .header("if-match", "\"3\"")
        .header("idempotency-key", "create-once-1")
        // What the body is: dropped, a compressed body would reach the API as if it were JSON.
        .header("content-encoding", "identity")
        .body(r#"{"completed":true}"#)
        .send()
        .await
        .unwrap();

    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-request-id"], "trace-me-123");
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.text().await.unwrap(), r#"{"completed":true}"#);
    let seen = api.only().await;
    assert_eq!(seen.method, "PATCH");
    assert_eq!(seen.path, "/api/tasks/42");
    assert_eq!(seen.query, "limit=5&offset=10");
    assert_eq!(seen.body, br#"{"completed":true}"#);
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("accept"), Some("application/json"));
    assert_eq!(seen.header("x-api-key"), Some(KEY));
    assert_eq!(seen.header("x-request-id"), Some("trace-me-123"));
    assert_eq!(seen.header("if-match"), Some("\"3\""));
    assert_eq!(seen.header("idempotency-key"), Some("create-once-1"));
    assert_eq!(seen.header("content-encoding"), Some("identity"));
    assert!(
        seen.header("host")
            .is_some_and(|h| h.ends_with(&format!(":{}", api.port))),
        "Host names the upstream: {seen:?}"
    );
}

#[tokio::test]
async fn every_method_and_status_is_relayed() {
    let api = FakeApi::start();
    let demo = spawn_demo(Some(&api.address)).await;
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"] {
        let res = demo
            .client
            .request(method.parse().unwrap(), demo.url("/api/tasks"))
            .send()
            .await
            .unwrap();
        let expected = if method == "POST" { 201 } else { 200 };
        assert_eq!(res.status(), expected, "{method}");
    }
    let methods: Vec<String> = api.seen().await.into_iter().map(|s| s.method).collect();
    assert_eq!(
        methods,
        ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
    );
    // `/api` itself (the API info) is proxied too.
    assert_eq!(demo.get("/api").await.status(), 200);
    assert_eq!(api.seen().await.last().unwrap().path, "/api");
}

#[tokio::test]
async fn a_request_id_is_minted_when_the_client_sends_none_and_matches_the_response() {
    let api = FakeApi::start();
    let demo = spawn_demo(Some(&api.address)).await;
    let res = demo.get("/api/health").await;
    let returned = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let minted = uuid::Uuid::parse_str(&returned).expect("a minted id is a UUID");
    assert_eq!(minted.get_version_num(), 7, "{returned}");
    assert_eq!(
        api.only().await.header("x-request-id"),
        Some(returned.as_str())
    );
}

/// Hop-by-hop headers and headers a browser (or attacker) might send that the API has no use for.
const UNLISTED_REQUEST_HEADERS: [(&str, &str); 12] = [
    ("cookie", "session=browser"),
    ("authorization", "Bearer browser-token"),
    ("proxy-authorization", "Basic Zm9vOmJhcg=="),
    ("keep-alive", "timeout=5"),
    ("te", "trailers"),
    ("trailer", "x-checksum"),
    ("proxy-connection", "keep-alive"),
    ("forwarded", "host=evil.example"),
    ("x-forwarded-host", "evil.example"),
    ("x-forwarded-for", "6.6.6.6"),
    ("origin", "http://evil.example"),
    ("x-custom", "1"),
];

#[tokio::test]
async fn hop_by_hop_and_unlisted_request_headers_are_dropped() {
    let api = FakeApi::start();
    let demo = spawn_demo(Some(&api.address)).await;
    let send = |url: String| {
        let mut req = demo.client.get(url);
        for (name, value) in UNLISTED_REQUEST_HEADERS {
            req = req.header(name, value);
        }
        req.send()
    };
    // Sent straight to the fake API, every header arrives: the check below can fail.
    send(format!("{}/api/tasks", api.address)).await.unwrap();
    let direct = api.only().await;
    for (name, _) in UNLISTED_REQUEST_HEADERS {
        assert!(
            direct.header(name).is_some(),
            "the client did not send {name}"
        );
    }

    send(demo.url("/api/tasks")).await.unwrap();
    let proxied = api.seen().await.pop().unwrap();
    for (name, _) in UNLISTED_REQUEST_HEADERS {
        assert!(
            proxied.header(name).is_none(),
            "{name} reached the API: {proxied:?}"
        );
    }
}

#[tokio::test]
async fn a_header_named_in_connection_is_not_forwarded() {
    let api = FakeApi::start();
    let demo = spawn_demo(Some(&api.address)).await;
    let answer = demo
        .raw(format!(
            "GET /api/tasks HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nx-api-key: {KEY}\r\n\
             Connection: close, x-api-key\r\n\r\n",
            demo.port
        ))
        .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(api.only().await.header("x-api-key").is_none());
}

#[tokio::test]
async fn hop_by_hop_and_unlisted_response_headers_are_dropped() {
    let api = FakeApi::start();
    let demo = spawn_demo(Some(&api.address)).await;
    let res = demo.get("/api/headers").await;
    assert_eq!(res.status(), 200);
    let h = res.headers();
    for (kept, value) in [
        ("etag", "\"v1\""),
        ("cache-control", "max-age=5"),
        ("www-authenticate", "ApiKey"),
        ("retry-after", "3"),
        ("idempotent-replayed", "true"),
        ("content-type", "application/json"),
    ] {
        assert_eq!(
            h.get(kept).map(|v| v.to_str().unwrap()),
            Some(value),
            "{kept}: {h:?}"
        );
    }
    for dropped in [
        "set-cookie",
        "x-powered-by",
        "x-upstream-internal",
        "keep-alive",
        "proxy-authenticate",
        "trailer",
        "access-control-allow-origin",
    ] {
        assert!(
            !h.contains_key(dropped),
            "{dropped} reached the browser: {h:?}"
        );
    }
}

#[tokio::test]
async fn api_down_answers_json_502() {
    let demo = spawn_demo(Some(&closed_address())).await;
    let res = demo.get("/api/health").await;
    assert!(res.headers().contains_key("x-request-id"));
    assert_error(res, 502, "upstream_unavailable").await;
}

#[tokio::test]
async fn api_stopping_mid_run_answers_json_502() {
    let api = FakeApi::start();
    let demo = spawn_demo(Some(&api.address)).await;
    assert_eq!(demo.get("/api/health").await.status(), 200);
    api.stop().await;
    assert_error(demo.get("/api/health").await, 502, "upstream_unavailable").await;
}

#[tokio::test]
async fn slow_api_answers_json_504_within_the_timeout() {
    let api = FakeApi::start();
    let demo = spawn_demo(Some(&api.address)).await;
    let started = Instant::now();
    let res = demo.get("/api/slow").await;
    let waited = started.elapsed();
    assert_error(res, 504, "upstream_timeout").await;
    assert!(
        waited >= UPSTREAM_TIMEOUT,
        "answered before the timeout: {waited:?}"
    );
    assert!(
        waited < UPSTREAM_TIMEOUT * 3,
        "the timeout did not bound the wait: {waited:?}"
    );
}

#[tokio::test]
async fn bodies_over_64_kib_answer_json_413_and_never_reach_the_api() {
    let api = FakeApi::start();
    let demo = spawn_demo(Some(&api.address)).await;
    let limit = demo_app::proxy::MAX_REQUEST_BODY_BYTES;

    let at_limit = demo
        .client
        .post(demo.url("/api/tasks"))
        .header("content-type", "application/json")
        .body(vec![b' '; limit])
        .send()
        .await
        .unwrap();
    assert_eq!(at_limit.status(), 201);

    let over = demo
        .client
        .post(demo.url("/api/tasks"))
        .header("content-type", "application/json")
        .body(vec![b' '; limit + 1])
        .send()
        .await
        .unwrap();
    assert_error(over, 413, "payload_too_large").await;
    assert_eq!(
        api.seen().await.len(),
        1,
        "only the request at the limit was forwarded"
    );
}

#[tokio::test]
async fn absolute_form_and_host_tricks_still_reach_only_api_url() {
    let api = FakeApi::start();
    let decoy = FakeApi::start();
    let demo = spawn_demo(Some(&api.address)).await;
    let elsewhere = format!("127.0.0.1:{}", decoy.port);

    let tricks = [
        // Absolute-form request target naming another server.
        format!(
            "GET http://{elsewhere}/api/tasks HTTP/1.1\r\nHost: {elsewhere}\r\nConnection: close\r\n\r\n"
        ),
        // Host header naming another server.
        format!("GET /api/tasks HTTP/1.1\r\nHost: {elsewhere}\r\nConnection: close\r\n\r\n"),
        // Forwarding headers naming another server.
        format!(
            "GET /api/tasks HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Forwarded-Host: {elsewhere}\r\n\
             Forwarded: host={elsewhere}\r\nConnection: close\r\n\r\n",
            demo.port
        ),
        // Userinfo-looking and authority-looking path segments.
        format!("GET /api/@{elsewhere}/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        format!("GET /api//{elsewhere}/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    ];
    for trick in tricks {
        let answer = demo.raw(trick.clone()).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{trick:?} → {answer}");
    }
    assert!(
        decoy.seen().await.is_empty(),
        "the decoy was reached: {:?}",
        decoy.seen().await
    );
    let seen = api.seen().await;
    assert_eq!(seen.len(), 5);
    assert!(seen.iter().all(|s| s.path.starts_with("/api/")), "{seen:?}");
}

/// A HEAD answer relays the length the GET's body would have, as the API itself says it.
#[tokio::test]
async fn a_head_answer_keeps_the_upstreams_content_length() {
    let api = FakeApi::start();
    let demo = spawn_demo(Some(&api.address)).await;
    let length = |res: reqwest::Response| {
        res.headers()
            .get("content-length")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let direct = demo
        .client
        .head(format!("{}/api/headers", api.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        length(direct),
        Some("2".to_owned()),
        "the fake API's own HEAD"
    );
    let proxied = demo
        .client
        .head(demo.url("/api/headers"))
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 200);
    assert_eq!(length(proxied), Some("2".to_owned()));
}

#[tokio::test]
async fn redirects_are_never_followed_and_foreign_locations_are_dropped() {
    let api = FakeApi::start();
    let decoy = FakeApi::start();
    let demo = spawn_demo(Some(&api.address)).await;

    let foreign = demo
        .get(&format!("/api/redirect?to={}/api/stolen", decoy.address))
        .await;
    assert_eq!(foreign.status(), 302);
    assert!(
        !foreign.headers().contains_key("location"),
        "{:?}",
        foreign.headers()
    );

    let local = demo.get("/api/redirect?to=/api/docs/").await;
    assert_eq!(local.status(), 302);
    assert_eq!(local.headers()["location"], "/api/docs/");

    assert!(
        decoy.seen().await.is_empty(),
        "a redirect was followed to the decoy"
    );
    assert_eq!(api.seen().await.len(), 2);
}

#[tokio::test]
async fn dot_segments_and_odd_methods_are_refused_before_the_api() {
    let api = FakeApi::start();
    let demo = spawn_demo(Some(&api.address)).await;
    for path in ["/api/../metrics", "/api/%2e%2e/metrics", "/api/./tasks"] {
        let answer = demo
            .raw(format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            ))
            .await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path} → {answer}");
        assert!(answer.contains("invalid_path"), "{answer}");
    }
    let trace = demo
        .client
        .request("TRACE".parse().unwrap(), demo.url("/api/tasks"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        trace.headers()["allow"],
        "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
        "a 405 says what is forwarded"
    );
    assert_error(trace, 405, "method_not_allowed").await;
    assert!(api.seen().await.is_empty());
}

#[tokio::test]
async fn without_api_url_api_paths_answer_json_404_and_nothing_is_contacted() {
    let api = FakeApi::start();
    let demo = spawn_demo(None).await;
    let res = demo.get("/api/tasks").await;
    assert_error(res, 404, "api_not_proxied").await;
    assert!(api.seen().await.is_empty());
}

#[tokio::test]
async fn the_api_key_is_never_logged() {
    let api = FakeApi::start();
    let demo = spawn_demo(Some(&api.address)).await;
    let down = spawn_demo(Some(&closed_address())).await;
    let secret = "never-log-this-key-4f2c1a9e77";
    for app in [&demo, &down] {
        let res = app
            .client
            .get(app.url("/api/protected/stats"))
            .header("x-api-key", secret)
            .send()
            .await
            .unwrap();
        assert!(res.status() == 200 || res.status() == 502);
    }
    assert_eq!(api.only().await.header("x-api-key"), Some(secret));
    let logs = logs();
    assert!(
        logs.contains("/api/{tail:.*}"),
        "the requests were logged at all"
    );
    assert!(!logs.contains(secret), "the API key appears in the logs");
}
