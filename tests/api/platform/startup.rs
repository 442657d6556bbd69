//! The real binary's start-up: mistakes stop it with one line naming the cause, and the harness
//! never leaves a process running.

use integration_tests::{RealBinary, start_failure};

#[test]
fn a_bad_variable_stops_the_process_with_one_line_naming_it() {
    for (var, value) in [
        ("PORT", "eighty"),
        ("APP_ENV", "staging"),
        ("MAX_TASKS", "-1"),
        ("LOG_FORMAT", "xml"),
        ("SHUTDOWN_TIMEOUT_SECS", "forever"),
        ("API_KEY", "too-short"),
        (
            "DATABASE_URL",
            "postgres://api_app:hunter2-in-the-url@db/tasks",
        ),
    ] {
        let (code, stderr) = start_failure("api-app", &[(var, value)]);
        assert_eq!(code, Some(2), "{var}={value}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(var), "{stderr}");
        assert!(
            !stderr.contains(value),
            "the value is never printed: {stderr}"
        );
    }
}

/// Bytes that are not UTF-8 in a variable the app reads: one line naming it, never the value (the
/// standard library's reader would panic and print it, a key or a password, with a backtrace).
#[test]
fn a_variable_that_is_not_utf8_stops_the_process_with_one_line_naming_it() {
    use std::os::unix::ffi::OsStrExt as _;
    let value = std::ffi::OsStr::from_bytes(b"s3cr3t-\xff-key-0123456789abcdef");
    for app in ["api-app", "demo-app"] {
        let (code, stderr) = start_failure(
            app,
            &[
                ("LOG_FORMAT", std::ffi::OsStr::new("json")),
                ("RUST_LOG", value),
            ],
        );
        assert_eq!(code, Some(2), "{app}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains("RUST_LOG") && stderr.contains("UTF-8"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("s3cr3t"),
            "the value is never printed: {stderr}"
        );
    }
    let (code, stderr) = start_failure("api-app", &[("API_KEY", value)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("API_KEY") && !stderr.contains("s3cr3t"),
        "{stderr}"
    );
}

#[test]
fn a_cluster_environment_without_a_database_stops_the_process_naming_database_url() {
    for env in ["dev", "prod"] {
        // A key as dev and prod require, so the only thing missing is the database.
        let key = integration_tests::api::API_KEY;
        let (code, stderr) = start_failure("api-app", &[("APP_ENV", env), ("API_KEY", key)]);
        assert_eq!(code, Some(2), "APP_ENV={env}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    }
}

#[test]
fn a_cluster_database_url_without_an_encrypted_sslmode_stops_the_process_naming_it() {
    let key = integration_tests::api::API_KEY;
    for url in [
        "postgres://api_app@db.invalid:5432/tasks",
        "postgres://api_app@db.invalid:5432/tasks?sslmode=prefer",
    ] {
        let (code, stderr) = start_failure(
            "api-app",
            &[("APP_ENV", "dev"), ("API_KEY", key), ("DATABASE_URL", url)],
        );
        assert_eq!(code, Some(2), "{url}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains("DATABASE_URL") && stderr.contains("encrypted sslmode"),
            "{stderr}"
        );
    }
}

#[test]
fn a_port_in_use_stops_the_process_with_one_line_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    for app in ["api-app", "demo-app"] {
        let (code, stderr) = start_failure(app, &[("PORT", &port)]);
        assert_eq!(code, Some(2), "{app}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{app}, one line: {stderr}");
        assert!(
            stderr.starts_with(&format!("{app}: ")) && stderr.contains("PORT"),
            "{stderr}"
        );
    }
}

#[test]
fn a_harness_dropped_mid_test_leaves_no_process_running() {
    let app = RealBinary::spawn("api-app", &[]);
    let pid = app.pid().to_string();
    drop(app); // what unwinding does when an assertion fails
    let alive = std::process::Command::new("kill")
        .args(["-0", &pid])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(!alive, "api-app {pid} still runs");
}
