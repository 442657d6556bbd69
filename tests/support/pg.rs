//! Throwaway PostgreSQL databases for the tests: `scripts/with-postgres.sh` starts a server and sets
//! `TEST_DATABASE_URL` (its superuser); each test gets a database of its own, copied from a template
//! migrated once per test process, which costs a file copy rather than a migration per test.

use std::sync::OnceLock;
use std::time::Duration;

/// `TEST_STORE=postgres` runs the in-process apps of the API suite on PostgreSQL.
pub const STORE_VAR: &str = "TEST_STORE";
/// The superuser URL of the throwaway server.
pub const ADMIN_URL_VAR: &str = "TEST_DATABASE_URL";

/// The CA that signed the throwaway server's TLS certificate, and one that signed nothing.
pub const CA_VAR: &str = "TEST_DATABASE_CA";
pub const OTHER_CA_VAR: &str = "TEST_DATABASE_OTHER_CA";

/// A variable scripts/with-postgres.sh sets, or a panic that says how to get it.
pub fn from_server(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the tests under scripts/with-postgres.sh")
    })
}

/// The throwaway server's superuser URL.
pub fn admin_url() -> String {
    from_server(ADMIN_URL_VAR)
}

/// How the API suite runs its apps: in memory (the default), on PostgreSQL (`TEST_STORE=postgres`),
/// or as two replicas on one PostgreSQL database (`TEST_STORE=postgres-replicas`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiSuiteStore {
    Memory,
    Postgres,
    /// Two processes on one database: writes go to the first, task reads to the second, so every
    /// test of the suite also proves that replicas share one truth.
    PostgresReplicas,
}

/// Which store the API suite runs on, from `TEST_STORE`.
pub fn api_suite_store() -> ApiSuiteStore {
    match std::env::var(STORE_VAR).as_deref() {
        Ok("postgres") => ApiSuiteStore::Postgres,
        Ok("postgres-replicas") => ApiSuiteStore::PostgresReplicas,
        Ok("memory") | Err(_) => ApiSuiteStore::Memory,
        Ok(other) => panic!("{STORE_VAR}={other}: use memory, postgres or postgres-replicas"),
    }
}

/// Whether the API suite runs its apps on PostgreSQL (one process or two replicas).
pub fn api_suite_uses_postgres() -> bool {
    api_suite_store() != ApiSuiteStore::Memory
}

/// `admin`'s server and credentials, another database.
pub fn url_for(admin: &str, dbname: &str) -> String {
    let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
    format!("{base}/{dbname}")
}

/// Connects with `url` and runs `sql`; the connection is closed before returning.
pub async fn execute(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let conn = tokio::spawn(connection);
    let result = client.batch_execute(sql).await;
    drop(client);
    let _ = conn.await;
    result
}

/// Another session on `url` that opens a transaction and runs `sql` in it (taking its locks), as a
/// writer elsewhere would; it holds them until the caller ends it (`ROLLBACK` or `COMMIT`) or drops
/// the client.
pub async fn hold(url: &str, sql: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("the test database answers");
    tokio::spawn(connection);
    client
        .batch_execute(&format!("BEGIN; {sql}"))
        .await
        .expect("the holding transaction runs");
    client
}

/// Connects with `url` and returns the first column of every row of `sql` as text.
pub async fn query_strings(url: &str, sql: &str) -> Vec<String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("the test database answers");
    let conn = tokio::spawn(connection);
    let rows = client.simple_query(sql).await.expect("the query runs");
    drop(client);
    let _ = conn.await;
    rows.iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .collect()
}

/// The migrated template's name, created on first use.
fn template() -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        // Its own thread and runtime: tests run on many runtimes, and this runs once for all.
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(create_template())
        })
        .join()
        .expect("the template is created")
    })
}

async fn create_template() -> String {
    let admin = admin_url();
    let name = format!("api_template_{}", std::process::id());
    // A multi-statement string is one transaction, which CREATE DATABASE refuses: one at a time.
    execute(&admin, &format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .expect("an old template is dropped");
    execute(&admin, &format!("CREATE DATABASE {name}"))
        .await
        .expect("the template database is created");
    let (mut client, connection) =
        tokio_postgres::connect(&url_for(&admin, &name), tokio_postgres::NoTls)
            .await
            .expect("the template database answers");
    let conn = tokio::spawn(connection);
    api_app::tasks::store::migrate(&mut client, api_app::tasks::store::MIGRATIONS)
        .await
        .expect("the migrations apply");
    drop(client);
    let _ = conn.await;
    name
}

/// A new, migrated, empty database; returns its superuser URL.
pub async fn fresh_database() -> String {
    let admin = admin_url();
    let template = template();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    // The template's last session may still be closing on the server side: retry briefly.
    for attempt in 0.. {
        match execute(
            &admin,
            &format!("CREATE DATABASE {name} TEMPLATE {template}"),
        )
        .await
        {
            Ok(()) => break,
            Err(e) if attempt < 50 => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("CREATE DATABASE {name}: {e}"),
        }
    }
    url_for(&admin, &name)
}

/// A new database with nothing in it (no migrations), for tests of the migrations themselves.
pub async fn empty_database() -> String {
    let admin = admin_url();
    let name = format!("e_{}", uuid::Uuid::new_v4().simple());
    execute(&admin, &format!("CREATE DATABASE {name}"))
        .await
        .expect("CREATE DATABASE");
    url_for(&admin, &name)
}
