//! Migrations: exactly one replica applies them, a failure stops the process before it is ready,
//! and neither a lock nor a long statement holds them (and the writes queued behind them) for long.

use std::time::{Duration, Instant};

use api_app::tasks::store::{
    LOCK_KEY, MIGRATIONS, Migration, MigrationTimeouts, migrate, migrate_within,
};
use integration_tests::{RealBinary, lines_containing, pg, run_to_exit, start_failure, status_of};

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

/// The server going away mid-migration (a restart or failover ends every session with 57P01) is
/// the database being unreachable, retried: not a migration that failed, which stops the process.
/// Staged twice: while waiting for another replica's lock, and while a migration's SQL runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_by_the_server_mid_migration_is_retried_not_a_failed_migration() {
    let db = pg::empty_database().await;
    let admin = session(&db).await;
    // The migrating session runs in a task of its own, which needs the list for good.
    let slow: &'static [Migration] = Box::leak(with_next("SELECT pg_sleep(5);").into_boxed_slice());
    for (holding_the_lock, migrations) in [(true, MIGRATIONS), (false, slow)] {
        if holding_the_lock {
            admin
                .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
                .await
                .unwrap();
        }
        let mut client = session(&db).await;
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        let timeouts = MigrationTimeouts {
            lock: Duration::from_secs(5),
            statement: Duration::from_secs(10),
        };
        let migrating =
            tokio::spawn(async move { migrate_within(&mut client, migrations, timeouts).await });
        let waiting = if holding_the_lock {
            "pg_advisory_lock"
        } else {
            "pg_sleep"
        };
        integration_tests::eventually(
            Duration::from_secs(5),
            "the migration session is waiting",
            || {
                let admin = &admin;
                async move {
                    let row = admin
                        .query_one(
                            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND query LIKE $2",
                            &[&pid, &format!("%{waiting}%")],
                        )
                        .await
                        .ok()?;
                    (row.get::<_, i64>(0) == 1).then_some(())
                }
            },
        )
        .await;
        admin
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .unwrap();
        let err = tokio::time::timeout(Duration::from_secs(10), migrating)
            .await
            .expect("the ended session is noticed")
            .unwrap()
            .expect_err("the session was ended");
        assert!(err.is_transient(), "retried later: {err}");
        assert!(
            err.to_string().contains("could not be reached"),
            "named as the database going away: {err}"
        );
        if holding_the_lock {
            admin
                .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
                .await
                .unwrap();
        }
    }
}

/// The client's bound is past the server's own: a migration statement that runs long but inside the
/// statement timeout is answered, never taken for a server that stopped answering (the bound counts
/// every statement of the file, one without a `;` too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_statement_inside_the_statement_timeout_is_waited_for() {
    let db = pg::empty_database().await;
    let mut client = session(&db).await;
    let timeouts = MigrationTimeouts {
        lock: Duration::from_secs(1),
        statement: Duration::from_secs(10),
    };
    // 3 s: past the 2 s margin alone, well inside the 10 s statement timeout.
    let applied = migrate_within(&mut client, &with_next("SELECT pg_sleep(3)"), timeouts)
        .await
        .expect("a statement inside its timeout is waited for");
    assert_eq!(applied.len(), MIGRATIONS.len() + 1);
}

