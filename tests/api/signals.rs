//! The real binary's answer to signals: SIGINT drains like SIGTERM, and a second signal stops the
//! process at once instead of waiting out the drain.

use std::time::{Duration, Instant};

use integration_tests::{RealBinary, status_of, wait_until};

/// api-app with a drain of `drain_secs`, sent `signal` once it is ready, and seen draining:
/// readiness 503 while it still listens.
fn draining(drain_secs: &str, signal: &str) -> RealBinary {
    let app = RealBinary::spawn("api-app", &[("SHUTDOWN_DRAIN_SECS", drain_secs)]);
    let readyz = app.url("/readyz");
    assert_eq!(status_of(&readyz, &[]), Some(200));
    app.signal(signal);
    wait_until(Duration::from_secs(5), "readiness turns 503", || {
        (status_of(&readyz, &[])? == 503).then_some(())
    });
    app
}

#[test]
fn sigint_drains_like_sigterm_and_exits_zero() {
    let mut app = draining("1", "INT");
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
    let mut app = draining("60", "TERM");
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
