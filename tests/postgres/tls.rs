//! The database connection encrypted as in the clusters, where RDS requires TLS: the throwaway
//! server speaks it (scripts/with-postgres.sh signs its certificate with a throwaway CA).
//! `sslmode=require` encrypts without checking who answers, as libpq does; `verify-full` also
//! checks the certificate against `sslrootcert`, and a server it cannot verify is never used.

use integration_tests::lines_containing;
use integration_tests::pg;

use integration_tests::api::spawn_app_with;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_and_verify_full_serve_tasks_over_encrypted_connections_only() {
    let ca = pg::from_server(pg::CA_VAR);
    for query in [
        "sslmode=require".to_owned(),
        format!("sslmode=verify-full&sslrootcert={ca}"),
    ] {
        let db = pg::fresh_database().await;
        // A handshake that fails makes the start-up retry: spawn_app_with fails the test in 20 s.
        let app = spawn_app_with(&[("DATABASE_URL", &format!("{db}?{query}"))]).await;
        let created = app.create_task("sent over TLS").await;
        let listed = app.get_json("/api/tasks").await;
        assert_eq!(listed["items"][0]["id"], created["id"], "{query}");
        let dbname = db.rsplit('/').next().unwrap();
        let sessions = pg::query_strings(
            &pg::admin_url(),
            &format!(
                "SELECT format('%s encrypted, %s plain', count(*) FILTER (WHERE s.ssl), \
                 count(*) FILTER (WHERE NOT s.ssl)) \
                 FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = '{dbname}'"
            ),
        )
        .await;
        let [sessions] = sessions.as_slice() else {
            panic!("one row: {sessions:?}")
        };
        assert!(
            sessions.ends_with(" encrypted, 0 plain") && !sessions.starts_with("0 "),
            "{query}: the app's sessions are {sessions}"
        );
    }
}

#[test]
fn verify_full_refuses_a_server_whose_certificate_another_ca_signed() {
    let other_ca = pg::from_server(pg::OTHER_CA_VAR);
    let db = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(pg::fresh_database());
    let url = format!("{db}?sslmode=verify-full&sslrootcert={other_ca}");
    // Treated like an unreachable database: retried, never used, and the line says why.
    let [line] = &lines_containing("api-app", &[("DATABASE_URL", &url)], "retrying", 1)[..] else {
        unreachable!("lines_containing returns exactly the lines asked for")
    };
    assert!(line.contains("UnknownIssuer"), "{line}");
}