/// A server that stops answering mid-migration (frozen, or a proxy that lost it) never fires its own
/// timeouts: the session gives up a margin past them, and the attempt is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_answering_mid_migration_is_given_up_on_and_retried() {
    let db = pg::empty_database().await;
    let url: tokio_postgres::Config = db.parse().unwrap();
    let tokio_postgres::config::Host::Tcp(host) = &url.get_hosts()[0] else {
        panic!("a TCP host");
    };
    let server = format!("{host}:{}", url.get_ports()[0]).parse().unwrap();
    let proxy = crate::proxy::Proxy::start(server).await;
    let mut client = session(&proxy.url(url.get_user().unwrap(), url.get_dbname().unwrap())).await;
    proxy.freeze();
    let started = Instant::now();
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        migrate_within(&mut client, MIGRATIONS, SHORT),
    )
    .await
    .expect("a silent server does not hold the migration")
    .expect_err("nothing answered");
    assert!(err.is_transient(), "retried later: {err}");
    assert!(err.to_string().contains("did not answer"), "{err}");
    // The statement bound (1 s) and the 2 s margin.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
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
fn a_migration_changed_after_it_was_applied_is_refused_whether_applying_or_verifying() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (mode, version, name) in [
        ("apply", 1, "0001_tasks.sql"),
        ("verify", 3, "0003_counter_shards.sql"),
    ] {
        let db = rt.block_on(async {
            let db = pg::fresh_database().await;
            pg::execute(
                &db,
                &format!(
                    "UPDATE schema_migrations SET checksum = '\\x00' WHERE version = {version}"
                ),
            )
            .await
            .unwrap();
            db
        });
        let (code, stderr) = start_failure(
            "api-app",
            &[("DATABASE_URL", db.as_str()), ("DATABASE_MIGRATIONS", mode)],
        );
        assert_eq!(code, Some(2), "{mode}: {stderr}");
        assert!(
            stderr.contains(name) && stderr.contains("applied migrations never change"),
            "{mode}: {stderr}"
        );
    }
}

/// Roles as the clusters' bootstrap makes them, on a database of their own: `owner` (NOLOGIN) owns
/// it, `migrator` logs in as a member of it, and `outsider` logs in as nobody's member. Returns
/// the database's URL as `owner` (as `DATABASE_URL` names it), the superuser's URL, and a
/// directory with each login's `<role>.user` and `<role>.password` files.
fn owned_database(rt: &tokio::runtime::Runtime) -> (String, String, std::path::PathBuf, String) {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let admin = pg::admin_url();
    let owner = format!("o_{suffix}");
    let files = std::env::temp_dir().join(format!("migrate-{suffix}"));
    std::fs::create_dir_all(&files).unwrap();
    rt.block_on(async {
        for sql in [
            format!("CREATE ROLE {owner} NOLOGIN"),
            format!("CREATE ROLE m_{suffix} LOGIN PASSWORD 'pw-m' IN ROLE {owner}"),
            format!("CREATE ROLE x_{suffix} LOGIN PASSWORD 'pw-x'"),
            format!("CREATE DATABASE d_{suffix} OWNER {owner}"),
            format!("GRANT CONNECT ON DATABASE d_{suffix} TO x_{suffix}"),
        ] {
            pg::execute(&admin, &sql).await.unwrap();
        }
    });
    for (role, password) in [("m", "pw-m"), ("x", "pw-x")] {
        std::fs::write(
            files.join(format!("{role}.user")),
            format!("{role}_{suffix}\n"),
        )
        .unwrap();
        std::fs::write(files.join(format!("{role}.password")), password).unwrap();
    }
    let superuser = pg::url_for(&admin, &format!("d_{suffix}"));
    let as_owner = superuser.replacen("postgres@", &format!("{owner}@"), 1);
    (as_owner, superuser, files, owner)
}

/// `api-app migrate` as login `role` (`m` or `x`) of `owned_database`'s `files`.
fn migrate_command(url: &str, files: &std::path::Path, role: &str) -> (Option<i32>, String) {
    let user = files.join(format!("{role}.user"));
    let password = files.join(format!("{role}.password"));
    run_to_exit(
        "api-app",
        &["migrate"],
        &[
            ("DATABASE_URL", url),
            ("DATABASE_USER_FILE", user.to_str().unwrap()),
            ("DATABASE_PASSWORD_FILE", password.to_str().unwrap()),
        ],
    )
}

