//! Migrations: exactly one replica applies them, a failure stops the process before it is ready,
//! and neither a lock nor a long statement holds them (and the writes queued behind them) for long.

use std::time::{Duration, Instant};

use api_app::tasks::store::{
    LOCK_KEY, MIGRATIONS, Migration, MigrationTimeouts, migrate, migrate_within,
};
use integration_tests::{pg, start_failure};

/// A session of its own on `db`.
async fn session(db: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(db, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// Short timeouts, so the bounds are quick to check (the lock's shorter, as in the default).
const SHORT: MigrationTimeouts = MigrationTimeouts {
    lock: Duration::from_millis(300),
    statement: Duration::from_secs(1),
};

/// The embedded migrations plus one more, `sql`.
fn with_next(sql: &'static str) -> Vec<Migration> {
    let mut all = MIGRATIONS.to_vec();
    all.push(Migration {
        version: i64::try_from(all.len()).unwrap() + 1,
        name: "next.sql",
        sql,
    });
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_another_replicas_migration_gives_up_at_the_lock_timeout_to_retry() {
    let db = pg::empty_database().await;
    let holder = session(&db).await;
    holder
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await
        .unwrap();
    let mut client = session(&db).await;
    let started = Instant::now();
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        migrate_within(&mut client, MIGRATIONS, SHORT),
    )
    .await
    .expect("the wait for the lock is bounded")
    .expect_err("the lock is held");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_transient(), "retried later: {err}");
    holder
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await
        .unwrap();
    let applied = migrate_within(&mut client, MIGRATIONS, SHORT)
        .await
        .unwrap();
    assert_eq!(applied.len(), MIGRATIONS.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_behind_a_long_transaction_gives_up_and_never_holds_writes_for_long() {
    let db = pg::fresh_database().await;
    // A long reader holds the table: an ALTER must wait for it, and every write queues behind the ALTER.
    let reader = session(&db).await;
    reader
        .batch_execute("BEGIN; SELECT count(*) FROM tasks")
        .await
        .unwrap();
    let migrations = with_next("ALTER TABLE tasks ADD COLUMN note text");
    let migrating = {
        let db = db.clone();
        tokio::spawn(async move {
            let mut client = session(&db).await;
            migrate_within(&mut client, &migrations, SHORT).await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let writer = session(&db).await;
    let started = Instant::now();
    tokio::time::timeout(
        Duration::from_secs(10),
        writer.execute("SELECT 1 FROM tasks FOR UPDATE", &[]),
    )
    .await
    .expect("the write is not held behind the migration")
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a write waited {:?} behind the migration",
        started.elapsed()
    );
    let err = migrating.await.unwrap().expect_err("the table is held");
    assert!(err.is_transient(), "retried later: {err}");
    assert!(err.to_string().contains("55P03"), "{err}");
    reader.batch_execute("COMMIT").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_over_the_statement_timeout_is_rolled_back_for_good() {
    let db = pg::fresh_database().await;
    let migrations = with_next("CREATE TABLE notes (id int); SELECT pg_sleep(5)");
    let mut client = session(&db).await;
    let started = Instant::now();
    let err = migrate_within(&mut client, &migrations, SHORT)
        .await
        .expect_err("too long for start-up");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!err.is_transient(), "a new release fixes it: {err}");
    assert!(err.to_string().contains("57014"), "{err}");
    let left = pg::query_strings(&db, "SELECT to_regclass('notes') IS NULL").await;
    assert_eq!(left, ["t"], "rolled back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_exactly_once() {
    let db = pg::empty_database().await;
    let runs = (0..4).map(|_| {
        let db = db.clone();
        tokio::spawn(async move {
            let (mut client, connection) = tokio_postgres::connect(&db, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            migrate(&mut client, MIGRATIONS).await
        })
    });
    let applied: Vec<Vec<i64>> = futures_util::future::join_all(runs)
        .await
        .into_iter()
        .map(|r| r.unwrap().expect("every replica starts"))
        .collect();
    let all: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(
        applied.iter().filter(|a| **a == all).count(),
        1,
        "one replica applied everything: {applied:?}"
    );
    assert!(
        applied.iter().all(|a| a.is_empty() || *a == all),
        "{applied:?}"
    );
    let recorded = pg::query_strings(&db, "SELECT count(*) FROM schema_migrations").await;
    assert_eq!(recorded, [MIGRATIONS.len().to_string()]);
}

#[test]
fn a_failing_migration_stops_the_process_before_it_is_ready() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(async {
        let db = pg::empty_database().await;
        // Something already holds the name the first migration creates.
        pg::execute(&db, "CREATE TABLE tasks (legacy int)")
            .await
            .unwrap();
        db
    });
    let (code, stderr) = start_failure("api-app", &[("DATABASE_URL", db.as_str())]);
    assert_eq!(code, Some(2), "exits non-zero, never ready: {stderr}");
    assert!(
        stderr.contains("0001_tasks.sql") && stderr.contains("rolled back"),
        "{stderr}"
    );
    // PostgreSQL's own words and SQLSTATE (duplicate_table), not tokio-postgres's bare "db error".
    assert!(
        stderr.contains(r#"ERROR 42P07: relation "tasks" already exists"#),
        "{stderr}"
    );
    let left = rt.block_on(pg::query_strings(
        &db,
        "SELECT count(*) FROM schema_migrations",
    ));
    assert_eq!(left, ["0"], "the failed migration left no trace");
}

#[test]
fn a_migration_changed_after_it_was_applied_is_refused() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(async {
        let db = pg::fresh_database().await;
        pg::execute(
            &db,
            "UPDATE schema_migrations SET checksum = '\\x00' WHERE version = 1",
        )
        .await
        .unwrap();
        db
    });
    let (code, stderr) = start_failure("api-app", &[("DATABASE_URL", db.as_str())]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("applied migrations never change"),
        "{stderr}"
    );
}
