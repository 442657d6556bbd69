//! Defences below the router, shared by both apps: a deadline on every byte a client sends, a cap
//! on open connections, no protocol upgrades, and a count of the requests the HTTP layer refuses.
//!
//! actix-http bounds only the *first* request head on a connection (`client_request_timeout`): on a
//! keep-alive connection, the next head and every body may trickle in forever. [`serve`] therefore
//! runs the app on actix's own HTTP/1 service over [`DeadlineIo`], a socket wrapper that cuts a
//! connection once a request has been arriving for longer than its deadline without a response.

use std::io;
use std::net::TcpListener;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_http::body::MessageBody;
use actix_http::{Extensions, HttpService, Request, Response};
use actix_server::Server;
use actix_service::{
    IntoServiceFactory, ServiceFactory, ServiceFactoryExt as _, fn_service, map_config,
};
use actix_web::body::EitherBody;
use actix_web::dev::{AppConfig, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage as _, ResponseError as _};
use prometheus::{IntCounterVec, Opts};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::config::ServerSettings;
use crate::error::{ApiError, ErrorCode};

/// How long the first request head on a new connection may take (actix answers 408 after it).
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// Idle keep-alive: longer than the ALB's 60 s idle timeout, so the ALB, not the pod, closes idle
/// connections and never sends a request on a connection the pod is closing.
const KEEP_ALIVE: Duration = Duration::from_secs(75);
/// How long the connection-level cut waits after the request deadline, so a request the middleware
/// timed out still gets its JSON 408 written before the socket closes.
const CUT_GRACE: Duration = Duration::from_secs(1);

/// The deadline of each request on a connection; [`crate::middleware::observe`] reads it.
#[derive(Debug, Clone, Copy)]
pub struct RequestDeadline(pub Duration);

/// Requests the HTTP layer refused or cut, by kind. They never reach a handler, so this is their
/// only trace (actix's own ERROR line for each is dropped from the log; see [`crate::telemetry`]).
pub(crate) static PROTOCOL_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    IntCounterVec::new(
        Opts::new(
            "http_protocol_errors_total",
            "Requests refused or cut below the router, by kind: malformed (400), head_too_large \
             (431), head_timeout (408), deadline (cut mid-request), upgrade (400), io",
        ),
        &["kind"],
    )
    .expect("a valid metric definition")
});

/// Counts one protocol error of `kind`.
pub(crate) fn count(kind: &str) {
    PROTOCOL_ERRORS.with_label_values(&[kind]).inc();
}

/// Binds the app built by `factory` (once per worker) to `listener` with the platform's connection
/// policy: every request bounded by `settings.request_deadline` (head, body and handler), the first
/// head by [`HEAD_DEADLINE`], idle keep-alive by [`KEEP_ALIVE`], and at most
/// `settings.max_connections` open connections, split evenly among the workers. HTTP/1.1 only,
/// like `HttpServer::listen`.
pub fn serve<F, I, S, B>(
    listener: TcpListener,
    settings: &ServerSettings,
    factory: F,
) -> io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    B: MessageBody + 'static,
{
    let deadline = settings.request_deadline;
    let workers = settings.workers.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let local = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let builder = Server::build();
    let graceful = builder.graceful_shutdown_signal();
    builder
        .workers(workers)
        .max_concurrent_connections(settings.max_connections.div_ceil(workers))
        .shutdown_timeout(settings.shutdown_timeout.as_secs())
        .disable_signals()
        .listen("http", listener, move || {
            let graceful = graceful.clone();
            let app = factory()
                .into_factory()
                .map_err(|err| err.into().error_response());
            let http = HttpService::build()
                .keep_alive(KEEP_ALIVE)
                .client_request_timeout(HEAD_DEADLINE)
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(local)
                // Idle keep-alive connections close as soon as a graceful stop begins.
                .graceful_shutdown_signal(move || {
                    let graceful = graceful.clone();
                    async move { graceful.notified().await }
                })
                .on_connect_ext(move |_: &DeadlineIo<TcpStream>, ext: &mut Extensions| {
                    ext.insert(RequestDeadline(deadline));
                })
                // The host only serves URL generation, which neither app uses.
                .h1(map_config(app, |()| AppConfig::default()));
            fn_service(move |io: TcpStream| {
                let peer = io.peer_addr().ok();
                std::future::ready(Ok((DeadlineIo::new(io, deadline + CUT_GRACE), peer)))
            })
            .and_then(http)
        })
        .map(actix_server::ServerBuilder::run)
}

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

/// Request-level protocol rules, inside the platform middleware:
/// - an `Upgrade` header or `CONNECT` gets a JSON 400 and `Connection: close`: neither app speaks
///   WebSocket, h2c or tunnels, and actix would otherwise read an upgrade's body until the client
///   closes, ignoring `Content-Length`;
/// - `HEAD` is served by the `GET` route; actix's encoder sends the headers (with the GET body's
///   length) and no body, because it remembers the request was HEAD.
pub async fn protocol_rules(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, actix_web::Error> {
    if req.method() == Method::CONNECT || req.headers().contains_key(header::UPGRADE) {
        count("upgrade");
        let mut res = ApiError::new(
            ErrorCode::UpgradeNotSupported,
            "protocol upgrades and CONNECT are not supported",
        )
        .error_response();
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        res.head_mut()
            .set_connection_type(actix_http::ConnectionType::Close);
        return Ok(req.into_response(res).map_into_right_body());
    }
    if req.method() == Method::HEAD {
        // The access log and metrics already took the method: they still say HEAD.
        req.head_mut().method = Method::GET;
        req.extensions_mut().insert(HeadAsGet);
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// Marks a HEAD request that is being routed as GET.
#[derive(Debug, Clone, Copy)]
struct HeadAsGet;

/// The method the client sent: HEAD for a HEAD request routed as GET. A proxy relays this one.
pub fn client_method(req: &actix_web::HttpRequest) -> Method {
    if req.extensions().get::<HeadAsGet>().is_some() {
        Method::HEAD
    } else {
        req.method().clone()
    }
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
