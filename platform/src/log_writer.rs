//! The sink behind the log writer thread: stdout, written a batch of lines at a time.

use std::io::{self, BufWriter, Write};
use std::time::Duration;

/// How long the log writer thread waits after each write, so the lines queued meanwhile are
/// written together. Far below what anyone reading logs would notice, and far below the time the
/// queue takes to fill: at 100 000 lines a second, 5 ms is 500 of its
/// [`LOG_QUEUE_LINES`](crate::telemetry::LOG_QUEUE_LINES).
pub(crate) const LOG_LINGER: Duration = Duration::from_millis(5);

/// Room for the lines of one linger: a batch is written in one `write`, not a `write` per 8 KiB.
const BATCH_BYTES: usize = 65_536;

/// The log writer thread's sink. tracing-appender's thread writes every line it finds queued and
/// then flushes. Under load it used to find one line each time, so each request cost it a wake-up
/// and a `write` of its own (about a tenth of the health path's CPU, `bench/PROFILE.md`). This sink
/// waits [`LOG_LINGER`] after each flush, so the next batch gathers in the queue meanwhile.
///
/// - A line never waits longer than the linger: the first line after a quiet spell is written at
///   once.
/// - A request never waits at all: its thread only queues the line.
/// - Nothing is held back at shutdown: the thread's last flush writes everything.
pub(crate) struct Batched<W: Write> {
    out: BufWriter<W>,
    linger: Duration,
}

impl<W: Write> Batched<W> {
    pub(crate) fn new(out: W) -> Self {
        Self::with_linger(out, LOG_LINGER)
    }

    fn with_linger(out: W, linger: Duration) -> Self {
        Self {
            out: BufWriter::with_capacity(BATCH_BYTES, out),
            linger,
        }
    }
}

impl<W: Write> Write for Batched<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    /// Writes everything buffered, then waits the linger (on the log writer's own thread).
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        std::thread::sleep(self.linger);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::sync::Arc;
    use std::time::Instant;

    use parking_lot::Mutex;

    use super::*;

    /// A sink that records each `write` it receives separately.
    #[derive(Clone, Default)]
    struct Writes(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Writes {
        fn count(&self) -> usize {
            self.0.lock().len()
        }
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().concat()).unwrap()
        }
    }

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_flush_writes_every_line_in_order_at_once_then_waits_the_linger() {
        let sink = Writes::default();
        let mut out = Batched::with_linger(sink.clone(), Duration::from_millis(30));
        out.write_all(b"one\n").unwrap();
        out.write_all(b"two\n").unwrap();
        assert_eq!(sink.count(), 0, "lines are gathered until the flush");
        let started = Instant::now();
        out.flush().unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(30),
            "the flush returns only after the linger"
        );
        assert_eq!(sink.count(), 1, "one write for the whole batch");
        assert_eq!(sink.text(), "one\ntwo\n");
    }

    /// Through tracing-appender's thread, as `telemetry::init` wires it: lines that trickle in a
    /// millisecond apart are written in a few batches, not one `write` each; the first is written
    /// at once; and every line is there, in order, once the guard is dropped.
    #[test]
    fn lines_that_trickle_in_are_written_in_batches_and_none_is_lost() {
        const LINES: usize = 40;
        let sink = Writes::default();
        let (mut writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .finish(Batched::with_linger(
                sink.clone(),
                Duration::from_millis(200),
            ));
        writer.write_all(b"line 0\n").unwrap();
        let waited = Instant::now();
        while sink.count() == 0 {
            assert!(
                waited.elapsed() < Duration::from_secs(5),
                "the first line was held back"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        for n in 1..LINES {
            writer.write_all(format!("line {n}\n").as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(writer);
        drop(guard);
        let expected = (0..LINES).fold(String::new(), |mut all, n| {
            writeln!(all, "line {n}").unwrap();
            all
        });
        assert_eq!(sink.text(), expected);
        // Without the linger, each line a millisecond apart is a write of its own. With it, the
        // 39 after the first take about 40 ms and fit in one 200 ms linger; a stall of the test
        // thread could split them once more.
        assert!(
            sink.count() <= 3,
            "{} writes for {LINES} lines",
            sink.count()
        );
    }
}
