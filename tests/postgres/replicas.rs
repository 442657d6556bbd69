//! Two api-app processes on one database behave as one service.

use integration_tests::{Http, RealBinary, pg, test_client};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_tasks_holds_exactly_across_two_processes_under_concurrent_creates() {
    const CAP: usize = 30;
    let db = pg::fresh_database().await;
    let cap = CAP.to_string();
    // 60 creates at once per process, 10 connections each: on a loaded 2-core runner (the mutation
    // job runs the suites in parallel) a create may wait past the default 2 s for a connection and
    // get a 503. This test is about the cap, so the waits are long enough never to decide it.
    let env = [
        ("DATABASE_URL", db.as_str()),
        ("MAX_TASKS", cap.as_str()),
        ("DATABASE_ACQUIRE_TIMEOUT_MS", "30000"),
        ("DATABASE_STATEMENT_TIMEOUT_MS", "30000"),
    ];
    let (a, b) = (
        RealBinary::spawn("api-app", &env),
        RealBinary::spawn("api-app", &env),
    );
    let creates = (0..120).map(|i| {
        let http = if i % 2 == 0 { &a } else { &b };
        let http = Http::clone(http);
        tokio::spawn(async move {
            let res = http.post_task(&format!("race {i}")).await;
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap();
            (status, body)
        })
    });
    let outcomes: Vec<(u16, Value)> = futures_util::future::join_all(creates)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let stored = outcomes.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(stored, CAP, "exactly the cap is stored");
    for (status, body) in outcomes.iter().filter(|(s, _)| *s != 201) {
        assert_eq!(*status, 409, "{body}");
        assert_eq!(body["error"]["code"], "capacity_exceeded");
    }
    for app in [&a, &b] {
        let page: Value = app.get("/api/tasks?limit=1000").await.json().await.unwrap();
        assert_eq!(page["total"], CAP);
        assert_eq!(page["items"].as_array().unwrap().len(), CAP);
    }
    let rows = pg::query_strings(&db, "SELECT count(*) FROM tasks").await;
    assert_eq!(
        rows,
        [CAP.to_string()],
        "the counter row agrees with the table"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_sees_the_others_writes_and_a_stale_etag_is_refused_on_either() {
    let db = pg::fresh_database().await;
    let env = [("DATABASE_URL", db.as_str())];
    let (a, b) = (
        RealBinary::spawn("api-app", &env),
        RealBinary::spawn("api-app", &env),
    );
    let client = test_client();
    let created = client
        .post(a.url("/api/tasks"))
        .json(&json!({"title": "shared"}))
        .send()
        .await
        .unwrap();
    let v1 = created.headers()["etag"].to_str().unwrap().to_owned();
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let on_b = client
        .get(b.url(&format!("/api/tasks/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(on_b.status(), 200, "created on A, read on B");
    assert_eq!(
        on_b.headers()["etag"].to_str().unwrap(),
        v1,
        "one version, one tag"
    );

    let patch = |app: &RealBinary, title: &str| {
        client
            .patch(app.url(&format!("/api/tasks/{id}")))
            .header("if-match", &v1)
            .json(&json!({ "title": title }))
            .send()
    };
    assert_eq!(patch(&a, "A wins").await.unwrap().status(), 200);
    let lost = patch(&b, "B loses").await.unwrap();
    assert_eq!(lost.status(), 412);
    assert_eq!(
        lost.json::<Value>().await.unwrap()["error"]["code"],
        "precondition_failed"
    );
    let now: Value = b
        .get(&format!("/api/tasks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["title"], "A wins");
}
