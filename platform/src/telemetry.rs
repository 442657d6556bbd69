//! Structured logs: JSON lines in containers, readable text locally, filtered by `RUST_LOG`.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

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
/// stdout. When that thread falls behind, callers wait for room rather than lose lines.
pub fn init(format: LogFormat, filter: &str) -> LogGuard {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(std::io::BufWriter::new(std::io::stdout()));
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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    let result = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.with_target(false).compact().try_init(),
    };
    // Err means a subscriber is already installed (a second test in the same binary): keep it.
    drop(result);
}

/// True when `directive` is a valid `RUST_LOG` filter.
pub fn is_valid_filter(directive: &str) -> bool {
    EnvFilter::try_new(directive).is_ok()
}
