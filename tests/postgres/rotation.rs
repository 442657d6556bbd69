//! Credentials rotate with no restart: the password file is read again for every new connection.

use std::time::Duration;

use integration_tests::pg;

use integration_tests::api::spawn_app_with;
use integration_tests::assert_error;

/// Closes every session `role` has, so the app's next request needs a new connection.
async fn end_sessions(admin: &str, role: &str) {
    pg::execute(
        admin,
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"),
    )
    .await
    .unwrap();
    // The pool notices a closed connection without a round trip once the socket has closed.
    tokio::time::sleep(Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_password_file_is_used_by_new_connections_without_a_restart() {
    let admin = pg::admin_url();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let (role, dbname) = (format!("r_{suffix}"), format!("d_{suffix}"));
    // A least-privilege role like production's: it owns its database and migrates it, nothing more.
    pg::execute(
        &admin,
        &format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'first-password' NOSUPERUSER NOCREATEDB NOCREATEROLE"
        ),
    )
    .await
    .unwrap();
    pg::execute(&admin, &format!("CREATE DATABASE {dbname} OWNER {role}"))
        .await
        .unwrap();
    let password_file = std::env::temp_dir().join(format!("db-password-{suffix}"));
    std::fs::write(&password_file, "first-password\n").unwrap();

    let url = pg::url_for(&admin, &dbname).replacen("postgres@", &format!("{role}@"), 1);
    let file = password_file.to_str().unwrap();
    let app = spawn_app_with(&[
        ("DATABASE_URL", url.as_str()),
        ("DATABASE_PASSWORD_FILE", file),
        ("DATABASE_POOL_MAX", "4"),
    ])
    .await;
    app.create_task("written with the first password").await;

    // Rotate: the database gets the new password, then the mounted Secret file does.
    pg::execute(
        &admin,
        &format!("ALTER ROLE {role} PASSWORD 'second-password'"),
    )
    .await
    .unwrap();
    std::fs::write(&password_file, "second-password\n").unwrap();
    end_sessions(&admin, &role).await;
    for i in 0..5 {
        app.create_task(&format!("written after the rotation {i}"))
            .await;
    }
    let sessions = pg::query_strings(
        &admin,
        &format!("SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}'"),
    )
    .await;
    assert_ne!(sessions, ["0"], "the new password opened new connections");

    // The file really is what is used: a wrong one makes new connections fail.
    std::fs::write(&password_file, "not-the-password\n").unwrap();
    end_sessions(&admin, &role).await;
    assert_error(app.get("/api/tasks").await, 503, "store_unavailable").await;
    std::fs::write(&password_file, "second-password").unwrap();
    let page: serde_json::Value = app.get("/api/tasks").await.json().await.unwrap();
    assert_eq!(
        page["total"], 6,
        "everything written before and after the rotation"
    );
    std::fs::remove_file(password_file).unwrap();
}
