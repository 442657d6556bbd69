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

/// A Secret volume as the kubelet writes it: each key a symlink through `..data`, and an update a
/// new directory that `..data` is swapped to in one rename, so both files change at once.
struct MountedSecret {
    dir: std::path::PathBuf,
    version: u32,
}

impl MountedSecret {
    fn new(username: &str, password: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("db-secret-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&dir).unwrap();
        for key in ["username", "password"] {
            std::os::unix::fs::symlink(format!("..data/{key}"), dir.join(key)).unwrap();
        }
        let mut secret = Self { dir, version: 0 };
        secret.publish(username, password);
        secret
    }

    fn publish(&mut self, username: &str, password: &str) {
        self.version += 1;
        let version = format!("..v{}", self.version);
        std::fs::create_dir(self.dir.join(&version)).unwrap();
        std::fs::write(self.dir.join(&version).join("username"), username).unwrap();
        std::fs::write(self.dir.join(&version).join("password"), password).unwrap();
        std::os::unix::fs::symlink(&version, self.dir.join("..data_tmp")).unwrap();
        std::fs::rename(self.dir.join("..data_tmp"), self.dir.join("..data")).unwrap();
    }

    fn file(&self, key: &str) -> String {
        self.dir.join(key).to_str().unwrap().to_owned()
    }
}

/// Whether `role` has a session open.
async fn has_sessions(admin: &str, role: &str) -> bool {
    pg::query_strings(
        admin,
        &format!("SELECT count(*) > 0 FROM pg_stat_activity WHERE usename = '{role}'"),
    )
    .await
        == ["t"]
}

/// The alternating-users rotation (terraform/README.md): a NOLOGIN owner, two login users that are
/// members of it (so this app, with `DATABASE_MIGRATIONS=apply`, migrates as the owner; the
/// clusters' login users hold only the rows, `scripts/check-db-bootstrap.sh`), and the Secret naming
/// one of them. A rotation sets a new password on the inactive
/// user and then points the Secret at it; the previous user keeps its password, so connections open
/// as either user, and new ones as whichever the files name, all work: not one request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_to_the_other_user_fails_no_request() {
    let admin = pg::admin_url();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let (owner, dbname) = (format!("o_{suffix}"), format!("d_{suffix}"));
    let (user_a, user_b) = (format!("{owner}_a"), format!("{owner}_b"));
    pg::execute(&admin, &format!("CREATE ROLE {owner} NOLOGIN"))
        .await
        .unwrap();
    for user in [&user_a, &user_b] {
        for sql in [
            format!("CREATE ROLE {user} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"),
            format!("GRANT {owner} TO {user}"),
        ] {
            pg::execute(&admin, &sql).await.unwrap();
        }
    }
    pg::execute(
        &admin,
        &format!("ALTER ROLE {user_a} PASSWORD 'password-a1'"),
    )
    .await
    .unwrap();
    pg::execute(&admin, &format!("CREATE DATABASE {dbname} OWNER {owner}"))
        .await
        .unwrap();
    let mut secret = MountedSecret::new(&user_a, "password-a1\n");

    // The URL names the owner, which cannot log in: only the user file makes the app connect.
    let url = pg::url_for(&admin, &dbname).replacen("postgres@", &format!("{owner}@"), 1);
    let (user_file, password_file) = (secret.file("username"), secret.file("password"));
    let app = spawn_app_with(&[
        ("DATABASE_URL", url.as_str()),
        ("DATABASE_USER_FILE", user_file.as_str()),
        ("DATABASE_PASSWORD_FILE", password_file.as_str()),
        ("DATABASE_POOL_MAX", "4"),
    ])
    .await;
    let mut written = 0;
    let mut burst = async |phase: &str| {
        // Four at once, so the pool opens up to four connections.
        let titles: Vec<String> = (0..4).map(|i| format!("{phase} {i}")).collect();
        futures_util::future::join_all(titles.iter().map(|t| app.create_task(t))).await;
        written += 4;
    };
    burst("as a").await;
    assert!(has_sessions(&admin, &user_a).await);

    for (from, to, password) in [
        (&user_a, &user_b, "password-b1"),
        (&user_b, &user_a, "password-a2"),
    ] {
        // The rotation: a new password on the inactive user, then the Secret names it.
        pg::execute(&admin, &format!("ALTER ROLE {to} PASSWORD '{password}'"))
            .await
            .unwrap();
        burst(&format!("{from}'s sessions, {to} set")).await;
        secret.publish(to, password);
        burst(&format!("{from}'s sessions, the Secret names {to}")).await;
        // The previous user's open sessions keep working; new ones log in as the new user.
        end_sessions(&admin, from).await;
        burst(&format!("new sessions as {to}")).await;
        assert!(
            has_sessions(&admin, to).await,
            "new connections log in as {to}"
        );
        assert!(!has_sessions(&admin, from).await, "none as {from} any more");
    }

    let page: serde_json::Value = app.get("/api/tasks").await.json().await.unwrap();
    assert_eq!(page["total"], written, "every write, as either user");
    // The migrations ran as user a acting as the owner the URL names: the owner owns the tables.
    let owners = pg::query_strings(
        &pg::url_for(&admin, &dbname),
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'",
    )
    .await;
    assert_eq!(owners, [owner]);
    std::fs::remove_dir_all(&secret.dir).unwrap();
}
