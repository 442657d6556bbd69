//! The tasks resource: create, read, list with pagination, update, delete, capacity.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app, spawn_app_with};

#[tokio::test]
async fn create_task_returns_201_with_location_and_the_task() {
    let app = spawn_app().await;
    let res = app
        .post_json("/api/tasks", &json!({"title": "  Write the runbook  "}))
        .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let task: Value = res.json().await.unwrap();
    assert_eq!(task["title"], "Write the runbook", "titles are trimmed");
    assert_eq!(task["completed"], false);
    let id = task["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    assert_eq!(location, format!("/api/tasks/{id}"));
    for field in ["created_at", "updated_at"] {
        let ts = task[field].as_str().unwrap();
        assert!(ts.ends_with('Z'), "{field} is RFC 3339 in UTC: {ts}");
    }
    let fetched: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(fetched, task);
}

#[tokio::test]
async fn create_task_accepts_completed() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/api/tasks",
            &json!({"title": "done already", "completed": true}),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.json::<Value>().await.unwrap()["completed"], true);
}

#[tokio::test]
async fn create_task_rejects_blank_and_overlong_titles() {
    let app = spawn_app().await;
    for title in ["", "   ", &"x".repeat(201)] {
        let res = app
            .post_json("/api/tasks", &json!({ "title": title }))
            .await;
        let message = assert_error(res, 422, "validation_failed").await;
        assert!(message.contains("1-200"), "{message}");
    }
    let res = app
        .post_json("/api/tasks", &json!({ "title": "x".repeat(200) }))
        .await;
    assert_eq!(res.status(), 201, "200 characters is the limit, inclusive");
}

#[tokio::test]
async fn create_task_rejects_wrong_types_and_unknown_fields() {
    let app = spawn_app().await;
    for body in [
        json!({"title": 5}),
        json!({"completed": true}),
        json!({"title": "a", "completed": "yes"}),
        json!({"title": "a", "owner": "me"}),
        json!(["title"]),
    ] {
        let res = app.post_json("/api/tasks", &body).await;
        assert_error(res, 422, "validation_failed").await;
    }
    let listed: Value = app.get("/api/tasks").await.json().await.unwrap();
    assert_eq!(listed["total"], 0, "nothing invalid was stored");
}

#[tokio::test]
async fn get_task_distinguishes_unknown_from_malformed_ids() {
    let app = spawn_app().await;
    let unknown = uuid::Uuid::new_v4();
    assert_error(
        app.get(&format!("/api/tasks/{unknown}")).await,
        404,
        "not_found",
    )
    .await;
    assert_error(app.get("/api/tasks/not-a-uuid").await, 400, "invalid_id").await;
}

