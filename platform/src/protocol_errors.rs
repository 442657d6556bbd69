//! `http_protocol_errors_total`: the requests the HTTP layer refused or cut below the router, which
//! never reach a handler, so this count is their only trace.

use std::sync::LazyLock;

use prometheus::{IntCounterVec, Opts};

/// Requests the HTTP layer refused or cut, by kind. They never reach a handler, so this is their
/// only trace (actix's own ERROR line for each is dropped from the log; see [`crate::telemetry`]).
pub(crate) static PROTOCOL_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    IntCounterVec::new(
        Opts::new(
            "http_protocol_errors_total",
            "Requests refused or cut below the router, by kind: malformed (400), head_too_large \
             (431), body_too_large (413 before an expected body), head_timeout (408), deadline (cut \
             mid-request), upgrade (400), io",
        ),
        &["kind"],
    )
    .expect("a valid metric definition")
});

/// Counts one protocol error of `kind`.
pub(crate) fn count(kind: &str) {
    PROTOCOL_ERRORS.with_label_values(&[kind]).inc();
}

/// Refusals from the HTTP dispatcher, read from its ERROR log line: the message names the parse error.
pub(crate) fn classify_dispatcher_error(message: &str) -> &'static str {
    if message.contains("message head is too large") {
        "head_too_large"
    } else if message.contains("parse error") {
        "malformed"
    } else if message.contains("I/O error") {
        "io"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatcher_messages_map_to_kinds() {
        assert_eq!(
            classify_dispatcher_error(
                "stream error: request parse error: message head is too large"
            ),
            "head_too_large"
        );
        assert_eq!(
            classify_dispatcher_error("stream error: request parse error: invalid Header provided"),
            "malformed"
        );
        assert_eq!(
            classify_dispatcher_error("stream error: I/O error: connection reset"),
            "io"
        );
    }
}
