//! Conditional writes: every task response has an `ETag`, and `If-Match` makes a write apply only
//! to the version it names.

use std::sync::Arc;

use integration_tests::api::spawn_app;
use integration_tests::assert_error;
use serde_json::{Value, json};

/// The `ETag` of a task response.
fn etag(res: &reqwest::Response) -> String {
    res.headers()["etag"].to_str().unwrap().to_owned()
}

/// Creates a task; returns its id and `ETag`.
async fn create_tagged(app: &integration_tests::api::TestApp, title: &str) -> (String, String) {
    let res = app
        .post_json("/api/tasks", &json!({ "title": title }))
        .await;
    assert_eq!(res.status(), 201);
    let tag = etag(&res);
    let task: Value = res.json().await.unwrap();
    (task["id"].as_str().unwrap().to_owned(), tag)
}

/// Sends `method` to `path` with `headers`, and a JSON `body` if there is one.
async fn send_with(
    app: &integration_tests::api::TestApp,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> reqwest::Response {
    let mut req = app.client.request(method, app.url(path));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    req.send().await.unwrap()
}

async fn delete_if_match(
    app: &integration_tests::api::TestApp,
    id: &str,
    if_match: &str,
) -> reqwest::Response {
    let path = format!("/api/tasks/{id}");
    send_with(
        app,
        reqwest::Method::DELETE,
        &path,
        &[("if-match", if_match)],
        None,
    )
    .await
}

async fn patch_if_match(
    app: &integration_tests::api::TestApp,
    id: &str,
    if_match: &str,
    body: &Value,
) -> reqwest::Response {
    let path = format!("/api/tasks/{id}");
    send_with(
        app,
        reqwest::Method::PATCH,
        &path,
        &[("if-match", if_match)],
        Some(body),
    )
    .await
}

#[tokio::test]
async fn every_task_response_carries_an_etag_that_changes_with_the_task() {
    let app = spawn_app().await;
    let (id, v1) = create_tagged(&app, "tagged").await;
    assert!(
        v1.starts_with('"') && v1.ends_with('"'),
        "a strong tag: {v1}"
    );
    let fetched = app.get(&format!("/api/tasks/{id}")).await;
    assert_eq!(etag(&fetched), v1, "reading does not change the tag");
    let patched = app.patch_task(&id, &json!({"completed": true})).await;
    let v2 = etag(&patched);
    assert_ne!(v2, v1, "a change gives a new tag");
    assert_eq!(etag(&app.get(&format!("/api/tasks/{id}")).await), v2);
}

/// A task's `version` field: the number its `ETag` quotes.
fn version_tag(task: &Value) -> String {
    format!(
        "\"{}\"",
        task["version"]
            .as_i64()
            .expect("a task has a numeric version")
    )
}

#[tokio::test]
async fn a_listed_task_carries_its_version_so_a_write_from_a_list_is_conditional() {
    let app = spawn_app().await;
    let created = app
        .post_json("/api/tasks", &json!({ "title": "listed" }))
        .await;
    let v1 = etag(&created);
    let task: Value = created.json().await.unwrap();
    assert_eq!(task["version"], 1, "a new task is version 1");
    assert_eq!(version_tag(&task), v1, "the body's version is the ETag's");
    let id = task["id"].as_str().unwrap().to_owned();

    let patched = app.patch_task(&id, &json!({"completed": true})).await;
    let v2 = etag(&patched);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["version"], 2, "a change adds one");
    assert_eq!(version_tag(&patched), v2);

    // A client that only read the list (no ETag there) writes conditionally with the item's version.
    let page: Value = app.get("/api/tasks").await.json().await.unwrap();
    let listed = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .expect("the task is listed")
        .clone();
    assert_eq!(
        listed, patched,
        "the list shows the task as its own answer does"
    );
    let stale = patch_if_match(&app, &id, &version_tag(&task), &json!({"title": "lost"})).await;
    assert_error(stale, 412, "precondition_failed").await;
    let current = patch_if_match(&app, &id, &version_tag(&listed), &json!({"title": "kept"})).await;
    assert_eq!(current.status(), 200);
    let current: Value = current.json().await.unwrap();
    assert_eq!(
        (current["title"].as_str(), current["version"].as_i64()),
        (Some("kept"), Some(3))
    );
}

#[tokio::test]
async fn a_stale_if_match_is_412_and_changes_nothing() {
    let app = spawn_app().await;
    let (id, v1) = create_tagged(&app, "contended").await;
    let id = id.as_str();

    // Two clients read v1; the first write wins, the second is refused, not silently lost.
    let first = patch_if_match(&app, id, &v1, &json!({"title": "first"})).await;
    assert_eq!(first.status(), 200);
    let v2 = etag(&first);
    let second = patch_if_match(&app, id, &v1, &json!({"title": "second"})).await;
    assert_error(second, 412, "precondition_failed").await;
    assert_error(
        delete_if_match(&app, id, &v1).await,
        412,
        "precondition_failed",
    )
    .await;
    let now: Value = app.task(id).await;
    assert_eq!(now["title"], "first");

    // A list naming the current tag, and `*`, both match.
    let listed = patch_if_match(
        &app,
        id,
        &format!("{v1}, {v2}"),
        &json!({"completed": true}),
    )
    .await;
    assert_eq!(listed.status(), 200);
    let any = patch_if_match(&app, id, "*", &json!({"title": "any"})).await;
    assert_eq!(any.status(), 200);
    let current = etag(&any);
    assert_eq!(delete_if_match(&app, id, &current).await.status(), 204);
}

