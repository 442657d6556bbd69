//! Structured logs: JSON lines in containers, readable text locally, filtered by `RUST_LOG`.

use std::io::IsTerminal as _;
use std::sync::OnceLock;

use std::fmt::Write;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_appender::non_blocking::ErrorCounter;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{FilterExt as _, LevelFilter, filter_fn};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// How log lines are written: JSON for containers, readable text on a laptop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(Self::Json),
            "pretty" => Ok(Self::Pretty),
            _ => Err("must be json or pretty".into()),
        }
    }
}

/// Log lines dropped because stdout did not keep up; `/metrics` reports it.
static DROPPED_LINES: OnceLock<ErrorCounter> = OnceLock::new();

/// How many log lines have been dropped so far because stdout stalled.
pub fn dropped_lines() -> u64 {
    DROPPED_LINES
        .get()
        .map_or(0, |c| u64::try_from(c.dropped_lines()).unwrap_or(u64::MAX))
}

/// Keeps the background log writer alive; dropping it flushes every line still queued. Hold it
/// until the server has stopped.
#[must_use = "dropping the guard stops the log writer"]
#[derive(Debug)]
pub struct LogGuard {
    _writer: tracing_appender::non_blocking::WorkerGuard,
}

/// Installs the global subscriber writing to stdout. Call once, first thing in `main`.
///
/// Lines are handed to a dedicated thread that writes them in batches
/// ([`Batched`](crate::log_writer::Batched)), so a request never waits on stdout. When stdout
/// stalls (a full pipe, a stuck log collector) and the queue of [`LOG_QUEUE_LINES`] is full, new
/// lines are dropped and counted (`log_lines_dropped_total`) rather than making request handlers
/// wait: a stalled log sink must not stall the service.
pub fn init(format: LogFormat, filter: &str) -> LogGuard {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .thread_name("log-writer")
        .finish(crate::log_writer::Batched::new(std::io::stdout()));
    let _ = DROPPED_LINES.set(writer.error_counter());
    // Colour only for a person at a terminal, never in a file or a log collector.
    install(format, filter, writer, std::io::stdout().is_terminal());
    LogGuard { _writer: guard }
}

/// Installs the global subscriber writing to `writer`; tests pass a sink or a buffer.
///
/// A second call is ignored, so every test in a binary can call it.
pub fn init_with_writer<W>(format: LogFormat, filter: &str, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    install(format, filter, writer, false);
}

fn install<W>(format: LogFormat, filter: &str, writer: W, ansi: bool)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    // Err means a subscriber is already installed (a second test in the same binary): keep it.
    drop(subscriber(format, filter, writer, ansi).try_init());
}

/// The subscriber [`install`] installs: the log lines, filtered by `filter` (`RUST_LOG`), and the
/// counter of the HTTP layer's protocol errors.
fn subscriber<W>(
    format: LogFormat,
    filter: &str,
    writer: W,
    ansi: bool,
) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    // The filter was validated when the configuration was parsed; fall back to `info` regardless.
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi);
    let lines = match format {
        LogFormat::Json => lines.json().event_format(JsonLines::new()).boxed(),
        LogFormat::Pretty => lines.with_target(false).compact().boxed(),
    };
    // Each layer has its own filter, and each filter states the most verbose level it can let
    // through. That sets tracing's global level to `RUST_LOG`'s, so a disabled `trace!` or `debug!`
    // anywhere (actix-http traces its timers several times per request) costs one comparison; with
    // a filter that states nothing, every one of them asked the subscriber, request after request.
    let dispatcher_errors = filter_fn(is_dispatcher_error).with_max_level_hint(LevelFilter::ERROR);
    let all_but_dispatcher_errors =
        filter_fn(|meta| !is_dispatcher_error(meta)).with_max_level_hint(LevelFilter::TRACE);
    tracing_subscriber::registry()
        .with(lines.with_filter(filter.and(all_but_dispatcher_errors)))
        .with(ProtocolErrorCounter.with_filter(dispatcher_errors))
}

