//! The OpenAPI document matches the router and the limits the code enforces, and the docs page
//! works with no internet.

use std::collections::{BTreeMap, BTreeSet};

use integration_tests::api::spawn_app;
use integration_tests::assert_error;
use serde_json::{Value, json};

#[tokio::test]
async fn the_document_lists_every_route() {
    let app = spawn_app().await;
    let res = app.get("/api/openapi.json").await;
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["info"]["title"], "api-app");
    let paths: BTreeSet<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = [
        "/api",
        "/api/health",
        "/api/tasks",
        "/api/tasks/{id}",
        "/api/echo",
        "/api/protected/stats",
    ]
    .into();
    assert_eq!(paths, expected);
    let methods: BTreeSet<&str> = doc["paths"]["/api/tasks/{id}"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(methods, ["delete", "get", "patch"].into());
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    // What a bare request (no body, no key, an unknown id) to each documented operation answers.
    // A route that is documented but not served answers 404 "no route" or 405 instead.
    let expected: BTreeMap<(&str, &str), (u16, Option<&str>)> = [
        (("GET", "/api"), (200, None)),
        (("GET", "/api/health"), (200, None)),
        (("GET", "/api/tasks"), (200, None)),
        (
            ("POST", "/api/tasks"),
            (415, Some("unsupported_media_type")),
        ),
        (("GET", "/api/tasks/{id}"), (404, Some("not_found"))),
        (
            ("PATCH", "/api/tasks/{id}"),
            (415, Some("unsupported_media_type")),
        ),
        (("DELETE", "/api/tasks/{id}"), (404, Some("not_found"))),
        (("GET", "/api/echo"), (400, Some("invalid_message"))),
        (("GET", "/api/protected/stats"), (401, Some("unauthorized"))),
    ]
    .into();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            let &(status, code) = expected
                .get(&(method.as_str(), path.as_str()))
                .unwrap_or_else(|| panic!("{method} {path} is documented: add it here"));
            documented.insert((method.clone(), path.clone()));
            let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
            let res = app
                .client
                .request(method.parse().unwrap(), app.url(&concrete))
                .send()
                .await
                .unwrap();
            match code {
                None => assert_eq!(res.status(), status, "{method} {path}"),
                Some(code) => {
                    let message = assert_error(res, status, code).await;
                    assert_ne!(message, "no route matches this path", "{method} {path}");
                }
            }
        }
    }
    let all: BTreeSet<(String, String)> = expected
        .keys()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, all, "every operation above is documented");
}

#[tokio::test]
async fn every_operation_documents_its_errors_with_the_envelope() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let create = &doc["paths"]["/api/tasks"]["post"]["responses"];
    for status in ["201", "400", "409", "413", "415", "422"] {
        assert!(
            create.get(status).is_some(),
            "POST /api/tasks documents {status}"
        );
    }
    let stats = &doc["paths"]["/api/protected/stats"]["get"];
    for status in ["200", "401", "503"] {
        assert!(
            stats["responses"].get(status).is_some(),
            "stats documents {status}"
        );
    }
    assert_eq!(stats["security"][0]["api_key"], serde_json::json!([]));
    let scheme = &doc["components"]["securitySchemes"]["api_key"];
    assert_eq!(scheme["type"], "apiKey");
    assert_eq!(scheme["in"], "header");
    assert_eq!(scheme["name"], "x-api-key");
    let error_ref = &create["422"]["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(error_ref, "#/components/schemas/ErrorBody");
}

#[tokio::test]
async fn the_docs_page_loads_only_bundled_assets() {
    let app = spawn_app().await;
    let res = app.get("/api/docs/").await;
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let html = res.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no CDN: {html}"
    );
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        let res = app.get(&format!("/api/docs/{asset}")).await;
        assert_eq!(res.status(), 200, "{asset} is built into the binary");
    }
    let init = app
        .get("/api/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        init.contains("/api/openapi.json"),
        "the UI loads our own document"
    );
}

