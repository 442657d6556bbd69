//! Each worker takes its connections from a pool of its own (`api-app/src/tasks/store/pool.rs`),
//! and the pools together still behave as the one `DATABASE_POOL_MAX` they share out: a worker
//! whose own pool is all in use takes a connection elsewhere rather than waiting, and no more
//! connections are open than the setting allows.

use std::time::Duration;

use integration_tests::api::spawn_app_with;
use integration_tests::{eventually, pg, sample, test_client};
use serde_json::json;

/// Two workers with one connection each. One worker's connection is held by a create stuck on a
/// lock; reads on every fresh connection to the app (actix deals them out to both workers in
/// turn) are still answered, well inside the acquire timeout, and never by a third connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_pool_is_in_use_takes_a_connection_from_another() {
    let db = pg::fresh_database().await;
    let app = spawn_app_with(&[
        ("DATABASE_URL", db.as_str()),
        ("WORKERS", "2"),
        ("DATABASE_POOL_MAX", "2"),
        ("DATABASE_ACQUIRE_TIMEOUT_MS", "1000"),
        ("DATABASE_STATEMENT_TIMEOUT_MS", "30000"),
    ])
    .await;
    // A keyed create reads the key table first: under this lock it waits, holding its connection.
    let holder = pg::hold(&db, "LOCK TABLE idempotency_keys IN ACCESS EXCLUSIVE MODE").await;
    let stuck = tokio::spawn({
        let (client, url) = (test_client(), app.url("/api/tasks"));
        async move {
            client
                .post(url)
                .header("idempotency-key", "stuck-behind-a-lock")
                .json(&json!({ "title": "waits for the lock" }))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                   AND application_name = 'api-app' AND wait_event_type = 'Lock'";
    eventually(
        Duration::from_secs(10),
        "the create waits on the lock",
        || {
            let db = db.clone();
            async move { (pg::query_strings(&db, waiting).await[0] == "1").then_some(()) }
        },
    )
    .await;

    for n in 0..4 {
        // A client of its own: a new TCP connection, which actix hands to the next worker.
        let res = test_client()
            .get(app.url("/api/tasks"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "read {n} on a fresh connection");
    }
    let metrics = app.metrics().await;
    assert_eq!(sample(&metrics, "store_pool_max_connections "), Some(2));
    let open: u64 = ["idle", "in_use"]
        .iter()
        .filter_map(|state| {
            sample(
                &metrics,
                &format!("store_pool_connections{{state=\"{state}\"}} "),
            )
        })
        .sum();
    // One in each worker's pool: the stuck create's, and the one the reads took turns on.
    assert_eq!(open, 2, "connections open");

    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        stuck.await.unwrap(),
        201,
        "the create goes on once the lock is gone"
    );
}
