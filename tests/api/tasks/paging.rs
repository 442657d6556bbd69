//! Listing tasks: pages in creation order, `next_cursor` and `next_offset`, and the bounds of `limit`,
//! `offset` and `cursor`.

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
    for (query, named) in [
        ("limit=many", "limit must be a whole number, 1-1000"),
        ("limit=-1", "limit must be a whole number, 1-1000"),
        ("offset=1e3", "offset must be a whole number, 0-"),
        ("limit=5&offset=", "offset must be a whole number, 0-"),
    ] {
        let message = assert_error(
            app.get(&format!("/api/tasks?{query}")).await,
            400,
            "invalid_query",
        )
        .await;
        assert!(
            message.contains(named),
            "{query}: names the parameter and says what is wrong: {message}"
        );
    }
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

/// The ids on a page.
fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// The next page's path: `limit` tasks after `cursor`, or the first page.
fn after(cursor: &Value, limit: usize) -> String {
    match cursor.as_str() {
        Some(c) => format!("/api/tasks?limit={limit}&cursor={c}"),
        None => format!("/api/tasks?limit={limit}"),
    }
}

#[tokio::test]
async fn following_next_cursor_visits_each_task_once_while_tasks_are_created_and_deleted() {
    let app = spawn_app().await;
    let mut present = Vec::new();
    for i in 0..40 {
        present.push(
            app.create_task(&format!("walk {i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // A fixed pseudo-random plan, so a failure replays: between pages, delete a task ahead of the
    // walk or behind it, or create one (it lands at the end, where the walk will find it).
    let mut state = 0x2545_f491_u32;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let (mut deleted, mut created) = (Vec::new(), Vec::new());
    let (mut seen, mut cursor, mut pages) = (Vec::new(), Value::Null, 0);
    loop {
        let limit = 1 + usize::try_from(next() % 9).unwrap();
        let page = app.get_json(&after(&cursor, limit)).await;
        pages += 1;
        assert!(page["offset"].is_null() || cursor.is_null(), "{page}");
        seen.extend(ids(&page));
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
        match next() % 3 {
            0 if !present.is_empty() => {
                let victim = present.remove(usize::try_from(next()).unwrap() % present.len());
                assert_eq!(app.delete_task(&victim).await.status(), 204);
                deleted.push(victim);
            }
            _ => {
                let id = app.create_task(&format!("during {pages}")).await["id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                present.push(id.clone());
                created.push(id);
            }
        }
    }
    assert!(pages > 5, "the walk took several pages: {pages}");
    assert!(
        !deleted.is_empty() && !created.is_empty(),
        "the plan did both"
    );
    let unique: std::collections::HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no task twice");
    for id in &present {
        assert!(
            seen.contains(id),
            "{id} lived through the walk and was never visited"
        );
    }
    let seen_in_order: Vec<&String> = seen.iter().filter(|id| present.contains(id)).collect();
    let listed = ids(&app.get_json("/api/tasks?limit=1000").await);
    assert_eq!(
        seen_in_order,
        listed.iter().collect::<Vec<_>>(),
        "in creation order"
    );
}

#[tokio::test]
async fn next_cursor_is_null_exactly_on_the_last_page() {
    let app = spawn_app().await;
    let empty = app.get_json("/api/tasks").await;
    assert_eq!(empty["next_cursor"], Value::Null, "an empty store");
    for i in 0..20 {
        app.create_task(&format!("t{i}")).await;
    }
    for limit in [1, 7, 10, 19, 20, 21, 1000] {
        let (mut cursor, mut walked) = (Value::Null, Vec::new());
        loop {
            let page = app.get_json(&after(&cursor, limit)).await;
            let got = ids(&page);
            assert!(
                !got.is_empty(),
                "a cursor never leads to an empty page (limit {limit})"
            );
            walked.extend(got);
            cursor = page["next_cursor"].clone();
            if cursor.is_null() {
                break;
            }
        }
        assert_eq!(walked.len(), 20, "limit {limit}");
    }
    // An offset page hands out the cursor to continue from it, too.
    let page = app.get_json("/api/tasks?limit=5&offset=10").await;
    let rest = app.get_json(&after(&page["next_cursor"], 1000)).await;
    assert_eq!(ids(&rest).len(), 5);
    assert_eq!(rest["offset"], Value::Null);
    assert_eq!(rest["next_offset"], Value::Null);
    assert_eq!(rest["total"], 20);
}

#[tokio::test]
async fn a_forged_cursor_or_a_cursor_with_an_offset_is_refused() {
    let app = spawn_app().await;
    app.create_task("one").await;
    app.create_task("two").await;
    let cursor = app.get_json("/api/tasks?limit=1").await["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let message = assert_error(
        app.get(&format!("/api/tasks?cursor={cursor}&offset=0"))
            .await,
        400,
        "invalid_query",
    )
    .await;
    assert!(message.contains("cursor and offset"), "{message}");
    for bad in ["", "1", "not-a-cursor", "AQAAAAAAAAAy%3D", &cursor[1..]] {
        let message = assert_error(
            app.get(&format!("/api/tasks?cursor={bad}")).await,
            400,
            "invalid_query",
        )
        .await;
        assert!(message.contains("cursor"), "{bad}: {message}");
    }
}

/// The document says which strings are cursors, so a client (or a fuzzer) that keeps to it is never
/// refused: any string of the published pattern is a cursor, one past every task included.
#[tokio::test]
async fn the_openapi_document_publishes_which_strings_are_cursors() {
    let app = spawn_app().await;
    app.create_task("one").await;
    let doc = app.get_json("/api/openapi.json").await;
    let param = doc["paths"]["/api/tasks"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "cursor")
        .expect("cursor is documented");
    assert_eq!(param["schema"]["type"], "string", "never null: {param}");
    assert_eq!(
        param["schema"]["pattern"],
        api_app::tasks::page::CURSOR_PATTERN
    );
    let handed_out = app.get_json("/api/tasks?limit=1").await;
    assert!(handed_out["next_cursor"].is_null());
    for cursor in ["AQAAAAAAAAAA", "Af__________", "AQ-_aZ09AQ-_"] {
        let page = app.get_json(&format!("/api/tasks?cursor={cursor}")).await;
        assert!(page["items"].is_array(), "{cursor}: {page}");
    }
}
