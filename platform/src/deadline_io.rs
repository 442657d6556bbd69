//! The socket wrapper under actix's HTTP/1 dispatcher: it sees every byte a connection reads and
//! writes, so it bounds what the dispatcher alone does not. A request that takes longer than its
//! deadline is cut; a request head over [`crate::protocol_framing::MAX_HEAD_BYTES`] gets 431 and the connection closes; no
//! more requests are read while over [`crate::connection_state::UNSENT_BUDGET`] of responses are unsent; and a connection
//! can be asked to take no more requests (evicted when idle, or closed after a large head).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::connection_state::{ConnectionState, idle_clock};
use crate::protocol_errors::count;
use crate::protocol_framing::Framing;

/// A 431 `headers_too_large` in the JSON envelope with `$message`, closing the connection;
/// `$length` is its body's length, which the test below holds to the body.
macro_rules! headers_too_large {
    ($length:literal, $message:literal) => {
        concat!(
            "HTTP/1.1 431 Request Header Fields Too Large\r\n",
            "content-type: application/json\r\n",
            "x-content-type-options: nosniff\r\n",
            "cache-control: no-store\r\n",
            "connection: close\r\n",
            "content-length: ",
            $length,
            "\r\n\r\n",
            "{\"error\":{\"code\":\"headers_too_large\",\"message\":\"",
            $message,
            "\"}}"
        )
        .as_bytes()
    };
}

/// The answer to a head over [`crate::protocol_framing::MAX_HEAD_BYTES`], written after every
/// earlier response on the connection; the connection closes after it.
const HEADERS_TOO_LARGE: &[u8] =
    headers_too_large!(94, "the request head is larger than 16384 bytes");

/// The answer to a head with more than [`crate::protocol_framing::MAX_HEADER_FIELDS`] header
/// fields, like [`HEADERS_TOO_LARGE`].
const TOO_MANY_HEADER_FIELDS: &[u8] =
    headers_too_large!(98, "the request head has more than 96 header fields");

/// A socket whose reads fail once a request has been arriving for longer than `limit` with no
/// response written, or once a response write has stalled for longer than `limit`.
///
/// The clock starts at the first byte read after the last response byte was written, so it covers
/// every request on a keep-alive connection: its head, its body and its handler. Writing a response
/// stops it, unless a request's bytes are still arriving (a body answered early, a pipelined
/// request). The dispatcher sees a timed-out read and drops the connection (a slow client gets no
/// response: it is not reading one anyway).
///
/// It also follows the request framing ([`Framing`]): a head over [`crate::protocol_framing::MAX_HEAD_BYTES`] is not passed
/// on; the dispatcher sees the end of the stream instead, answers what it has, and on closing this
/// socket writes the 431. While over [`crate::connection_state::UNSENT_BUDGET`] is unsent, and once the connection is
/// closing, it reads nothing more.
#[derive(Debug)]
pub struct DeadlineIo<T> {
    io: T,
    limit: Duration,
    timer: Pin<Box<Sleep>>,
    armed: bool,
    expired: bool,
    framing: Framing,
    state: Arc<ConnectionState>,
    /// A head went over a cap: the 431 to answer, and how much of it has been written so far,
    /// once closing.
    refused: Option<(&'static [u8], usize)>,
    /// Closing after a refused head: the write side is shut, and this much of what the client
    /// sent after the head's first 16 KiB has been read and dropped.
    lingering: Option<usize>,
    /// Bytes read from the socket and not passed on yet: they begin a request beyond the
    /// [`crate::connection_state::QUEUED_REQUESTS`] the dispatcher may hold.
    held: Vec<u8>,
}

impl<T> DeadlineIo<T> {
    pub fn new(io: T, limit: Duration) -> Self {
        Self::with_state(io, limit, Arc::default())
    }

    /// As [`DeadlineIo::new`], reporting to `state`.
    pub fn with_state(io: T, limit: Duration, state: Arc<ConnectionState>) -> Self {
        Self {
            io,
            limit,
            timer: Box::pin(tokio::time::sleep(limit)),
            armed: false,
            expired: false,
            framing: Framing::default(),
            state,
            refused: None,
            lingering: None,
            held: Vec::new(),
        }
    }

    /// The connection's shared state.
    pub fn state(&self) -> Arc<ConnectionState> {
        Arc::clone(&self.state)
    }

    fn arm(&mut self) {
        if !self.armed {
            self.timer.as_mut().reset(Instant::now() + self.limit);
            self.armed = true;
        }
    }

