//! `GET /api/protected/stats`: exact task totals, requests served and uptime.

use std::time::Duration;

use integration_tests::api::spawn_app;
use serde_json::{Value, json};

#[tokio::test]
async fn stats_count_tasks_and_requests_exactly() {
    let app = spawn_app().await;
    let a = app.create_task("a").await;
    app.create_task("b").await;
    app.patch_task(a["id"].as_str().unwrap(), &json!({"completed": true}))
        .await;
    let stats = app.stats().await;
    assert_eq!(stats["tasks"], json!({"total": 2, "completed": 1}));
    assert_eq!(stats["requests_served"], 3, "the three requests before it");
    assert_eq!(stats["version"], env!("CARGO_PKG_VERSION"));
    let again = app.stats().await;
    assert_eq!(again["requests_served"], 4);
}

#[tokio::test]
async fn uptime_is_counted_in_seconds_since_start() {
    let app = spawn_app().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let health = app.get_json("/api/health").await;
    let stats = app.stats().await;
    for (what, uptime) in [
        ("health", &health["uptime_seconds"]),
        ("stats", &stats["uptime_seconds"]),
    ] {
        let uptime = uptime.as_u64().unwrap();
        assert!((1..60).contains(&uptime), "{what}: {uptime}");
    }
}

#[tokio::test]
async fn the_completed_count_follows_tasks_reopened_and_deleted() {
    let app = spawn_app().await;
    let a = app.create_task("a").await;
    let id = a["id"].as_str().unwrap();
    let done = app
        .post_json("/api/tasks", &json!({"title": "b", "completed": true}))
        .await;
    let b: Value = done.json().await.unwrap();
    let completed = |stats: Value| stats["tasks"]["completed"].clone();
    assert_eq!(completed(app.stats().await), 1);
    app.patch_task(id, &json!({"completed": true})).await;
    assert_eq!(completed(app.stats().await), 2);
    app.patch_task(id, &json!({"completed": true})).await;
    assert_eq!(
        completed(app.stats().await),
        2,
        "completing twice counts once"
    );
    app.patch_task(id, &json!({"completed": false})).await;
    assert_eq!(completed(app.stats().await), 1, "reopening uncounts");
    app.delete_task(b["id"].as_str().unwrap()).await;
    assert_eq!(
        app.stats().await["tasks"],
        json!({"total": 1, "completed": 0})
    );
}
