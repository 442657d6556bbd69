//! Migrations: exactly one replica applies them, and a failure stops the process before it serves.

use api_app::tasks::store::{MIGRATIONS, migrate};
use integration_tests::{pg, start_failure};

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
fn a_failing_migration_stops_the_process_before_it_listens() {
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
    assert_eq!(code, Some(2), "exits non-zero before it listens: {stderr}");
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
