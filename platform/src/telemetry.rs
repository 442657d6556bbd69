//! Structured logs: JSON lines in containers, readable text locally, filtered by `RUST_LOG`.

use std::io::IsTerminal as _;
use std::sync::OnceLock;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_appender::non_blocking::ErrorCounter;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
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
/// Lines are handed to a dedicated thread that writes them in batches, so a request never waits on
/// stdout. When stdout stalls (a full pipe, a stuck log collector) and the queue of
/// [`LOG_QUEUE_LINES`] is full, new lines are dropped and counted (`log_lines_dropped_total`) rather
/// than making request handlers wait: a stalled log sink must not stall the service.
pub fn init(format: LogFormat, filter: &str) -> LogGuard {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .thread_name("log-writer")
        .finish(std::io::BufWriter::new(std::io::stdout()));
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
    // The filter was validated when the configuration was parsed; fall back to `info` regardless.
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi);
    let lines = match format {
        LogFormat::Json => lines
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .boxed(),
        LogFormat::Pretty => lines.with_target(false).compact().boxed(),
    };
    let result = tracing_subscriber::registry()
        .with(filter)
        .with(
            lines.with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                !is_dispatcher_error(meta)
            })),
        )
        .with(ProtocolErrorCounter)
        .try_init();
    // Err means a subscriber is already installed (a second test in the same binary): keep it.
    drop(result);
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

/// True when `directive` is a valid `RUST_LOG` filter.
pub fn is_valid_filter(directive: &str) -> bool {
    EnvFilter::try_new(directive).is_ok()
}
