//! The logs: a stalled log sink never stalls the service, and text written to a pipe has no colour
//! codes.

use std::time::Duration;

use integration_tests::{RealBinary, counter, status_of};

#[tokio::test]
async fn requests_are_answered_while_stdout_is_not_read_and_dropped_lines_are_counted() {
    // Dozens of lines per request, so the pipe and the writer's queue fill quickly; stdout is read
    // only until the port is logged, then never again.
    let app = RealBinary::spawn_unread("api-app", &[("RUST_LOG", "trace"), ("WORKERS", "1")]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let metrics = || async {
        let res = client.get(app.admin_url("/metrics")).send().await.unwrap();
        res.text().await.unwrap()
    };
    assert_eq!(
        counter(&metrics().await, "log_lines_dropped_total"),
        0,
        "nothing is dropped while the pipe has room"
    );
    // Well past what a 64 KiB pipe plus the writer's queue can hold at this log level.
    for i in 0..2_000 {
        let res = client
            .get(app.url("/api/health"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {i} was not answered while stdout stalled: {e}"));
        assert_eq!(res.status(), 200);
    }
    let text = metrics().await;
    assert!(text.contains("log_lines_dropped_total"), "exported: {text}");
    assert!(
        counter(&text, "log_lines_dropped_total") > 0,
        "the lines that did not fit are counted"
    );
}

#[test]
fn text_logs_written_to_a_pipe_carry_no_colour_codes() {
    let app = RealBinary::spawn("api-app", &[("LOG_FORMAT", "pretty")]);
    assert_eq!(status_of(&app.admin_url("/healthz"), &[]), Some(200));
    let logs = app.stop();
    assert!(logs.contains("listening"), "{logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "ANSI escapes in piped logs:\n{logs}"
    );
}