#[test]
fn api_app_migrate_applies_the_migrations_as_the_owner_the_url_names_and_exits() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, superuser, files, owner) = owned_database(&rt);
    // A login that is not a member of the owner: what it created would not be the owner's.
    let (code, stderr) = migrate_command(&url, &files, "x");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.starts_with("api-app migrate: the login cannot act as ")
            && stderr.contains(&owner)
            && stderr.contains("DATABASE_URL")
            && stderr.trim_end().lines().count() == 1,
        "one line naming the owner and the variable: {stderr}"
    );
    let nothing = rt.block_on(pg::query_strings(
        &superuser,
        "SELECT count(*) FROM pg_class WHERE relname IN ('tasks', 'schema_migrations')",
    ));
    assert_eq!(nothing, ["0"], "the refused run created nothing");

    let (code, stderr) = migrate_command(&url, &files, "m");
    assert_eq!(code, Some(0), "{stderr}");
    let owners = rt.block_on(pg::query_strings(
        &superuser,
        "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class \
         WHERE relnamespace = 'public'::regnamespace",
    ));
    assert_eq!(owners, [owner], "everything it created is the owner's");
    let applied = rt.block_on(pg::query_strings(
        &superuser,
        "SELECT count(*) FROM schema_migrations",
    ));
    assert_eq!(applied, [MIGRATIONS.len().to_string()]);

    // Rows rights on every table, as the clusters' default privileges give the pods' login: on
    // the ledger the next run leaves it only the reading.
    let outsider = std::fs::read_to_string(files.join("x.user")).unwrap();
    let outsider = outsider.trim();
    rt.block_on(pg::execute(
        &superuser,
        &format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations, tasks TO {outsider}, PUBLIC"
        ),
    ))
    .unwrap();
    let (code, stderr) = migrate_command(&url, &files, "m");
    assert_eq!(code, Some(0), "a second run finds nothing to do: {stderr}");
    let again = rt.block_on(pg::query_strings(
        &superuser,
        "SELECT count(*) FROM schema_migrations",
    ));
    assert_eq!(again, applied);
    let rights = rt.block_on(pg::query_strings(
        &superuser,
        &format!(
            "SELECT t || ':' || string_agg(p, ',' ORDER BY p) FROM unnest(ARRAY['schema_migrations', 'tasks']) t, \
             unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p \
             WHERE has_table_privilege('{outsider}', t, p) GROUP BY t ORDER BY t"
        ),
    ));
    assert_eq!(
        rights,
        [
            "schema_migrations:SELECT",
            "tasks:DELETE,INSERT,SELECT,TRUNCATE,UPDATE"
        ],
        "only the owner writes the ledger; the tables keep their grants"
    );
}

#[test]
fn with_database_migrations_verify_the_app_changes_nothing_and_is_ready_once_migrated() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, superuser, files, _) = owned_database(&rt);
    let verify = [
        ("DATABASE_URL", superuser.as_str()),
        ("DATABASE_MIGRATIONS", "verify"),
    ];
    // It says what it waits for, and keeps waiting (two attempts), not ready.
    let waiting = lines_containing("api-app", &verify, "not applied yet", 2);
    assert!(waiting[0].contains("0001_tasks.sql"), "{waiting:?}");
    let app = RealBinary::spawn_listening("api-app", &verify);
    assert_eq!(status_of(&app.admin_url("/readyz"), &[]), Some(503));
    let created = rt.block_on(pg::query_strings(
        &superuser,
        "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace",
    ));
    assert_eq!(
        created,
        ["0"],
        "a verifying app creates nothing, not even the ledger"
    );

    let (code, stderr) = migrate_command(&url, &files, "m");
    assert_eq!(code, Some(0), "{stderr}");
    app.until_ready();
    assert_eq!(status_of(&app.url("/api/tasks"), &[]), Some(200));
}

#[test]
fn with_database_migrations_verify_a_login_that_cannot_read_the_ledger_stops_the_process() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, _, files, _) = owned_database(&rt);
    let (code, stderr) = migrate_command(&url, &files, "m");
    assert_eq!(code, Some(0), "{stderr}");
    // `x` may connect but read nothing: a grant is missing, which no retry mends.
    let (user, password) = (files.join("x.user"), files.join("x.password"));
    let (code, stderr) = start_failure(
        "api-app",
        &[
            ("DATABASE_URL", url.as_str()),
            ("DATABASE_MIGRATIONS", "verify"),
            ("DATABASE_USER_FILE", user.to_str().unwrap()),
            ("DATABASE_PASSWORD_FILE", password.to_str().unwrap()),
        ],
    );
    assert_eq!(code, Some(2), "stops, not waiting for ever: {stderr}");
    assert!(
        stderr.contains("ERROR 42501") && stderr.contains("schema_migrations"),
        "{stderr}"
    );
}