#[tokio::test]
async fn without_if_match_the_last_write_wins_and_weak_or_malformed_tags_never_match() {
    let app = spawn_app().await;
    let (id, tag) = create_tagged(&app, "plain").await;
    for title in ["one", "two"] {
        assert_eq!(
            app.patch_task(&id, &json!({ "title": title }))
                .await
                .status(),
            200
        );
    }
    let weak = format!("W/{}", etag(&app.get(&format!("/api/tasks/{id}")).await));
    assert_error(
        patch_if_match(&app, &id, &weak, &json!({"title": "weak"})).await,
        412,
        "precondition_failed",
    )
    .await;
    assert_error(
        patch_if_match(&app, &id, "not-quoted", &json!({"title": "bad"})).await,
        412,
        "precondition_failed",
    )
    .await;
    assert_ne!(tag, weak);
    let now: Value = app.task(&id).await;
    assert_eq!(now["title"], "two");
}

#[tokio::test]
async fn concurrent_patch_and_delete_of_one_task_end_consistently() {
    let app = Arc::new(spawn_app().await);
    for round in 0..20 {
        let task = app.create_task(&format!("race {round}")).await;
        let id = task["id"].as_str().unwrap().to_owned();
        let patches = (0..8).map(|i| {
            let (app, id) = (Arc::clone(&app), id.clone());
            tokio::spawn(async move {
                app.patch_task(
                    &id,
                    &json!({ "completed": i % 2 == 0, "title": format!("patched {i}") }),
                )
                .await
            })
        });
        let delete = {
            let (app, id) = (Arc::clone(&app), id.clone());
            tokio::spawn(async move { app.delete_task(&id).await })
        };
        for res in futures_util::future::join_all(patches).await {
            let res = res.unwrap();
            match res.status().as_u16() {
                200 => {
                    let after: Value = res.json().await.unwrap();
                    assert_eq!(after["id"], task["id"]);
                    assert!(after["title"].as_str().unwrap().starts_with("patched "));
                }
                404 => {
                    assert_error(res, 404, "not_found").await;
                }
                other => panic!("round {round}: PATCH answered {other}"),
            }
        }
        assert_eq!(delete.await.unwrap().status(), 204, "round {round}");
        assert_error(app.get(&format!("/api/tasks/{id}")).await, 404, "not_found").await;
    }
    // The completed counter moved with every patch and delete and is back to zero.
    assert_eq!(
        app.stats().await["tasks"],
        json!({ "total": 0, "completed": 0 })
    );
}

