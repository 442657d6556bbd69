//! `Idempotency-Key` on `POST /api/tasks`: a retry with the same key and body gets the first answer
//! (status, body, `Location`, `ETag`) and creates nothing; another body is 422; a malformed key is
//! 400; keys expire. In the replicas pass the retry goes to the other process.

use std::sync::Arc;

use integration_tests::api::{TestApp, spawn_app, spawn_app_with};
use integration_tests::assert_error;
use serde_json::{Value, json};

/// `POST /api/tasks` with `body` and the key header(s) given, to `url`.
async fn post_keyed(app: &TestApp, url: &str, keys: &[&str], body: &Value) -> reqwest::Response {
    let mut req = app.client.post(url).json(body);
    for key in keys {
        req = req.header("idempotency-key", *key);
    }
    req.send().await.unwrap()
}

async fn create_keyed(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    post_keyed(app, &app.url("/api/tasks"), &[key], body).await
}

async fn total(app: &TestApp) -> u64 {
    app.get_json("/api/tasks").await["total"].as_u64().unwrap()
}

/// The parts of a create's answer a retry must get again.
async fn answer(res: reqwest::Response) -> (u16, String, String, Option<String>, Value) {
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (location, etag, replayed) = (
        header("location").unwrap(),
        header("etag").unwrap(),
        header("idempotent-replayed"),
    );
    (
        res.status().as_u16(),
        location,
        etag,
        replayed,
        res.json().await.unwrap(),
    )
}

#[tokio::test]
async fn a_retry_with_the_same_key_and_body_gets_the_first_answer_and_creates_nothing() {
    let app = spawn_app().await;
    let body = json!({ "title": "pay the invoice", "completed": false });
    let key = "8e03978e-40d5-43e8-bc93-6894a57f9324";
    let (status, location, etag, replayed, task) =
        answer(create_keyed(&app, key, &body).await).await;
    assert_eq!((status, replayed), (201, None));
    // The same key, quoted as the draft writes it, a body spelled differently but meaning the same,
    // and sent to the other replica in the replicas pass.
    let retry = post_keyed(
        &app,
        &app.replica_url("/api/tasks"),
        &[&format!("\"{key}\"")],
        &json!({ "completed": false, "title": "  pay the invoice " }),
    )
    .await;
    let again = answer(retry).await;
    assert_eq!(
        again,
        (201, location, etag, Some("true".to_owned()), task),
        "status, Location, ETag and body are the first create's"
    );
    assert_eq!(total(&app).await, 1, "one task, however many retries");
}

#[tokio::test]
async fn the_replay_is_the_first_answer_even_after_the_task_changed_or_went() {
    let app = spawn_app().await;
    let body = json!({ "title": "first answer" });
    let (_, location, etag, _, task) = answer(create_keyed(&app, "k-changes", &body).await).await;
    let id = task["id"].as_str().unwrap();
    assert_eq!(
        app.patch_task(id, &json!({ "title": "renamed" }))
            .await
            .status(),
        200
    );
    let replay = answer(create_keyed(&app, "k-changes", &body).await).await;
    assert_eq!(replay.1, location);
    assert_eq!(replay.2, etag, "the first version's tag");
    assert_eq!(replay.4["title"], "first answer");
    assert_eq!(app.delete_task(id).await.status(), 204);
    let replay = answer(create_keyed(&app, "k-changes", &body).await).await;
    assert_eq!(
        (replay.0, replay.4),
        (201, task),
        "a deleted task is not created again"
    );
    assert_eq!(total(&app).await, 0);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_422_and_creates_nothing() {
    let app = spawn_app().await;
    assert_eq!(
        create_keyed(&app, "k-reused", &json!({ "title": "one" }))
            .await
            .status(),
        201
    );
    for other in [
        json!({ "title": "two" }),
        json!({ "title": "one", "completed": true }),
    ] {
        let res = post_keyed(&app, &app.replica_url("/api/tasks"), &["k-reused"], &other).await;
        let message = assert_error(res, 422, "idempotency_key_reused").await;
        assert!(message.contains("another body"), "{message}");
    }
    assert_eq!(total(&app).await, 1);
}

#[tokio::test]
async fn a_malformed_idempotency_key_is_a_400_and_creates_nothing() {
    let app = spawn_app().await;
    let body = json!({ "title": "never stored" });
    let long = "k".repeat(256);
    for keys in [
        vec![""],
        vec!["\"\""],
        vec![long.as_str()],
        vec!["has space"],
        vec!["quote\"inside"],
        vec!["one", "two"],
    ] {
        let res = post_keyed(&app, &app.url("/api/tasks"), &keys, &body).await;
        let message = assert_error(res, 400, "invalid_idempotency_key").await;
        assert!(message.contains("idempotency-key"), "{keys:?}: {message}");
    }
    let res = app
        .client
        .post(app.url("/api/tasks"))
        .header(
            "idempotency-key",
            reqwest::header::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "invalid_idempotency_key").await;
    assert_eq!(total(&app).await, 0);
}

#[tokio::test]
async fn an_expired_key_is_as_good_as_new() {
    let app = spawn_app_with(&[("IDEMPOTENCY_KEY_TTL_SECS", "1")]).await;
    let first = create_keyed(&app, "k-expires", &json!({ "title": "before" })).await;
    assert_eq!(first.status(), 201);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let res = create_keyed(&app, "k-expires", &json!({ "title": "after" })).await;
    assert_eq!(
        res.status(),
        201,
        "another body is fine once the key expired"
    );
    assert!(res.headers().get("idempotent-replayed").is_none());
    let res = create_keyed(&app, "k-expires", &json!({ "title": "after" })).await;
    assert_eq!(
        res.headers()["idempotent-replayed"],
        "true",
        "and it is remembered anew"
    );
    assert_eq!(total(&app).await, 2);
}

#[tokio::test]
async fn concurrent_creates_with_one_key_make_one_task_and_the_others_replay_or_wait() {
    let app = Arc::new(spawn_app().await);
    let creates = (0..8).map(|i| {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let url = if i % 2 == 0 {
                app.url("/api/tasks")
            } else {
                app.replica_url("/api/tasks")
            };
            post_keyed(&app, &url, &["k-race"], &json!({ "title": "raced" })).await
        })
    });
    let mut ids = Vec::new();
    for res in futures_util::future::join_all(creates).await {
        let res = res.unwrap();
        match res.status().as_u16() {
            201 => ids.push(res.json::<Value>().await.unwrap()["id"].clone()),
            409 => {
                assert_eq!(res.headers()["retry-after"], "1");
                assert_error(res, 409, "idempotency_key_in_use").await;
            }
            other => panic!("a keyed create answered {other}"),
        }
    }
    assert!(!ids.is_empty(), "at least one create answers 201");
    assert!(ids.iter().all(|id| *id == ids[0]), "one task: {ids:?}");
    assert_eq!(total(&app).await, 1);
}

