//! The real binary: start-up mistakes stop it with one line, and SIGTERM drains it to exit 0.

use std::time::{Duration, Instant};

use integration_tests::{RealBinary, start_failure, status_of};

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

#[test]
fn prod_refuses_to_start_without_an_api_key() {
    let (code, stderr) = start_failure("api-app", &[("APP_ENV", "prod")]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("API_KEY") && stderr.contains("prod"),
        "{stderr}"
    );
}

#[test]
fn a_cluster_environment_without_a_database_stops_the_process_naming_database_url() {
    for env in ["dev", "prod"] {
        // A key as dev and prod require, so the only thing missing is the database.
        let key = crate::helpers::API_KEY;
        let (code, stderr) = start_failure("api-app", &[("APP_ENV", env), ("API_KEY", key)]);
        assert_eq!(code, Some(2), "APP_ENV={env}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains("DATABASE_URL"), "{stderr}");
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
fn text_logs_written_to_a_pipe_carry_no_colour_codes() {
    let app = RealBinary::spawn("api-app", &[("LOG_FORMAT", "pretty")]);
    assert_eq!(status_of(&app.url("/healthz"), &[]), Some(200));
    let logs = app.stop();
    assert!(logs.contains("listening"), "{logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "ANSI escapes in piped logs:\n{logs}"
    );
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let mut app = RealBinary::spawn("api-app", &[("SHUTDOWN_DRAIN_SECS", "1")]);
    let ready = app.url("/readyz");
    assert_eq!(status_of(&ready, &[]), Some(200));

    let started = Instant::now();
    app.signal("TERM");
    // Readiness flips while the process still listens (during the 1 s drain delay).
    integration_tests::wait_until(Duration::from_secs(5), "readiness turns 503", || {
        (status_of(&ready, &[])? == 503).then_some(())
    });

    let code = app.wait();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "exits well inside 30 s"
    );
    assert_eq!(code.code(), Some(0), "a drained shutdown exits 0");
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
