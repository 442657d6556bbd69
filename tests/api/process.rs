//! The real binary: configuration mistakes stop it with one line, and SIGTERM drains it to exit 0.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use integration_tests::binary_path;

fn api_app() -> Command {
    let mut cmd = Command::new(binary_path("api-app"));
    cmd.env_clear()
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

#[test]
fn a_bad_variable_stops_the_process_with_one_line_naming_it() {
    for (var, value) in [
        ("PORT", "eighty"),
        ("APP_ENV", "staging"),
        ("MAX_TASKS", "-1"),
        ("LOG_FORMAT", "xml"),
        ("SHUTDOWN_TIMEOUT_SECS", "forever"),
        ("API_KEY", "too-short"),
    ] {
        let out = api_app().env(var, value).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let stderr = String::from_utf8(out.stderr).unwrap();
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
    let out = api_app().env("APP_ENV", "prod").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("API_KEY") && stderr.contains("prod"),
        "{stderr}"
    );
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let mut child = api_app()
        .env("LOG_FORMAT", "json")
        .env("SHUTDOWN_DRAIN_SECS", "1")
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    // The first log lines say where it listens.
    let mut port = None;
    for line in stdout.lines().take(20) {
        let line = line.unwrap();
        let json: serde_json::Value = serde_json::from_str(&line).expect("JSON log lines");
        if let Some(p) = json["port"].as_u64().filter(|p| *p != 0) {
            port = Some(p);
            break;
        }
    }
    let port = port.expect("the listening port is logged");
    let ready = format!("http://127.0.0.1:{port}/readyz");
    assert_eq!(get_status(&ready), Some(200));

    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Readiness flips while the process still listens (during the 1 s drain delay).
    integration_tests::process::wait_until(Duration::from_secs(5), "readiness turns 503", || {
        (get_status(&ready)? == 503).then_some(())
    });

    let code = loop {
        if let Some(code) = child.try_wait().unwrap() {
            break code;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "exits well inside 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code.code(), Some(0), "a drained shutdown exits 0");
}

/// A blocking GET for tests that run outside a runtime: the status, or None if nothing answered.
fn get_status(url: &str) -> Option<u16> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async { reqwest::get(url).await.ok().map(|r| r.status().as_u16()) })
}
