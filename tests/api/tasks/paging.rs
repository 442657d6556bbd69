//! Listing tasks: pages in creation order, `next_offset`, and the bounds of `limit` and `offset`.

use integration_tests::api::spawn_app;
use integration_tests::assert_error;
use serde_json::{Value, json};

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

    let titles: Vec<String> = app
        .all_tasks(10)
        .await
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect();
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
async fn next_offset_is_null_exactly_when_no_task_follows_the_page() {
    let app = spawn_app().await;
    let empty = app.get_json("/api/tasks").await;
    assert_eq!(empty["next_offset"], Value::Null, "an empty store");
    for i in 0..20 {
        app.create_task(&format!("t{i}")).await;
    }
    for (query, items, next) in [
        ("limit=10&offset=0", 10, json!(10)),
        ("limit=10&offset=10", 10, Value::Null),
        ("limit=8&offset=12", 8, Value::Null),
        ("limit=5&offset=12", 5, json!(17)),
        ("limit=19&offset=0", 19, json!(19)),
        ("limit=20&offset=0", 20, Value::Null),
        ("limit=10&offset=19", 1, Value::Null),
        ("limit=10&offset=20", 0, Value::Null),
    ] {
        let page = app.get_json(&format!("/api/tasks?{query}")).await;
        assert_eq!(page["items"].as_array().unwrap().len(), items, "{query}");
        assert_eq!(page["next_offset"], next, "{query}");
        assert_eq!(page["total"], 20, "{query}");
    }
}

#[tokio::test]
async fn a_bad_query_string_is_refused_with_a_message_naming_the_problem() {
    let app = spawn_app().await;
    let message = assert_error(app.get("/api/tasks?lmit=5").await, 400, "invalid_query").await;
    assert!(
        message.contains("lmit"),
        "names the unknown parameter: {message}"
    );
    let message = assert_error(app.get("/api/tasks?limit=many").await, 400, "invalid_query").await;
    assert!(
        message.contains("invalid digit"),
        "says what is wrong: {message}"
    );
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