/// A task at version 5 (created, then changed four times); returns its id and `ETag` (`"5"`).
async fn task_at_version_5(app: &integration_tests::api::TestApp) -> (String, String) {
    let (id, _) = create_tagged(app, "five").await;
    let mut tag = String::new();
    for i in 0..4 {
        let res = app
            .patch_task(&id, &json!({ "title": format!("v{}", i + 2) }))
            .await;
        tag = etag(&res);
    }
    assert_eq!(tag, r#""5""#);
    (id, tag)
}

#[tokio::test]
async fn entity_tags_compare_byte_for_byte_so_05_is_not_5() {
    let app = spawn_app().await;
    let (id, tag) = task_at_version_5(&app).await;
    for other in [r#""05""#, r#""+5""#, r#""005""#] {
        assert_error(
            patch_if_match(&app, &id, other, &json!({ "title": "spelled" })).await,
            412,
            "precondition_failed",
        )
        .await;
        assert_error(
            delete_if_match(&app, &id, other).await,
            412,
            "precondition_failed",
        )
        .await;
    }
    assert_eq!(app.task(&id).await["title"], "v5", "nothing changed");
    assert_eq!(delete_if_match(&app, &id, &tag).await.status(), 204);
}

#[tokio::test]
async fn an_if_match_list_past_16_tags_is_a_400_and_changes_nothing() {
    let app = spawn_app().await;
    let (id, tag) = create_tagged(&app, "listed").await;
    let others = |n: usize| {
        (100..100 + n)
            .map(|v| format!("\"{v}\""))
            .collect::<Vec<_>>()
    };
    let long = [others(16), vec![tag.clone()]].concat().join(", ");
    let message = assert_error(
        patch_if_match(&app, &id, &long, &json!({ "title": "listed long" })).await,
        400,
        "too_many_etags",
    )
    .await;
    assert!(message.contains("17 entity-tags"), "{message}");
    assert_error(
        delete_if_match(&app, &id, &long).await,
        400,
        "too_many_etags",
    )
    .await;
    let sixteen = [others(15), vec![tag]].concat().join(", ");
    let res = patch_if_match(&app, &id, &sixteen, &json!({ "title": "sixteen" })).await;
    assert_eq!(res.status(), 200, "16 tags are compared");
}

async fn get_if_none_match(
    app: &integration_tests::api::TestApp,
    id: &str,
    if_none_match: &str,
) -> reqwest::Response {
    app.client
        .get(app.replica_url(&format!("/api/tasks/{id}")))
        .header("if-none-match", if_none_match)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn if_none_match_naming_the_current_version_is_a_304_with_the_etag_and_no_body() {
    let app = spawn_app().await;
    let (id, v1) = create_tagged(&app, "cached").await;
    for held in [
        v1.clone(),
        format!("W/{v1}"),
        format!(r#""7", {v1}"#),
        "*".to_owned(),
    ] {
        let res = get_if_none_match(&app, &id, &held).await;
        assert_eq!(res.status(), 304, "{held}");
        assert_eq!(etag(&res), v1, "{held}");
        assert!(res.bytes().await.unwrap().is_empty(), "{held}: no body");
    }
    let patched = app.patch_task(&id, &json!({ "completed": true })).await;
    let v2 = etag(&patched);
    let stale = get_if_none_match(&app, &id, &v1).await;
    assert_eq!(stale.status(), 200, "a stale tag gets the task");
    assert_eq!(etag(&stale), v2);
    let body: Value = stale.json().await.unwrap();
    assert_eq!(body["completed"], true);
    let spelled = get_if_none_match(&app, &id, &v2.replace('"', "\"0")).await;
    assert_eq!(spelled.status(), 200, "\"02\" is not \"2\"");
    let many = (0..17)
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(",");
    assert_error(
        get_if_none_match(&app, &id, &many).await,
        400,
        "too_many_etags",
    )
    .await;
}

/// RFC 9110 13.1.2: on a write, `If-None-Match` is a condition too. `*` (the task exists) or a tag
/// naming the current version, strong or weak, refuses the write with 412 and changes nothing; a
/// tag naming another version lets it through. On a read, a failing `If-Match` is a 412, and it
/// is evaluated before `If-None-Match` (13.2.2). A request that would be a 404 without its
/// conditions stays a 404.
#[tokio::test]
async fn if_none_match_guards_writes_and_if_match_guards_reads() {
    use reqwest::Method;
    let app = spawn_app().await;
    let (id, v1) = create_tagged(&app, "guarded").await;
    assert_eq!(v1, r#""1""#);
    let path = format!("/api/tasks/{id}");
    let done = json!({ "completed": true });

    for held in ["*", r#""1""#, r#"W/"1""#, r#""7", "1""#] {
        let res = send_with(
            &app,
            Method::PATCH,
            &path,
            &[("if-none-match", held)],
            Some(&done),
        )
        .await;
        assert_error(res, 412, "precondition_failed").await;
        let res = send_with(
            &app,
            Method::DELETE,
            &path,
            &[("if-none-match", held)],
            None,
        )
        .await;
        assert_error(res, 412, "precondition_failed").await;
    }
    let unchanged = app.get(&path).await;
    assert_eq!(etag(&unchanged), v1, "nothing changed");
    assert_eq!(unchanged.json::<Value>().await.unwrap()["completed"], false);

    let res = send_with(
        &app,
        Method::PATCH,
        &path,
        &[("if-none-match", r#""7""#)],
        Some(&done),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(etag(&res), r#""2""#);

    // Reads: a stale If-Match is a 412, before an If-None-Match that would be a 304.
    let res = send_with(&app, Method::GET, &path, &[("if-match", r#""1""#)], None).await;
    assert_error(res, 412, "precondition_failed").await;
    let both = [("if-match", r#""1""#), ("if-none-match", r#""2""#)];
    let res = send_with(&app, Method::GET, &path, &both, None).await;
    assert_error(res, 412, "precondition_failed").await;
    let res = send_with(&app, Method::GET, &path, &[("if-match", r#""2""#)], None).await;
    assert_eq!(res.status(), 200);
    let res = send_with(&app, Method::GET, &path, &[("if-match", "*")], None).await;
    assert_eq!(res.status(), 200);

    // A stale If-None-Match lets the delete through; then the task is gone, conditions or not.
    let res = send_with(
        &app,
        Method::DELETE,
        &path,
        &[("if-none-match", r#""1""#)],
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    for method in [Method::PATCH, Method::DELETE] {
        let body = (method == Method::PATCH).then_some(&done);
        let res = send_with(&app, method, &path, &[("if-none-match", "*")], body).await;
        assert_error(res, 404, "not_found").await;
    }
    let res = send_with(&app, Method::GET, &path, &[("if-match", "*")], None).await;
    assert_error(res, 404, "not_found").await;
}
