//! demo-app as a real process: a configuration mistake stops it with one line naming the variable
//! (never its value) and exit code 2; SIGTERM and SIGINT drain it to exit 0; the API key it forwards
//! never reaches its output.

use std::time::Duration;

use integration_tests::{RealBinary, start_failure, status_of, wait_until};

/// A GET's status, or None when nothing answers.
fn status(port: u16, path: &str, key: Option<&str>) -> Option<u16> {
    let headers: Vec<(&str, &str)> = key.map(|k| ("x-api-key", k)).into_iter().collect();
    status_of(&format!("http://127.0.0.1:{port}{path}"), &headers)
}

#[test]
fn a_config_mistake_stops_demo_app_with_one_line_that_never_shows_the_value() {
    for (var, value, secret) in [
        ("API_URL", "http://user:hunter2@api.example:8080", "hunter2"),
        (
            "API_URL",
            "http://api.example/?token=s3cr3t-query",
            "s3cr3t-query",
        ),
        (
            "API_URL",
            "http://api.example/#s3cr3t-fragment",
            "s3cr3t-fragment",
        ),
        ("API_URL", "https://tls.api.example", "tls.api.example"),
        ("API_URL", "not a url at all", "not a url"),
        ("PORT", "eighty", "eighty"),
        ("APP_ENV", "staging", "staging"),
        ("SHUTDOWN_DRAIN_SECS", "forever", "forever"),
        ("LOG_FORMAT", "xml", "xml"),
    ] {
        let (code, stderr) = start_failure("demo-app", &[(var, value)]);
        assert_eq!(code, Some(2), "{var}={value}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(var), "{stderr}");
        assert!(
            !stderr.contains(secret),
            "{var}: the value was printed: {stderr}"
        );
    }
}

#[test]
fn sigterm_and_sigint_drain_demo_app_and_exit_zero() {
    for signal in ["TERM", "INT"] {
        let mut app = RealBinary::spawn("demo-app", &[("SHUTDOWN_DRAIN_SECS", "1")]);
        let port = app.admin_port;
        assert_eq!(status(port, "/readyz", None), Some(200));
        app.signal(signal);
        wait_until(Duration::from_secs(5), "readiness turns 503", || {
            (status(port, "/readyz", None)? == 503).then_some(())
        });
        assert_eq!(
            status(port, "/healthz", None),
            Some(200),
            "SIG{signal}: liveness holds while draining"
        );
        let exit = app.wait();
        assert_eq!(exit.code(), Some(0), "SIG{signal}");
        assert_eq!(status(port, "/healthz", None), None, "SIG{signal}: stopped");
    }
}

#[test]
fn the_forwarded_api_key_never_reaches_demo_apps_output() {
    let key = "demo-process-key-7c1e9a4f2b";
    // The API is down: the key is forwarded nowhere, and the failure is logged without it.
    let app = RealBinary::spawn(
        "demo-app",
        &[("API_URL", "http://127.0.0.1:9"), ("RUST_LOG", "debug")],
    );
    assert_eq!(
        status(app.port, "/api/protected/stats", Some(key)),
        Some(502)
    );
    let output = app.stop();
    assert!(
        output.contains("/api/{tail:.*}") && output.contains("\"status\":502"),
        "the request was logged: {output}"
    );
    assert!(
        !output.contains(key),
        "the key reached the output: {output}"
    );
}
