//! What the rest of the server knows about one connection ([`ConnectionState`]), shared by the
//! socket wrapper under it ([`crate::deadline_io::DeadlineIo`]), the service in front of the app,
//! the connection registry and the handlers: a handler holds [`WriteUnderway`] while a write it
//! began may still commit.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;

/// Responses a connection may have unsent (written by the app, not yet taken by the socket) before
/// it stops reading and starting new requests: a client that pipelines requests and never reads
/// costs about one response and this much, not a response per request.
pub const UNSENT_BUDGET: usize = 64 * 1024;

/// Requests read but not started yet that a connection may hold. actix-http parses every request
/// its read buffer holds into a queue, at several KiB each; past this many, no more are read.
pub const QUEUED_REQUESTS: usize = 4;

/// What the rest of the server knows about one connection: how much of its responses is unsent,
/// whether it is idle between requests, and whether it should take no more requests. Shared with
/// the service in front of the app (through the connection's data) and with the connection
/// registry.
#[derive(Debug, Default)]
pub struct ConnectionState {
    /// Response bytes the socket has not taken yet, as of the last write.
    unsent: AtomicUsize,
    /// A request waiting for the unsent responses to drain.
    drained: AtomicWaker,
    /// The read side, waiting for the unsent responses to drain or for an eviction.
    pub(crate) reader: AtomicWaker,
    /// The read side stopped because [`QUEUED_REQUESTS`] wait unstarted: a request that starts
    /// wakes it. Only then, so an ordinary request costs its connection no extra wake-up.
    pub(crate) queue_full: AtomicBool,
    /// Take no more requests: finish what was read, then close.
    closing: AtomicBool,
    /// When the connection last became idle (every response written, nothing read since), in ms
    /// on [`idle_clock`]; 0 while it is not idle.
    pub(crate) idle_since_ms: AtomicU64,
    /// A request head of [`crate::protocol_framing::LARGE_HEAD_BYTES`] or more was read.
    pub(crate) large_head: AtomicBool,
    /// Told when the connection is gone, so one waiting for its slot under the cap gets in.
    released: OnceLock<Arc<Notify>>,
    /// Request heads passed to the dispatcher, and requests it started (handed to the app).
    pub(crate) heads: AtomicUsize,
    started: AtomicUsize,
    /// Writes a handler has begun and not finished ([`WriteUnderway`]): the deadline waits for them.
    writes: AtomicUsize,
    /// Until when (on [`idle_clock`]) a passed deadline still waits, so the answer to a write that
    /// finished just before or after it can be written.
    pub(crate) answer_until_ms: AtomicU64,
    /// The read side found the deadline passed during a write, and waits for its end.
    pub(crate) held_by_write: AtomicBool,
    /// How long each request on the connection may take (head, body and handler); `None` off a
    /// served connection, where the middleware applies the configured default.
    request_deadline: Option<Duration>,
}

impl Drop for ConnectionState {
    fn drop(&mut self) {
        if let Some(released) = self.released.get() {
            released.notify_one();
        }
    }
}

impl ConnectionState {
    /// The state of a new connection whose requests each have `request_deadline`.
    pub fn with_request_deadline(request_deadline: Duration) -> Self {
        let mut state = Self::default();
        state.request_deadline = Some(request_deadline);
        state
    }

    /// How long each request on the connection may take, if the server set it.
    pub fn request_deadline(&self) -> Option<Duration> {
        self.request_deadline
    }

    /// Whether more than [`UNSENT_BUDGET`] of responses wait for the socket.
    pub fn over_budget(&self) -> bool {
        self.unsent.load(Ordering::Acquire) > UNSENT_BUDGET
    }

    /// Ready once the unsent responses are within [`UNSENT_BUDGET`].
    pub fn poll_drained(&self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.over_budget() {
            return Poll::Ready(());
        }
        self.drained.register(cx.waker());
        if self.over_budget() {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    /// The connection takes no more requests: what it has read is answered, then it closes.
    pub fn close(&self) {
        self.closing.store(true, Ordering::Release);
        self.reader.wake();
    }

    /// The dispatcher hands one more request to the app: one fewer waits in its queue.
    pub fn request_started(&self) {
        self.started.fetch_add(1, Ordering::AcqRel);
        if self.queue_full.swap(false, Ordering::AcqRel) {
            self.reader.wake();
        }
    }

    /// How many more request heads may be read before [`QUEUED_REQUESTS`] wait unstarted.
    pub(crate) fn heads_allowed(&self) -> usize {
        let waiting = self
            .heads
            .load(Ordering::Acquire)
            .saturating_sub(self.started.load(Ordering::Acquire));
        QUEUED_REQUESTS.saturating_sub(waiting)
    }

    /// Whether a handler on this connection has begun a write it has not finished.
    pub fn write_underway(&self) -> bool {
        self.writes.load(Ordering::Acquire) > 0
    }

    /// Whether [`ConnectionState::close`] was called.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// `released` is notified once when this connection is gone.
    pub(crate) fn notify_when_released(&self, released: Arc<Notify>) {
        let _ = self.released.set(released);
    }

    /// Whether a large request head was read, so the connection should close after its response.
    pub fn read_large_head(&self) -> bool {
        self.large_head.load(Ordering::Acquire)
    }

    /// How long the connection has been idle between requests, if it is.
    pub fn idle_for(&self) -> Option<Duration> {
        let since = self.idle_since_ms.load(Ordering::Acquire);
        (since != 0).then(|| Duration::from_millis(idle_clock().saturating_sub(since)))
    }

    pub(crate) fn set_unsent(&self, unsent: usize) {
        let before = self.unsent.swap(unsent, Ordering::AcqRel);
        if before > UNSENT_BUDGET && unsent <= UNSENT_BUDGET {
            self.drained.wake();
            self.reader.wake();
        }
    }
}

/// Held by a handler from the moment it begins a write that may commit until it returns. While
/// one is held, a passed request deadline waits: the middleware does not answer 408 for a write
/// that may still commit, and the connection is not cut under it. The store bounds the write
/// itself (its acquire and statement timeouts), so the wait is bounded too. Once dropped, the
/// answer has [`ANSWER_GRACE`] to be written.
#[must_use = "the write is covered only while this is held"]
#[derive(Debug)]
pub struct WriteUnderway(Option<Arc<ConnectionState>>);

/// How long a connection whose deadline passed during a write waits, once the write is done, for
/// its answer to be written.
pub const ANSWER_GRACE: Duration = Duration::from_secs(1);

impl WriteUnderway {
    /// Covers the write `req`'s handler is about to begin (nothing, off a real connection).
    pub fn begin(req: &actix_web::HttpRequest) -> Self {
        let state = req.conn_data::<Arc<ConnectionState>>().cloned();
        if let Some(state) = &state {
            state.writes.fetch_add(1, Ordering::AcqRel);
        }
        Self(state)
    }
}

impl Drop for WriteUnderway {
    fn drop(&mut self) {
        if let Some(state) = &self.0 {
            let grace = u64::try_from(ANSWER_GRACE.as_millis()).unwrap_or(u64::MAX);
            state
                .answer_until_ms
                .store(idle_clock().saturating_add(grace), Ordering::Release);
            state.writes.fetch_sub(1, Ordering::AcqRel);
            // A read that found the deadline passed and waited looks again (only then: a wake-up
            // costs the connection another pass of the dispatcher).
            if state.held_by_write.swap(false, Ordering::AcqRel) {
                state.reader.wake();
            }
        }
    }
}

/// Milliseconds since the first call (never 0), for idle times.
pub(crate) fn idle_clock() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    u64::try_from(start.elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}
