//! Keyed creates on PostgreSQL: the key commits with the task, so a create whose 201 was lost (a
//! frozen database, a 503) is found by its key on retry; a key in flight on another connection is
//! a 409; expired keys are swept.

use std::process::Command;
use std::time::Duration;

use integration_tests::api::{TestApp, spawn_app_with};
use integration_tests::{assert_error, eventually, pg};
use serde_json::{Value, json};

async fn create_keyed(app: &TestApp, key: &str, title: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/tasks"))
        .header("idempotency-key", key)
        .json(&json!({ "title": title }))
        .send()
        .await
        .unwrap()
}

async fn count(db: &str, sql: &str) -> u64 {
    pg::query_strings(db, sql).await[0].parse().unwrap()
}

/// Sends `signal` (`STOP`, `CONT`) to every backend serving api-app on `db`.
async fn signal_backends(db: &str, signal: &str) -> usize {
    let pids = pg::query_strings(
        db,
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name = 'api-app'",
    )
    .await;
    for pid in &pids {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid}");
    }
    pids.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_that_got_503_after_committing_is_found_by_its_key_on_retry() {
    let db = pg::fresh_database().await;
    let app = spawn_app_with(&[
        ("DATABASE_URL", db.as_str()),
        ("DATABASE_POOL_MAX", "1"),
        ("DATABASE_ACQUIRE_TIMEOUT_MS", "500"),
        ("DATABASE_STATEMENT_TIMEOUT_MS", "500"),
    ])
    .await;
    // The one pooled connection is open and has the keyed statement prepared: a frozen database
    // then holds the whole create, statement and commit, in its socket.
    assert_eq!(create_keyed(&app, "warm-up", "warm up").await.status(), 201);
    assert_eq!(signal_backends(&db, "STOP").await, 1, "one backend frozen");
    let res = create_keyed(&app, "frozen-key", "committed while frozen").await;
    let thawed = signal_backends(&db, "CONT").await;
    assert_eq!(thawed, 1);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_error(res, 503, "store_unavailable").await;

    // Thawed, the database runs the create it was sent and commits it: the 503 hid a create.
    let committed = "SELECT count(*) FROM tasks WHERE title = 'committed while frozen'";
    eventually(Duration::from_secs(10), "the frozen create commits", || {
        let db = db.clone();
        async move { (count(&db, committed).await == 1).then_some(()) }
    })
    .await;
    let id = pg::query_strings(
        &db,
        "SELECT id FROM tasks WHERE title = 'committed while frozen'",
    )
    .await
    .remove(0);

    // The retry finds it by its key (after a 409 or two while the thawed statement finishes).
    let retried = eventually(Duration::from_secs(10), "the retry answers 201", || {
        let app = &app;
        async move {
            let res = create_keyed(app, "frozen-key", "committed while frozen").await;
            (res.status() == 201).then_some(res)
        }
    })
    .await;
    assert_eq!(retried.headers()["idempotent-replayed"], "true");
    assert_eq!(
        retried.headers()["location"],
        format!("/api/tasks/{id}").as_str()
    );
    let task: Value = retried.json().await.unwrap();
    assert_eq!(task["id"], id.as_str());
    assert_eq!(count(&db, committed).await, 1, "exactly one row");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_another_transaction_holds_is_a_409_in_flight_until_it_is_released() {
    let db = pg::fresh_database().await;
    let app = spawn_app_with(&[("DATABASE_URL", db.as_str())]).await;
    // What a replica holds while it creates with this key: the key's advisory lock.
    let holder = pg::hold(
        &db,
        "SELECT pg_advisory_xact_lock(hashtextextended('held-key', 0))",
    )
    .await;
    let res = create_keyed(&app, "held-key", "waits its turn").await;
    assert_eq!(res.headers()["retry-after"], "1");
    assert_error(res, 409, "idempotency_key_in_use").await;
    assert_eq!(
        create_keyed(&app, "other-key", "not held").await.status(),
        201,
        "other keys go on"
    );
    holder.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        create_keyed(&app, "held-key", "waits its turn")
            .await
            .status(),
        201
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM tasks WHERE title = 'waits its turn'"
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_keys_are_swept_and_live_ones_kept() {
    let db = pg::fresh_database().await;
    let short = spawn_app_with(&[
        ("DATABASE_URL", db.as_str()),
        ("IDEMPOTENCY_KEY_TTL_SECS", "1"),
    ])
    .await;
    for i in 0..3 {
        assert_eq!(
            create_keyed(&short, &format!("short-{i}"), "short")
                .await
                .status(),
            201
        );
    }
    let long = spawn_app_with(&[("DATABASE_URL", db.as_str())]).await;
    assert_eq!(
        create_keyed(&long, "long-lived", "long").await.status(),
        201
    );
    assert_eq!(count(&db, "SELECT count(*) FROM idempotency_keys").await, 4);
    eventually(
        Duration::from_secs(15),
        "the expired keys are swept",
        || {
            let db = db.clone();
            async move {
                let left = pg::query_strings(&db, "SELECT key FROM idempotency_keys").await;
                (left == ["long-lived"]).then_some(())
            }
        },
    )
    .await;
}
