//! The real binary's answer to signals: SIGINT drains like SIGTERM, and a second signal stops the
//! process at once instead of waiting out the drain.

use std::time::{Duration, Instant};

use integration_tests::{RealBinary, status_of, wait_until};

/// The readiness status, or None when nothing answers.
fn readiness(port: u16) -> Option<u16> {
    status_of(&format!("http://127.0.0.1:{port}/readyz"), &[])
}

#[test]
fn sigint_drains_like_sigterm_and_exits_zero() {
    let mut app = RealBinary::spawn("api-app", &[("SHUTDOWN_DRAIN_SECS", "1")]);
    let port = app.port;
    assert_eq!(readiness(port), Some(200));
    app.signal("INT");
    wait_until(Duration::from_secs(5), "readiness turns 503", || {
        (readiness(port)? == 503).then_some(())
    });
    let status = app.wait();
    assert_eq!(status.code(), Some(0), "a drained shutdown exits 0");
    let output = app.output();
    assert!(output.contains("SIGINT"), "{output}");
    assert!(
        output.contains(r#""environment":"local""#),
        "the start line names the environment: {output}"
    );
}

#[test]
fn a_second_signal_stops_at_once_instead_of_waiting_out_the_drain() {
    // A drain far longer than the test allows: only the second signal can end the process in time.
    let mut app = RealBinary::spawn("api-app", &[("SHUTDOWN_DRAIN_SECS", "60")]);
    let port = app.port;
    assert_eq!(readiness(port), Some(200));
    app.signal("TERM");
    wait_until(Duration::from_secs(5), "readiness turns 503", || {
        (readiness(port)? == 503).then_some(())
    });
    let second = Instant::now();
    app.signal("TERM");
    let status = app.wait();
    assert!(
        second.elapsed() < Duration::from_secs(5),
        "{:?}",
        second.elapsed()
    );
    assert_eq!(status.code(), Some(130), "{}", app.output());
}
