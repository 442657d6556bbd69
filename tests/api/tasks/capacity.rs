//! `MAX_TASKS`: a full store refuses creates and loses nothing, and `tasks_stored` counts exactly.

use std::sync::Arc;

use integration_tests::api::{API_KEY, TestApp, spawn_app, spawn_app_with};
use integration_tests::assert_error;
use serde_json::{Value, json};

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

#[tokio::test]
async fn the_capacity_message_reads_well_for_one_task() {
    let app = spawn_app_with(&[("MAX_TASKS", "1")]).await;
    app.create_task("the only one").await;
    let res = app.post_json("/api/tasks", &json!({"title": "two"})).await;
    let message = assert_error(res, 409, "capacity_exceeded").await;
    assert!(message.contains("at most 1 task can"), "{message}");
}

#[tokio::test]
async fn a_full_store_says_how_many_tasks_it_holds() {
    for (max, message) in [
        ("1", "the store is full: at most 1 task can be stored"),
        ("2", "the store is full: at most 2 tasks can be stored"),
    ] {
        let app = spawn_app_with(&[("MAX_TASKS", max)]).await;
        for i in 0..max.parse().unwrap() {
            app.create_task(&format!("t{i}")).await;
        }
        let refused = app
            .post_json("/api/tasks", &json!({"title": "one more"}))
            .await;
        assert_eq!(
            assert_error(refused, 409, "capacity_exceeded").await,
            message
        );
    }
}

#[tokio::test]
async fn a_flood_of_creates_past_max_tasks_is_refused_and_loses_nothing() {
    let app = spawn_app_with(&[("MAX_TASKS", "5"), ("API_KEY", API_KEY)]).await;
    let app = Arc::new(app);
    let flood = (0..60).map(|i| {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            app.post_json("/api/tasks", &json!({ "title": format!("flood {i}") }))
                .await
        })
    });
    let mut created = Vec::new();
    for res in futures_util::future::join_all(flood).await {
        let res = res.unwrap();
        if res.status() == 201 {
            created.push(res.json::<Value>().await.unwrap()["id"].clone());
        } else {
            let message = assert_error(res, 409, "capacity_exceeded").await;
            assert!(message.contains('5'), "names the limit: {message}");
        }
    }
    assert_eq!(created.len(), 5, "exactly MAX_TASKS accepted");

    // Nothing stored was lost or replaced, and the store stays at its bound.
    let page: Value = app.get("/api/tasks").await.json().await.unwrap();
    assert_eq!(page["total"], 5);
    let stored: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["id"])
        .collect();
    for id in &created {
        assert!(stored.contains(&id), "{id} is still stored");
    }
    let more = app
        .post_json("/api/tasks", &json!({ "title": "one more" }))
        .await;
    assert_error(more, 409, "capacity_exceeded").await;
    // Deleting one frees exactly one slot.
    let id = created[0].as_str().unwrap();
    assert_eq!(app.delete_task(id).await.status(), 204);
    app.create_task("fits again").await;
    assert_eq!(app.stats().await["tasks"]["total"], 5);
}

#[tokio::test]
async fn the_task_gauge_follows_creates_and_deletes() {
    let app = spawn_app().await;
    let a = app.create_task("a").await;
    app.create_task("b").await;
    app.delete_task(a["id"].as_str().unwrap()).await;
    let text = app.admin_get("/metrics").await.text().await.unwrap();
    assert!(text.lines().any(|l| l == "tasks_stored 1"), "{text}");
}

async fn tasks_stored(app: &TestApp) -> u64 {
    let text = app.admin_get("/metrics").await.text().await.unwrap();
    integration_tests::sample(&text, "tasks_stored ")
        .unwrap_or_else(|| panic!("no tasks_stored in {text}"))
}

#[tokio::test]
async fn the_task_gauge_never_counts_refused_creates_or_deletes() {
    let app = spawn_app_with(&[("MAX_TASKS", "2")]).await;
    let a = app.create_task("a").await;
    app.create_task("b").await;
    let refused = app.post_json("/api/tasks", &json!({"title": "c"})).await;
    assert_error(refused, 409, "capacity_exceeded").await;
    let invalid = app.post_json("/api/tasks", &json!({"title": ""})).await;
    assert_error(invalid, 422, "validation_failed").await;
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_error(app.delete_task(&unknown).await, 404, "not_found").await;
    assert_eq!(tasks_stored(&app).await, 2);
    assert_eq!(
        app.delete_task(a["id"].as_str().unwrap()).await.status(),
        204
    );
    assert_eq!(tasks_stored(&app).await, 1);
}

#[tokio::test]
async fn the_task_gauge_counts_a_keyed_create_once_however_often_it_is_replayed() {
    let app = spawn_app().await;
    let body = json!({ "title": "counted once" });
    for attempt in 0..3 {
        let res = app
            .client
            .post(app.url("/api/tasks"))
            .header("idempotency-key", "c1d4a0f2-5b7e-4e8a-9f61-2a3b4c5d6e7f")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "attempt {attempt}");
    }
    // Read before any list, count or delete could set the gauge to the stored total again.
    assert_eq!(tasks_stored(&app).await, 1);
}