/// The target of the access-log line: one per request, written by [`crate::middleware::observe`].
pub const ACCESS_TARGET: &str = "access";

/// JSON lines: tracing-subscriber's JSON format (event fields flattened, no span fields), except
/// the access-log line, the one event of every request, which [`access_line`] writes straight into
/// the line buffer. The generic formatter costs about a third of a health request's instructions
/// (bench/PROFILE.md); the output is the same line, key for key.
struct JsonLines {
    other: tracing_subscriber::fmt::format::Format<tracing_subscriber::fmt::format::Json>,
}

impl JsonLines {
    fn new() -> Self {
        Self {
            other: tracing_subscriber::fmt::format()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false),
        }
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        if event.metadata().target() == ACCESS_TARGET {
            access_line(&mut writer, std::time::SystemTime::now(), event)
        } else {
            self.other.format_event(ctx, writer, event)
        }
    }
}

/// Writes `event` as one JSON object on one line, as tracing-subscriber's flattened JSON format
/// does: `timestamp` (RFC 3339, microseconds, UTC), `level`, the fields in order, `target`. The line
/// is built in a per-thread buffer with plain pushes, then handed to `out` in one write.
fn access_line(
    out: &mut dyn Write,
    at: std::time::SystemTime,
    event: &Event<'_>,
) -> std::fmt::Result {
    thread_local! {
        static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    LINE.with_borrow_mut(|line| {
        line.clear();
        line.push_str("{\"timestamp\":\"");
        push_timestamp(line, at);
        line.push_str("\",\"level\":\"");
        line.push_str(event.metadata().level().as_str());
        line.push('"');
        event.record(&mut JsonFields(line));
        line.push_str(",\"target\":");
        push_json_str(line, event.metadata().target());
        line.push_str("}\n");
        out.write_str(line)
    })
}

/// `2026-12-06T18:48:22.491182Z`: the date and time are formatted once per second per thread.
fn push_timestamp(line: &mut String, at: std::time::SystemTime) {
    thread_local! {
        /// The last whole second formatted on this thread, and its `YYYY-MM-DDTHH:MM:SS`.
        static SECOND: std::cell::RefCell<(u64, String)> =
            const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let since = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != secs {
            let t = i64::try_from(secs)
                .ok()
                .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            *text = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            );
            *cached = secs;
        }
        line.push_str(text);
    });
    line.push('.');
    push_padded(line, u64::from(since.subsec_micros()), 6);
    line.push('Z');
}

/// Records each field as `,"name":value`, with `serde_json`'s spelling of each kind of value.
struct JsonFields<'a>(&'a mut String);

impl JsonFields<'_> {
    fn name(&mut self, field: &Field) {
        self.0.push_str(",\"");
        // Field names are identifiers in the code; escaped all the same if one ever is not.
        let _ = JsonEscaped(self.0).write_str(field.name());
        self.0.push_str("\":");
    }
}

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.name(field);
        push_json_str(self.0, value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.name(field);
        push_u64(self.0, value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.name(field);
        if value < 0 {
            self.0.push('-');
        }
        push_u64(self.0, value.unsigned_abs());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.name(field);
        self.0.push_str(if value { "true" } else { "false" });
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.name(field);
        push_f64(self.0, value);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.name(field);
        self.0.push('"');
        // Writing to a String cannot fail.
        let _ = write!(JsonEscaped(self.0), "{value:?}");
        self.0.push('"');
    }
}

/// An integer without the formatting machinery.
fn push_u64(line: &mut String, value: u64) {
    push_padded(line, value, 1);
}

/// `value` in decimal, with leading zeros up to `width` digits.
fn push_padded(line: &mut String, mut value: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    while value > 0 || digits.len() - at < width {
        at -= 1;
        // A digit: always below 10.
        #[allow(clippy::cast_possible_truncation)]
        let digit = (value % 10) as u8;
        digits[at] = b'0' + digit;
        value /= 10;
    }
    for &d in &digits[at..] {
        line.push(char::from(d));
    }
}

