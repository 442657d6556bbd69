//! A socket wrapper that cuts a connection once a request has been arriving for longer than its
//! deadline without a response.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::protocol_errors::count;

/// A socket whose reads fail once a request has been arriving for longer than `limit` with no
/// response written, or once a response write has stalled for longer than `limit`.
///
/// The clock starts at the first byte read after the last response byte was written, so it covers
/// every request on a keep-alive connection: its head, its body and its handler. Writing a response
/// stops it. The dispatcher sees a timed-out read and drops the connection (a slow client gets no
/// response: it is not reading one anyway).
#[derive(Debug)]
pub struct DeadlineIo<T> {
    io: T,
    limit: Duration,
    timer: Pin<Box<Sleep>>,
    armed: bool,
    expired: bool,
}

impl<T> DeadlineIo<T> {
    pub fn new(io: T, limit: Duration) -> Self {
        Self {
            io,
            limit,
            timer: Box::pin(tokio::time::sleep(limit)),
            armed: false,
            expired: false,
        }
    }

    fn arm(&mut self) {
        if !self.armed {
            self.timer.as_mut().reset(Instant::now() + self.limit);
            self.armed = true;
        }
    }

    /// True once the deadline has passed; polling registers the wake-up for when it does.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.expired && self.armed && self.timer.as_mut().poll(cx).is_ready() {
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
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.arm();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for DeadlineIo<T> {
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
                if n > 0 {
                    if is_bare_head_timeout(buf) {
                        count("head_timeout");
                    }
                    this.armed = false;
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending => {
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
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

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
}