#[tokio::test]
async fn docs_without_the_trailing_slash_redirect_to_the_docs() {
    let app = spawn_app().await;
    let res = app.get("/api/docs").await;
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(res.headers()["location"], "/api/docs/");
}

/// The parameter `name` of `GET path` in the OpenAPI document.
fn query_parameter<'a>(doc: &'a Value, path: &str, name: &str) -> &'a Value {
    doc["paths"][path]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("GET {path} documents {name}"))
}

#[tokio::test]
async fn the_document_publishes_the_bounds_the_api_enforces() {
    let app = spawn_app().await;
    let doc = app.get_json("/api/openapi.json").await;
    // README: limit 1-1000 (default 100), offset up to 10 000 000, message 1-1024 characters.
    let limit = &query_parameter(&doc, "/api/tasks", "limit")["schema"];
    assert_eq!(
        (&limit["minimum"], &limit["maximum"], &limit["default"]),
        (&json!(1), &json!(1000), &json!(100))
    );
    let offset = &query_parameter(&doc, "/api/tasks", "offset")["schema"];
    assert_eq!(
        (&offset["minimum"], &offset["maximum"], &offset["default"]),
        (&json!(0), &json!(10_000_000), &json!(0))
    );
    let message = &query_parameter(&doc, "/api/echo", "message")["schema"];
    assert_eq!(
        (&message["minLength"], &message["maxLength"]),
        (&json!(1), &json!(1024))
    );
    // The title rule, exactly as TaskTitle::parse applies it.
    assert_eq!(
        doc["components"]["schemas"]["TaskTitle"]["pattern"],
        *api_app::tasks::TITLE_PATTERN
    );
    // A page's limit is the one it was asked for.
    let page_limit = &doc["components"]["schemas"]["TaskPage"]["properties"]["limit"];
    assert_eq!(
        (&page_limit["minimum"], &page_limit["maximum"]),
        (&json!(1), &json!(1000))
    );
    // The one spelling of a task id the API takes, and plain-string conditional headers (an absent
    // header is not a null one) on every operation of a task.
    for method in ["get", "patch", "delete"] {
        let params = doc["paths"]["/api/tasks/{id}"][method]["parameters"]
            .as_array()
            .unwrap();
        let named = |name: &str| {
            params
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("{method} documents {name}"))
        };
        assert_eq!(
            named("id")["schema"],
            json!({"type": "string", "format": "uuid", "pattern": api_app::tasks::routes::TASK_ID_PATTERN}),
            "{method}"
        );
        for header in ["If-Match", "If-None-Match"] {
            assert_eq!(
                named(header)["schema"],
                json!({"type": "string"}),
                "{method} {header}"
            );
        }
    }
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    assert_error(app.get(&format!("/api/tasks/{id}")).await, 404, "not_found").await;
    let upper = id.to_uppercase();
    assert_error(
        app.get(&format!("/api/tasks/{upper}")).await,
        400,
        "invalid_id",
    )
    .await;
}

#[tokio::test]
async fn another_method_on_the_docs_is_a_405_that_says_get_and_head() {
    let app = spawn_app().await;
    for (method, path) in [
        ("POST", "/api/openapi.json"),
        ("PUT", "/api/docs"),
        ("DELETE", "/api/docs/"),
        ("PUT", "/api/docs/swagger-initializer.js"),
    ] {
        let res = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.headers().get("allow").map(|v| v.to_str().unwrap()),
            Some("GET, HEAD"),
            "{method} {path}"
        );
        let message = assert_error(res, 405, "method_not_allowed").await;
        assert_eq!(
            message,
            format!("{method} is not allowed here; use GET, HEAD"),
            "{method} {path}"
        );
    }
    // GET still reaches them.
    assert_eq!(
        app.get("/api/docs/swagger-initializer.js").await.status(),
        200
    );
}