/// A number as `serde_json` writes it: the shortest decimal that reads back as the same value, `.0`
/// after a whole number, `null` for what JSON cannot hold. Values with at most three decimals (the
/// access log's milliseconds, to the microsecond) take a fast path that yields the same digits.
fn push_f64(line: &mut String, value: f64) {
    if !value.is_finite() {
        line.push_str("null");
        return;
    }
    let thousandths = (value * 1000.0).round();
    // Exactly equal: only then are the three decimals the value's own digits.
    #[allow(clippy::float_cmp)]
    let exact = thousandths / 1000.0 == value;
    if (0.0..1e15).contains(&thousandths) && exact {
        // Whole and non-negative below 1e15: exact in a u64.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = thousandths as u64;
        push_u64(line, n / 1000);
        line.push('.');
        let (mut frac, mut width) = (n % 1000, 3);
        while frac % 10 == 0 && width > 1 {
            frac /= 10;
            width -= 1;
        }
        push_padded(line, frac, width);
        return;
    }
    let start = line.len();
    let _ = write!(line, "{value}");
    if !line[start..].contains(['.', 'e', 'E']) {
        line.push_str(".0");
    }
}

fn push_json_str(line: &mut String, s: &str) {
    line.push('"');
    let _ = JsonEscaped(line).write_str(s);
    line.push('"');
}

/// The bytes a JSON string cannot hold as they are: control characters, `"` and `\\`.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Escapes what it is given as the inside of a JSON string, the way `serde_json` does: `"`, `\\`
/// and control characters; everything else as is.
struct JsonEscaped<'a>(&'a mut String);

impl Write for JsonEscaped<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        // Most values (ids, methods, routes) need no escaping: one pass to find out, one copy.
        if !s.bytes().any(|b| NEEDS_ESCAPE[usize::from(b)]) {
            self.0.push_str(s);
            return Ok(());
        }
        for c in s.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                '\u{8}' => self.0.push_str("\\b"),
                '\u{c}' => self.0.push_str("\\f"),
                c if c < ' ' => {
                    self.0.push_str("\\u00");
                    let b = c as u8;
                    self.0
                        .push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
                    self.0
                        .push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
                }
                c => self.0.push(c),
            }
        }
        Ok(())
    }
}

/// Lines queued for stdout before new ones are dropped.
pub const LOG_QUEUE_LINES: usize = 16_384;

/// actix-http writes one ERROR line per malformed request or broken connection, on behalf of
/// anyone who can open a socket. Those lines are counted in `http_protocol_errors_total` instead.
fn is_dispatcher_error(meta: &Metadata<'_>) -> bool {
    *meta.level() == Level::ERROR && meta.target().starts_with("actix_http::h1")
}

/// Turns actix-http's ERROR lines into `http_protocol_errors_total{kind}`.
struct ProtocolErrorCounter;

impl<S: Subscriber> tracing_subscriber::Layer<S> for ProtocolErrorCounter {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if is_dispatcher_error(event.metadata()) {
            let mut message = Message(String::new());
            event.record(&mut message);
            crate::protocol_errors::count(crate::protocol_errors::classify_dispatcher_error(
                &message.0,
            ));
        }
    }
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

