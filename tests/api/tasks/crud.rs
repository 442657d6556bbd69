//! Creating, reading, changing and deleting one task.

use std::collections::HashSet;

use integration_tests::api::spawn_app;
use integration_tests::assert_error;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

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

fn timestamp(task: &Value, field: &str) -> OffsetDateTime {
    OffsetDateTime::parse(task[field].as_str().unwrap(), &Rfc3339).unwrap()
}

#[tokio::test]
async fn patch_moves_updated_at_forward_and_keeps_created_at() {
    let app = spawn_app().await;
    let task = app.create_task("draft").await;
    assert_eq!(
        timestamp(&task, "created_at"),
        timestamp(&task, "updated_at")
    );
    let id = task["id"].as_str().unwrap();
    for patch in [json!({"completed": true}), json!({"title": "final"})] {
        let before = app.get_json(&format!("/api/tasks/{id}")).await;
        let res = app.patch_task(id, &patch).await;
        assert_eq!(res.status(), 200);
        let after: Value = res.json().await.unwrap();
        assert!(
            timestamp(&after, "updated_at") > timestamp(&before, "updated_at"),
            "{patch}: {before} -> {after}"
        );
        assert_eq!(after["created_at"], task["created_at"], "{patch}");
        let stored = app.get_json(&format!("/api/tasks/{id}")).await;
        assert_eq!(stored, after, "{patch}: the change is stored");
    }
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