#[tokio::test]
async fn patch_updates_fields_and_the_timestamp() {
    let app = spawn_app().await;
    let task = app.create_task("draft").await;
    let id = task["id"].as_str().unwrap();
    let res = app.patch_task(id, &json!({"completed": true})).await;
    assert_eq!(res.status(), 200);
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["completed"], true);
    assert_eq!(updated["title"], "draft");
    assert_eq!(updated["created_at"], task["created_at"]);
    let at = |task: &Value| {
        let rfc3339 = &time::format_description::well_known::Rfc3339;
        time::OffsetDateTime::parse(task["updated_at"].as_str().unwrap(), rfc3339).unwrap()
    };
    assert!(at(&updated) > at(&task), "PATCH moves updated_at forward");

    let renamed: Value = app
        .patch_task(id, &json!({"title": "final"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(renamed["title"], "final");
    assert_eq!(renamed["completed"], true, "fields not named are kept");
}

#[tokio::test]
async fn patch_rejects_empty_invalid_and_unknown() {
    let app = spawn_app().await;
    let task = app.create_task("keep me").await;
    let id = task["id"].as_str().unwrap();
    assert_error(
        app.patch_task(id, &json!({})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_error(
        app.patch_task(id, &json!({"title": " "})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_error(
        app.patch_task("nope", &json!({"completed": true})).await,
        400,
        "invalid_id",
    )
    .await;
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_error(
        app.patch_task(&unknown, &json!({"completed": true})).await,
        404,
        "not_found",
    )
    .await;
    let still: Value = app.task(id).await;
    assert_eq!(still, task, "failed patches change nothing");
}

#[tokio::test]
async fn delete_removes_the_task_once() {
    let app = spawn_app().await;
    let task = app.create_task("short-lived").await;
    let id = task["id"].as_str().unwrap();
    let res = app.delete_task(id).await;
    assert_eq!(res.status(), 204);
    assert_error(app.get(&format!("/api/tasks/{id}")).await, 404, "not_found").await;
    assert_error(app.delete_task(id).await, 404, "not_found").await;
    assert_error(app.delete_task("nope").await, 400, "invalid_id").await;
}

#[tokio::test]
async fn list_pages_through_tasks_in_creation_order() {
    let app = spawn_app().await;
    for i in 0..25 {
        app.create_task(&format!("task {i:02}")).await;
    }
    let first: Value = app.get("/api/tasks?limit=10").await.json().await.unwrap();
    assert_eq!(first["total"], 25);
    assert_eq!(first["limit"], 10);
    assert_eq!(first["offset"], 0);
    assert_eq!(first["next_offset"], 10);
    assert_eq!(first["items"][0]["title"], "task 00");

    let mut titles = Vec::new();
    let mut offset = Some(0_u64);
    while let Some(o) = offset {
        let page: Value = app
            .get(&format!("/api/tasks?limit=10&offset={o}"))
            .await
            .json()
            .await
            .unwrap();
        titles.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["title"].as_str().unwrap().to_owned()),
        );
        offset = page["next_offset"].as_u64();
    }
    let expected: Vec<String> = (0..25).map(|i| format!("task {i:02}")).collect();
    assert_eq!(
        titles, expected,
        "following next_offset visits every task once, in order"
    );

    let past_end: Value = app.get("/api/tasks?offset=100").await.json().await.unwrap();
    assert_eq!(past_end["items"].as_array().unwrap().len(), 0);
    assert_eq!(past_end["total"], 25);
    assert!(past_end["next_offset"].is_null());
}

#[tokio::test]
async fn list_defaults_to_100_and_rejects_bad_limits() {
    let app = spawn_app().await;
    let page: Value = app.get("/api/tasks").await.json().await.unwrap();
    assert_eq!(page["limit"], 100);
    for query in [
        "limit=0",
        "limit=1001",
        "limit=abc",
        "offset=-1",
        "limit=1.5",
    ] {
        assert_error(
            app.get(&format!("/api/tasks?{query}")).await,
            400,
            "invalid_query",
        )
        .await;
    }
    assert_eq!(app.get("/api/tasks?limit=1000").await.status(), 200);
}

#[tokio::test]
async fn parallel_creates_are_all_stored_with_unique_ids() {
    let app = spawn_app().await;
    let creates = (0..200).map(|i| {
        let client = app.client.clone();
        let url = app.url("/api/tasks");
        tokio::spawn(async move {
            let res = client
                .post(url)
                .json(&json!({ "title": format!("parallel {i}") }))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
    });
    let ids: HashSet<String> = futures_util::future::join_all(creates)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ids.len(), 200, "every id is unique");
    let page: Value = app.get("/api/tasks?limit=1000").await.json().await.unwrap();
    assert_eq!(page["total"], 200);
    let listed: HashSet<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ids, "every created task is listed");
}

#[tokio::test]
async fn creates_past_max_tasks_are_refused_and_nothing_is_lost() {
    let app = spawn_app_with(&[("MAX_TASKS", "3")]).await;
    let mut kept = Vec::new();
    for i in 0..3 {
        kept.push(app.create_task(&format!("kept {i}")).await);
    }
    let res = app
        .post_json("/api/tasks", &json!({"title": "one too many"}))
        .await;
    let message = assert_error(res, 409, "capacity_exceeded").await;
    assert!(message.contains('3'), "{message}");
    let page: Value = app.get("/api/tasks").await.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap(), &kept);
    // Deleting one makes room again.
    app.delete_task(kept[0]["id"].as_str().unwrap()).await;
    app.create_task("room again").await;
}

/// The `ETag` of a task response.
fn etag(res: &reqwest::Response) -> String {
    res.headers()["etag"].to_str().unwrap().to_owned()
}

/// Creates a task; returns its id and `ETag`.
async fn create_tagged(app: &crate::helpers::TestApp, title: &str) -> (String, String) {
    let res = app
        .post_json("/api/tasks", &json!({ "title": title }))
        .await;
    assert_eq!(res.status(), 201);
    let tag = etag(&res);
    let task: Value = res.json().await.unwrap();
    (task["id"].as_str().unwrap().to_owned(), tag)
}

async fn delete_if_match(
    app: &crate::helpers::TestApp,
    id: &str,
    if_match: &str,
) -> reqwest::Response {
    app.client
        .delete(app.url(&format!("/api/tasks/{id}")))
        .header("if-match", if_match)
        .send()
        .await
        .unwrap()
}

async fn patch_if_match(
    app: &crate::helpers::TestApp,
    id: &str,
    if_match: &str,
    body: &Value,
) -> reqwest::Response {
    app.client
        .patch(app.url(&format!("/api/tasks/{id}")))
        .header("if-match", if_match)
        .json(body)
        .send()
        .await
        .unwrap()
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
async fn tasks_created_in_one_burst_list_in_one_stable_order() {
    let app = spawn_app().await;
    let creates = (0..40).map(|i| {
        let client = app.client.clone();
        let url = app.url("/api/tasks");
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({ "title": format!("burst {i}") }))
                .send()
                .await
                .unwrap()
                .status()
        })
    });
    for status in futures_util::future::join_all(creates).await {
        assert_eq!(status.unwrap(), 201);
    }
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let whole: Value = app.get("/api/tasks?limit=40").await.json().await.unwrap();
    let mut paged = Vec::new();
    for offset in (0..40).step_by(7) {
        let page: Value = app
            .get(&format!("/api/tasks?limit=7&offset={offset}"))
            .await
            .json()
            .await
            .unwrap();
        paged.extend(ids(&page));
    }
    assert_eq!(
        paged,
        ids(&whole),
        "pages tile the list with no gap or repeat"
    );
    let again: Value = app.get("/api/tasks?limit=40").await.json().await.unwrap();
    assert_eq!(ids(&again), ids(&whole), "the order is the same every time");
}

#[tokio::test]
async fn the_capacity_message_reads_well_for_one_task() {
    let app = spawn_app_with(&[("MAX_TASKS", "1")]).await;
    app.create_task("the only one").await;
    let res = app.post_json("/api/tasks", &json!({"title": "two"})).await;
    let message = assert_error(res, 409, "capacity_exceeded").await;
    assert!(message.contains("at most 1 task can"), "{message}");
}