/// True when `directive` is a valid `RUST_LOG` filter whose every part is a level (`info`), names
/// its level (`api_app=debug`) or selects spans (`[request]`). `EnvFilter` reads a bare word that
/// is not a level as a target switched fully on, with every other target off: `RUST_LOG=warning`
/// (a typo) would silence the process, errors included, and still start.
pub fn is_valid_filter(directive: &str) -> bool {
    let names_a_level = |part: &str| {
        let part = part.trim();
        part.is_empty() || part.contains(['=', '[']) || part.parse::<LevelFilter>().is_ok()
    };
    directive.split(',').all(names_a_level) && EnvFilter::try_new(directive).is_ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use parking_lot::Mutex;

    use super::*;

    /// Lines written by a subscriber, for tests that read what was logged.
    #[derive(Clone, Default)]
    pub(crate) struct Lines(pub(crate) Arc<Mutex<Vec<u8>>>);

    impl Lines {
        pub(crate) fn text(&self) -> String {
            String::from_utf8(self.0.lock().clone()).unwrap()
        }
    }

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    /// The line each formatter writes for the events `emit` sends: tracing-subscriber's own JSON
    /// format (what every line looked like before [`JsonLines`]), and ours.
    fn both(emit: impl Fn()) -> (String, String) {
        let run = |ours: bool| {
            let lines = Lines::default();
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(lines.clone())
                .with_ansi(false)
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false);
            let subscriber = tracing_subscriber::registry().with(if ours {
                layer.event_format(JsonLines::new()).boxed()
            } else {
                layer.boxed()
            });
            tracing::subscriber::with_default(subscriber, &emit);
            lines.text()
        };
        (run(false), run(true))
    }

    /// The lines with each timestamp's value replaced, which differs between two runs.
    fn without_time(lines: &str) -> String {
        let mut out = String::new();
        for line in lines.lines() {
            let start = line.find("\"timestamp\":\"").unwrap() + "\"timestamp\":\"".len();
            let end = start + line[start..].find('"').unwrap();
            out.push_str(&line[..start]);
            out.push_str("<time>");
            out.push_str(&line[end..]);
            out.push('\n');
        }
        out
    }

    #[test]
    fn the_access_line_is_the_json_formatters_line_key_for_key() {
        for (latency, route, id) in [
            (
                0.123,
                "/api/tasks/{id}",
                "0193b2d4-4c1e-7a4e-9f5e-1c2d3e4f5a6b",
            ),
            (25.0, "/api/health", "caller-id_1.2:3"),
            (1234.5, "unmatched", "x"),
            (0.001, "/api/tasks", ""),
            (7.05, "quote\" back\\slash \n\t\u{1} é ☃", "id"),
            (0.000_000_1, "/tiny", "id"),
            (f64::NAN, "/nan", "id"),
        ] {
            let (theirs, ours) = both(|| {
                tracing::info!(
                    target: ACCESS_TARGET,
                    request_id = id,
                    method = "GET",
                    route,
                    status = 200_u16,
                    latency_ms = latency,
                    "request served"
                );
            });
            let (theirs, ours) = (without_time(&theirs), without_time(&ours));
            if latency < 1e-5 {
                // Far outside what a request takes: serde_json writes an exponent, we write digits.
                let value = |l: &str| -> serde_json::Value { serde_json::from_str(l).unwrap() };
                assert_eq!(value(&theirs), value(&ours));
            } else {
                assert_eq!(theirs, ours);
            }
        }
    }

    #[test]
    fn other_events_keep_the_json_formatter() {
        let (theirs, ours) = both(|| {
            tracing::info!(port = 8080_u16, ready = true, error = %"boom", "listening");
            tracing::warn!(target: "access_other", value = -3_i64, "not the access line");
        });
        assert_eq!(without_time(&theirs), without_time(&ours));
    }

    #[test]
    fn timestamps_are_rfc3339_in_utc_to_the_microsecond() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::new(1_765_046_902, 491_182_999);
        let mut text = String::new();
        push_timestamp(&mut text, at);
        assert_eq!(text, "2025-12-06T18:48:22.491182Z");
        // The next second on the same thread is formatted anew, not served from the cache.
        text.clear();
        push_timestamp(&mut text, at + std::time::Duration::from_micros(1_000_017));
        assert_eq!(text, "2025-12-06T18:48:23.491199Z");
    }

    #[test]
    fn the_subscriber_states_the_most_verbose_level_it_lets_through() {
        for (filter, level) in [
            ("info", LevelFilter::INFO),
            ("warn", LevelFilter::WARN),
            ("api_app=debug,info", LevelFilter::DEBUG),
        ] {
            let subscriber = subscriber(LogFormat::Json, filter, std::io::sink, false);
            // What tracing compares every disabled `trace!` and `debug!` with before anything else.
            assert_eq!(subscriber.max_level_hint(), Some(level), "{filter}");
        }
    }
}