/// Keyed creates count against `MAX_TASKS` as plain ones do (on PostgreSQL in the counter shards,
/// so budgets a plain create shared out never make them refuse room that is free), a retry of a
/// stored key still replays at the cap, and keyed tasks list by cursor like any other.
#[tokio::test]
async fn keyed_creates_fill_the_store_to_exactly_max_tasks_and_walk_by_cursor() {
    const MAX: usize = 100;
    let app = spawn_app_with(&[("MAX_TASKS", "100")]).await;
    // A plain create first: on PostgreSQL it shares budgets out to every shard.
    let mut created = vec![app.create_task("plain first").await["id"].clone()];
    for i in 1..MAX {
        let res = create_keyed(
            &app,
            &format!("fill-{i}"),
            &json!({ "title": format!("keyed {i}") }),
        )
        .await;
        assert_eq!(
            res.status(),
            201,
            "keyed create {i} of {MAX}, below the cap"
        );
        created.push(res.json::<Value>().await.unwrap()["id"].clone());
    }
    let full = create_keyed(&app, "one-too-many", &json!({ "title": "one too many" })).await;
    assert_error(full, 409, "capacity_exceeded").await;
    let retry = create_keyed(&app, "fill-7", &json!({ "title": "keyed 7" })).await;
    assert_eq!(retry.status(), 201, "a stored key replays at the cap");
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(total(&app).await, 100);
    let (mut walked, mut cursor) = (Vec::new(), Value::Null);
    loop {
        let path = match cursor.as_str() {
            Some(c) => format!("/api/tasks?limit=7&cursor={c}"),
            None => "/api/tasks?limit=7".to_owned(),
        };
        let page = app.get_json(&path).await;
        walked.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].clone()),
        );
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(walked, created, "every task once, in creation order");
}

#[tokio::test]
async fn the_openapi_document_describes_the_key_and_its_answers() {
    let app = spawn_app().await;
    let doc = app.get_json("/api/openapi.json").await;
    let create = &doc["paths"]["/api/tasks"]["post"];
    let param = create["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .expect("the header is documented");
    assert_eq!(param["in"], "header");
    assert_eq!(param["required"], false);
    assert_eq!(param["schema"]["type"], "string", "never null: {param}");
    assert_eq!(
        param["schema"]["pattern"],
        api_app::tasks::idempotency::KEY_PATTERN
    );
    for status in ["409", "422"] {
        let text = create["responses"][status]["description"].as_str().unwrap();
        assert!(text.contains("Idempotency-Key"), "{status}: {text}");
    }
}
