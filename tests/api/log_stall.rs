//! A stalled log sink never stalls the service: with nobody reading the real binary's stdout, every
//! request is still answered, and the lines that did not fit are dropped and counted.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use integration_tests::binary_path;
use serde_json::Value;

use crate::deadlines::{counter, metrics};

#[tokio::test]
async fn requests_are_answered_while_stdout_is_not_read_and_dropped_lines_are_counted() {
    let mut child = Command::new(binary_path("api-app"))
        .env_clear()
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("LOG_FORMAT", "json")
        // Dozens of lines per request, so the pipe and the writer's queue fill quickly.
        .env("RUST_LOG", "trace")
        .env("WORKERS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read only until the port is logged; after that the pipe is never read again.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut port = None;
    let mut line = String::new();
    while port.is_none() && stdout.read_line(&mut line).unwrap() > 0 {
        let fields: Value = serde_json::from_str(&line).unwrap_or_default();
        port = fields["port"].as_u64().filter(|p| *p != 0);
        line.clear();
    }
    let address = format!("http://127.0.0.1:{}", port.expect("the port is logged"));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    assert_eq!(
        counter(&metrics(&client, &address).await, "log_lines_dropped_total"),
        0,
        "nothing is dropped while the pipe has room"
    );
    // Well past what a 64 KiB pipe plus the writer's queue can hold at this log level.
    for i in 0..2_000 {
        let res = client
            .get(format!("{address}/api/health"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {i} was not answered while stdout stalled: {e}"));
        assert_eq!(res.status(), 200);
    }
    let text = metrics(&client, &address).await;
    assert!(text.contains("log_lines_dropped_total"), "exported: {text}");
    assert!(
        counter(&text, "log_lines_dropped_total") > 0,
        "the lines that did not fit are counted"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdout);
}