    /// True once the deadline has passed; polling registers the wake-up for when it does. A write
    /// underway holds it ([`WriteUnderway`], whose end wakes the reader), and so does the grace for
    /// the answer to one that ended after it.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.expired && self.armed && self.timer.as_mut().poll(cx).is_ready() {
            if self.state.write_underway() {
                self.state.held_by_write.store(true, Ordering::Release);
                // The write may have ended in between, without seeing the flag.
                if self.state.write_underway() {
                    return false;
                }
            }
            let answer_until = self.state.answer_until_ms.swap(0, Ordering::AcqRel);
            let now = idle_clock();
            if answer_until > now {
                self.timer
                    .as_mut()
                    .reset(Instant::now() + Duration::from_millis(answer_until - now));
                return self.expired(cx);
            }
            self.expired = true;
            count("deadline");
        }
        self.expired
    }
}

fn deadline_passed() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "request deadline passed")
}

impl<T: AsyncRead + Unpin> AsyncRead for DeadlineIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.expired(cx) {
            return Poll::Ready(Err(deadline_passed()));
        }
        // Closing (evicted, a refused head, a large one answered): the end of the stream, so the
        // dispatcher answers what it has read and then closes.
        if this.refused.is_some() || this.state.is_closing() {
            return Poll::Ready(Ok(()));
        }
        // Wake-ups come from the writes draining, a request starting, or an eviction.
        this.state.reader.register(cx.waker());
        if this.state.over_budget() {
            return Poll::Pending;
        }
        let mut allowed = this.state.heads_allowed();
        if allowed == 0 && this.framing.at_head_start() {
            // Noted before looking again, so a request that starts in between wakes this read.
            this.state.queue_full.store(true, Ordering::Release);
            allowed = this.state.heads_allowed();
            if allowed == 0 {
                return Poll::Pending;
            }
        }
        let before = buf.filled().len();
        if this.held.is_empty() {
            let polled = Pin::new(&mut this.io).poll_read(cx, buf);
            if !matches!(polled, Poll::Ready(Ok(()))) || buf.filled().len() == before {
                return polled;
            }
        } else {
            let n = this.held.len().min(buf.remaining());
            buf.put_slice(&this.held[..n]);
            this.held.drain(..n);
        }
        this.arm();
        this.state.idle_since_ms.store(0, Ordering::Release);
        let fed = this.framing.feed(&buf.filled()[before..], allowed);
        this.state.heads.fetch_add(fed.heads, Ordering::AcqRel);
        if fed.large_head {
            this.state.large_head.store(true, Ordering::Release);
        }
        if let Some(at) = fed.too_large_at {
            // The dispatcher never sees the head past the cap, so it never buffers it.
            buf.set_filled(before + at);
            this.held.clear();
            let answer = if fed.too_many_fields {
                TOO_MANY_HEADER_FIELDS
            } else {
                HEADERS_TOO_LARGE
            };
            this.refused = Some((answer, 0));
            count("head_too_large");
        } else if before + fed.consumed < buf.filled().len() {
            // The start of a request the dispatcher may not queue yet: held here until it may.
            let rest = buf.filled()[before + fed.consumed..].to_vec();
            this.held.splice(0..0, rest);
            buf.set_filled(before + fed.consumed);
        }
        if buf.filled().len() == before && this.refused.is_none() {
            // Nothing to pass on now (an empty read would mean the end of the stream).
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for DeadlineIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.expired(cx) {
            return Poll::Ready(Err(deadline_passed()));
        }
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                // A response stops the clock only when nothing of a request is arriving. A body
                // still arriving keeps it running to the cut: a request answered before its body
                // came (the JSON 408 for a stalled upload, a 413) must not hold its connection
                // and its slot under the cap for ever, waiting for the rest. So do the bytes of a
                // request pipelined behind the answered one, whose clock thus starts no later
                // than the earlier request's.
                let between_requests = this.framing.at_head_start();
                if n > 0 {
                    if is_bare_head_timeout(buf) {
                        count("head_timeout");
                    }
                    if between_requests {
                        this.armed = false;
                    }
                }
                // The dispatcher writes everything it holds, so what this write left is unsent.
                this.state.set_unsent(buf.len() - n);
                if n == buf.len() && between_requests {
                    this.state
                        .idle_since_ms
                        .store(idle_clock(), Ordering::Release);
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending => {
                this.state.set_unsent(buf.len());
                this.arm();
                // Poll once more so the timer's wake-up is registered.
                if this.expired(cx) {
                    return Poll::Ready(Err(deadline_passed()));
                }
                Poll::Pending
            }
            other @ Poll::Ready(Err(_)) => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Every earlier response is written (the dispatcher flushes before closing): now the 431.
        while let Some((answer, written)) = this.refused.filter(|(a, w)| *w < a.len()) {
            if this.expired(cx) {
                return Poll::Ready(Err(deadline_passed()));
            }
            match Pin::new(&mut this.io).poll_write(cx, &answer[written..]) {
                // The client went away: nothing more to tell it.
                Poll::Ready(Ok(0) | Err(_)) => break,
                Poll::Ready(Ok(n)) => this.refused = Some((answer, written + n)),
                Poll::Pending => {
                    this.arm();
                    if this.expired(cx) {
                        return Poll::Ready(Err(deadline_passed()));
                    }
                    return Poll::Pending;
                }
            }
        }
        if this.refused.is_none() {
            return Pin::new(&mut this.io).poll_shutdown(cx);
        }
        // Closing a socket with unread input resets the connection, and a reset can destroy the
        // 431 before the client reads it. So: shut the write side, then read and drop the rest of
        // the request the kernel already holds (a client that wrote it whole and now reads gets a
        // clean close), up to LINGER_BYTES. No waiting for more: an attacker's connection must not
        // stay open, holding its buffers, for as long as it keeps sending.
        if this.lingering.is_none() {
            std::task::ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
            this.lingering = Some(0);
        }
        let mut scratch = [0_u8; 8192];
        while let Some(drained) = this.lingering.filter(|d| *d < LINGER_BYTES) {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                    this.lingering = Some(drained + buf.filled().len());
                }
                Poll::Ready(_) | Poll::Pending => break,
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// The most of a refused request the connection reads and drops before it closes.
const LINGER_BYTES: usize = 256 * 1024;

/// actix's own 408 for a first head that took too long: no body, unlike the app's JSON 408.
fn is_bare_head_timeout(written: &[u8]) -> bool {
    const EMPTY: &[u8] = b"content-length: 0\r\n";
    written.starts_with(b"HTTP/1.1 408 ")
        && written
            .windows(EMPTY.len())
            .any(|w| w.eq_ignore_ascii_case(EMPTY))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection_state::{QUEUED_REQUESTS, UNSENT_BUDGET};

    #[test]
    fn only_actix_bare_408_counts_as_a_head_timeout() {
        let bare =
            b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        assert!(is_bare_head_timeout(bare));
        let json = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 97\r\ncontent-type: application/json\r\n\r\n";
        assert!(!is_bare_head_timeout(json));
        assert!(!is_bare_head_timeout(
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
        ));
    }

    #[test]
    fn each_431_is_the_json_envelope_with_its_length() {
        for (answer, limit) in [
            (HEADERS_TOO_LARGE, crate::protocol_framing::MAX_HEAD_BYTES),
            (
                TOO_MANY_HEADER_FIELDS,
                crate::protocol_framing::MAX_HEADER_FIELDS,
            ),
        ] {
            let text = std::str::from_utf8(answer).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(
                head.contains(&format!("content-length: {}", body.len())),
                "{head}"
            );
            let json: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(
                json["error"]["code"],
                crate::error::ErrorCode::HEADERS_TOO_LARGE.as_str()
            );
            assert!(
                json["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains(&format!(" {limit} ")),
                "{body}"
            );
        }
    }

    #[tokio::test]
    async fn with_the_queue_full_nothing_more_is_read_so_the_client_backs_up() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        const ONE: &[u8] = b"GET / HTTP/1.1\r\n\r\n";
        // A pipe that holds one request: whether the server read it shows in the client's writes.
        let (client, server) = tokio::io::duplex(ONE.len());
        let mut io = DeadlineIo::new(server, Duration::from_secs(5));
        let state = io.state();
        let (_client_read, mut client_write) = tokio::io::split(client);
        let mut buf = [0_u8; 256];
        for _ in 0..QUEUED_REQUESTS {
            client_write.write_all(ONE).await.unwrap();
            let n = io.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], ONE);
        }
        // The queue is full (none of them started): the next request stays in the socket.
        client_write.write_all(ONE).await.unwrap();
        let read = tokio::time::timeout(Duration::from_millis(100), io.read(&mut buf)).await;
        assert!(
            read.is_err(),
            "nothing is passed on while the queue is full"
        );
        let next = tokio::time::timeout(Duration::from_millis(100), client_write.write_all(ONE));
        assert!(
            next.await.is_err(),
            "the client's next write waits: the request before it was not read"
        );
        // A request starts: the waiting one is read and passed on.
        state.request_started();
        let n = io.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], ONE);
    }

    #[tokio::test]
    async fn reading_stops_while_over_the_budget_is_unsent_and_resumes_when_it_drains() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (client, server) = tokio::io::duplex(1024);
        let mut io = DeadlineIo::new(server, Duration::from_secs(5));
        let state = io.state();
        let (_client_read, mut client_write) = tokio::io::split(client);
        client_write
            .write_all(b"GET / HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        state.set_unsent(UNSENT_BUDGET + 1);
        let mut buf = [0_u8; 64];
        let read = tokio::time::timeout(Duration::from_millis(100), io.read(&mut buf)).await;
        assert!(read.is_err(), "nothing is read while over the budget");
        state.set_unsent(UNSENT_BUDGET);
        let n = io.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"GET / HTTP/1.1\r\n\r\n");
        assert!(state.idle_for().is_none(), "a request arrived: not idle");
    }
}
