//! Every 4xx and 5xx is the JSON envelope with the right status, the framework's own included.

use integration_tests::api::spawn_app;
use integration_tests::assert_error;
use platform::error::ErrorCode;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn unknown_routes_are_json_404() {
    let app = spawn_app().await;
    for path in ["/nope", "/api/nope", "/api/tasks/1/2", "/metricsx"] {
        assert_error(app.get(path).await, 404, "not_found").await;
    }
}

#[tokio::test]
async fn an_unrouted_path_gets_the_404_envelope_naming_the_problem() {
    let app = spawn_app().await;
    let res = app.get("/api/no/such/thing").await;
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"code": "not_found", "message": "no route matches this path"}})
    );
}

#[tokio::test]
async fn wrong_methods_are_json_405_with_allow() {
    let app = spawn_app().await;
    let cases = [
        (reqwest::Method::PUT, "/api/tasks", "GET, HEAD, POST"),
        (reqwest::Method::POST, "/api/health", "GET"),
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
    assert_eq!(res.headers()["allow"], "GET, HEAD, POST");
}

#[tokio::test]
async fn unknown_methods_get_a_json_405_or_404_and_a_bounded_metrics_label() {
    let app = spawn_app().await;
    for method in ["BREW", "PROPFIND", "TRACE", "CONNECTX"] {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let res = app
            .client
            .request(method.clone(), app.url("/api/tasks"))
            .send()
            .await
            .unwrap();
        assert!(res.headers()["allow"].to_str().unwrap().contains("GET"));
        assert_error(res, 405, "method_not_allowed").await;
        let res = app
            .client
            .request(method, app.url("/no/such/path"))
            .send()
            .await
            .unwrap();
        assert_error(res, 404, "not_found").await;
    }
    let metrics = app.admin_get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains(r#"method="other""#), "{metrics}");
    for raw in ["BREW", "PROPFIND", "CONNECTX", "/no/such/path"] {
        assert!(!metrics.contains(raw), "{raw} became a label");
    }
}

#[tokio::test]
async fn bodies_over_16_kib_are_413() {
    let app = spawn_app().await;
    let res = app
        .post_json("/api/tasks", &json!({ "title": "x".repeat(17 * 1024) }))
        .await;
    assert_error(res, 413, "payload_too_large").await;
}

/// The bytes of a JSON object that creates a task, padded with spaces to exactly `len` bytes.
fn task_body_of_len(len: usize) -> Vec<u8> {
    let mut body = br#"{"title":"padded"}"#.to_vec();
    body.resize(len, b' ');
    body
}

#[tokio::test]
async fn json_bodies_are_accepted_up_to_exactly_16_kib_and_refused_above() {
    let app = spawn_app().await;
    let post = |body: Vec<u8>| {
        app.client
            .post(app.url("/api/tasks"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let at_limit = post(task_body_of_len(16 * 1024)).await.unwrap();
    assert_eq!(at_limit.status(), 201, "16 KiB is the limit, inclusive");
    let over = post(task_body_of_len(16 * 1024 + 1)).await.unwrap();
    let message = assert_error(over, 413, "payload_too_large").await;
    assert!(message.contains("16384"), "names the limit: {message}");
    let page = app.get_json("/api/tasks").await;
    assert_eq!(page["total"], 1, "the refused body stored nothing");
}

#[tokio::test]
async fn a_coded_body_or_a_second_content_type_is_415_and_creates_nothing() {
    let app = spawn_app().await;
    let cases: [&[(&str, &str)]; 4] = [
        &[
            ("content-type", "application/json"),
            ("content-encoding", "br"),
        ],
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
        &[
            ("content-type", "application/json"),
            ("content-type", "text/plain"),
        ],
        &[
            ("content-type", "text/plain"),
            ("content-type", "application/json"),
        ],
    ];
    for headers in cases {
        for (method, path) in [
            ("POST", "/api/tasks".to_owned()),
            ("PATCH", format!("/api/tasks/{}", uuid::Uuid::nil())),
        ] {
            let mut req = app
                .client
                .request(method.parse().unwrap(), app.url(&path))
                .body(r#"{"title":"a"}"#);
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            assert_error(req.send().await.unwrap(), 415, "unsupported_media_type").await;
        }
    }
    let page = app.get_json("/api/tasks").await;
    assert_eq!(page["total"], 0, "nothing was created: {page}");
    // identity is no coding at all.
    let res = app
        .client
        .post(app.url("/api/tasks"))
        .header("content-type", "application/json")
        .header("content-encoding", "identity")
        .body(r#"{"title":"a"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn non_json_content_types_are_415() {
    let app = spawn_app().await;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        // JSON's types are application's: `text/json` and the like are not a registered JSON type.
        Some("text/json"),
        Some("text/vnd.example+json"),
        // JSON is read as UTF-8, so a body said to be in another charset is refused, not misread.
        Some("application/json; charset=utf-16"),
        Some("application/json; charset=iso-8859-1"),
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
    for utf8 in [
        "application/json; charset=utf-8",
        "application/json; charset=UTF-8",
    ] {
        let res = app
            .client
            .post(app.url("/api/tasks"))
            .header("content-type", utf8)
            .body(r#"{"title":"a"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{utf8}");
    }
}

#[tokio::test]
async fn a_json_patch_is_415_and_a_merge_patch_is_read() {
    let app = spawn_app().await;
    let task = app.create_task("patch me").await;
    let id = task["id"].as_str().unwrap();
    let patch_as = |content_type: &'static str, body: &'static str| {
        app.client
            .patch(app.url(&format!("/api/tasks/{id}")))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let res = patch_as(
        "application/json-patch+json",
        r#"[{"op":"replace","path":"/completed","value":true}]"#,
    )
    .await
    .unwrap();
    let message = assert_error(res, 415, "unsupported_media_type").await;
    assert!(message.contains("JSON Patch"), "{message}");
    assert_eq!(
        app.task(id).await["completed"],
        false,
        "nothing was written"
    );

    // RFC 7396's merge patch is the object PATCH reads.
    let res = patch_as("application/merge-patch+json", r#"{"completed":true}"#)
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["completed"],
        true
    );
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
async fn invalid_utf8_in_a_json_body_is_a_json_400() {
    let app = spawn_app().await;
    for body in [
        &b"{\"title\":\"\xff\xfe\"}"[..],
        b"{\"title\":\"ok\xc3\"}",
        b"\xef\xbb\xbf{\"title\":\"bom\"}",
    ] {
        let res = app
            .client
            .post(app.url("/api/tasks"))
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_error(res, 400, "malformed_json").await;
    }
    let task = app.create_task("still fine").await;
    let res = app
        .client
        .patch(app.url(&format!("/api/tasks/{}", task["id"].as_str().unwrap())))
        .header("content-type", "application/json")
        .body(b"{\"title\":\"\xff\"}".to_vec())
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "malformed_json").await;
    assert_eq!(
        app.get("/api/tasks").await.json::<Value>().await.unwrap()["total"],
        1
    );
}

/// README: "Every 4xx and 5xx has one shape", even the bare errors actix itself produces: the
/// safety net turns any non-JSON error response into the envelope and keeps its other headers.
#[actix_web::test]
async fn bare_error_responses_are_turned_into_the_envelope() {
    use actix_web::http::StatusCode;
    use actix_web::{App, HttpResponse, test, web};

    let app = test::init_service(
        App::new()
            .wrap(platform::error::json_error_bodies(
                [api_app::error_codes(), demo_app::ERROR_CODES.to_vec()].concat(),
            ))
            .route(
                "/{status}",
                web::get().to(|status: web::Path<u16>| async move {
                    HttpResponse::build(StatusCode::from_u16(*status).unwrap())
                        .insert_header(("allow", "GET"))
                        .content_type("text/plain")
                        .body("a plain-text error")
                }),
            )
            .route(
                "/json/409",
                web::get().to(|| async {
                    HttpResponse::Conflict().json(json!({"error": {"code": "own", "message": "m"}}))
                }),
            ),
    )
    .await;
    for (status, code, message) in [
        (400, "bad_request", "bad request"),
        (401, "unauthorized", "unauthorized"),
        (403, "bad_request", "forbidden"),
        (404, "not_found", "not found"),
        (405, "method_not_allowed", "method not allowed"),
        (413, "payload_too_large", "payload too large"),
        (414, "bad_request", "uri too long"),
        (415, "unsupported_media_type", "unsupported media type"),
        (431, "headers_too_large", "request header fields too large"),
        (503, "unavailable", "service unavailable"),
        (500, "internal_error", "internal server error"),
        (502, "upstream_unavailable", "bad gateway"),
        (501, "internal_error", "not implemented"),
        (418, "bad_request", "i'm a teapot"),
    ] {
        let req = test::TestRequest::get()
            .uri(&format!("/{status}"))
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status().as_u16(), status);
        let header = |name: &str| {
            res.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(
            header("content-type").as_deref(),
            Some("application/json"),
            "{status}"
        );
        assert_eq!(
            header("allow").as_deref(),
            Some("GET"),
            "{status}: other headers are kept"
        );
        let body: Value = test::read_body_json(res).await;
        assert_eq!(
            body,
            json!({"error": {"code": code, "message": message}}),
            "{status}"
        );
    }
    let req = test::TestRequest::get().uri("/json/409").to_request();
    let body: Value = test::read_body_json(test::call_service(&app, req).await).await;
    assert_eq!(
        body["error"]["code"], "own",
        "a JSON error is left as it is"
    );
    let req = test::TestRequest::get().uri("/200").to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(
        test::read_body(res).await,
        "a plain-text error",
        "successes are untouched"
    );
}

/// The README's table is the code's table: one row per code either app answers with (the
/// platform's protocol codes and each room's own), ordered by status, with its status.
#[test]
fn the_readme_error_table_lists_every_code_with_its_status() {
    let mut codes = [
        ErrorCode::PROTOCOL,
        &api_app::error_codes(),
        demo_app::ERROR_CODES,
    ]
    .concat();
    let names: std::collections::HashSet<&str> = codes.iter().map(|code| code.as_str()).collect();
    assert_eq!(names.len(), codes.len(), "every code is defined once");
    codes.sort_by_key(|code| code.status());
    let expected: Vec<String> = codes
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
        "README.md's error table must read, from the codes platform and the apps define:\n{}",
        expected.join("\n")
    );
}
