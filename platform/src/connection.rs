//! The connection policy below the router, shared by both apps: [`serve`] runs an app on actix's
//! own HTTP/1 service over [`DeadlineIo`], so every request (head, body, handler) has a deadline
//! and every head a size; it also bounds the first head, idle keep-alive, the responses a
//! connection may leave unread, and the open connections.
//!
//! actix-http bounds only the *first* request head on a connection (`client_request_timeout`): on a
//! keep-alive connection, the next head and every body may trickle in forever, which
//! [`DeadlineIo`] cuts.

use std::io;
use std::marker::PhantomData;
use std::net::TcpListener;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_http::body::{BodySize, MessageBody};
use actix_http::{Extensions, HttpService, Request, Response};
use actix_server::Server;
use actix_service::{
    IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt as _, Transform, apply,
    fn_service, map_config,
};
use actix_web::dev::AppConfig;
use actix_web::web::Bytes;
use futures_util::future::LocalBoxFuture;
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::config::ServerSettings;
use crate::connection_state::ConnectionState;
use crate::deadline_io::DeadlineIo;
use crate::expect_continue::continue_or_refuse;
use crate::extractors::JSON_LIMIT_BYTES;

/// How long the first request head on a new connection may take (actix answers 408 after it).
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// Idle keep-alive: longer than the ALB's 60 s idle timeout, so the ALB, not the pod, closes idle
/// connections and never sends a request on a connection the pod is closing.
const KEEP_ALIVE: Duration = Duration::from_secs(75);
/// How long the connection-level cut waits after the request deadline, so a request the middleware
/// timed out still gets its JSON 408 written before the socket closes.
const CUT_GRACE: Duration = Duration::from_secs(1);

/// Open connections the admin port accepts: kubelet's probes and Prometheus need a handful.
pub const ADMIN_MAX_CONNECTIONS: usize = 64;

/// How many workers serve a listener, how many connections they hold open together, and the
/// largest request body any of its routes reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub workers: usize,
    pub max_connections: usize,
    /// A request announcing a longer body that asks before sending it (`Expect: 100-continue`)
    /// gets the JSON 413 instead of the `100 Continue` (`crate::expect_continue`).
    pub max_body_bytes: usize,
}

impl Limits {
    /// The public port's: `WORKERS` (one per core by default) and `MAX_CONNECTIONS`.
    pub fn public(settings: &ServerSettings) -> Self {
        Self {
            workers: settings.workers.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            }),
            max_connections: settings.max_connections,
            max_body_bytes: JSON_LIMIT_BYTES,
        }
    }

    /// The admin port's: one worker of its own and [`ADMIN_MAX_CONNECTIONS`], so no public client
    /// (however many, however slow) delays a probe.
    pub fn admin() -> Self {
        Self {
            workers: 1,
            max_connections: ADMIN_MAX_CONNECTIONS,
            max_body_bytes: JSON_LIMIT_BYTES,
        }
    }
}

/// Binds the app built by `factory` (once per worker) to `listener` with the platform's connection
/// policy: every request bounded by `settings.request_deadline` (head, body and handler), the first
/// head by [`HEAD_DEADLINE`] and every head by [`crate::protocol_framing::MAX_HEAD_BYTES`], idle keep-alive by
/// [`KEEP_ALIVE`], no new request started while a connection has over [`crate::connection_state::UNSENT_BUDGET`] of
/// responses unsent, and at most `limits.max_connections` open connections over all
/// `limits.workers` (at the cap the longest-idle keep-alive connection makes room, else the new one
/// waits). HTTP/1.1 only, like `HttpServer::listen`.
pub fn serve<F, I, S, B>(
    listener: TcpListener,
    settings: &ServerSettings,
    limits: Limits,
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
    let Limits {
        workers,
        max_connections,
        max_body_bytes,
    } = limits;
    let registry = Arc::new(Registry::new(max_connections));
    let local = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    // Accepted sockets inherit it on Linux. Left to autotuning, a client that never reads can make
    // the kernel hold megabytes of responses per connection (charged to the pod's memory), and
    // the unsent budget would see none of it.
    socket2::SockRef::from(&listener).set_send_buffer_size(SEND_BUFFER_BYTES)?;
    let builder = Server::build();
    let graceful = builder.graceful_shutdown_signal();
    builder
        .workers(workers)
        // The registry holds the cap over all workers; actix's per-worker cap only bounds the
        // connections waiting for a slot, beyond which new ones wait in the listen backlog.
        .max_concurrent_connections(max_connections.div_ceil(workers) + ADMISSION_HEADROOM)
        .shutdown_timeout(settings.shutdown_timeout.as_secs())
        .disable_signals()
        .listen("http", listener, move || {
            let graceful = graceful.clone();
            let registry = Arc::clone(&registry);
            let app = factory()
                .into_factory()
                .map_err(|err| err.into().error_response())
                .map_init_err(|e| tracing::error!(error = ?e, "the app could not be built"));
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
                .expect(fn_service(move |req| {
                    continue_or_refuse(req, max_body_bytes)
                }))
                // The connection's state, the request deadline included, in one extension:
                // `observe` and `Paced` each look it up once per request.
                .on_connect_ext(move |io: &DeadlineIo<TcpStream>, ext: &mut Extensions| {
                    ext.insert(io.state());
                })
                // The host only serves URL generation, which neither app uses.
                .h1(apply(
                    Pacing(PhantomData),
                    map_config(app, |()| AppConfig::default()),
                ));
            fn_service(move |io: TcpStream| {
                let registry = Arc::clone(&registry);
                async move {
                    let peer = io.peer_addr().ok();
                    let state = Arc::new(ConnectionState::with_request_deadline(deadline));
                    match tokio::time::timeout(ADMISSION_WAIT, registry.admit(&state)).await {
                        Ok(()) => Ok((DeadlineIo::with_state(io, deadline + CUT_GRACE, state), peer)),
                        // The cap stayed full of busy connections: this one goes.
                        Err(_) => Err(()),
                    }
                }
            })
            .and_then(http.map_err(|_| ()))
        })
        .map(actix_server::ServerBuilder::run)
}

/// The kernel's send buffer per connection (Linux doubles it for its bookkeeping): at the ALB's
/// sub-millisecond round trips inside the VPC this still moves over 100 MB/s per connection.
pub const SEND_BUFFER_BYTES: usize = 64 * 1024;

/// Connections beyond a worker's share of the cap that it accepts and holds until a slot frees.
const ADMISSION_HEADROOM: usize = 64;
/// How long an accepted connection waits for a slot before it is closed.
const ADMISSION_WAIT: Duration = Duration::from_secs(10);

/// The open connections of one listener, over all its workers: at most `max`. At the cap, the
/// connection idle the longest between requests is asked to close, so a new client is served
/// rather than waiting for a keep-alive timeout; if none is idle, the new one waits for a slot.
#[derive(Debug)]
struct Registry {
    max: usize,
    open: parking_lot::Mutex<Vec<Weak<ConnectionState>>>,
    freed: Arc<Notify>,
}

impl Registry {
    fn new(max: usize) -> Self {
        Self {
            max,
            open: parking_lot::Mutex::new(Vec::with_capacity(max)),
            freed: Arc::new(Notify::new()),
        }
    }

    /// Waits for a slot for `state`'s connection; the slot frees when the state drops (the
    /// connection and its last request are gone).
    async fn admit(&self, state: &Arc<ConnectionState>) {
        loop {
            let freed = self.freed.notified();
            {
                let mut open = self.open.lock();
                open.retain(|c| c.strong_count() > 0);
                if open.len() < self.max {
                    open.push(Arc::downgrade(state));
                    state.notify_when_released(Arc::clone(&self.freed));
                    return;
                }
                let idlest = open
                    .iter()
                    .filter_map(Weak::upgrade)
                    .filter_map(|c| c.idle_for().map(|idle| (idle, c)))
                    .filter(|(_, c)| !c.is_closing())
                    .max_by_key(|(idle, _)| *idle);
                if let Some((idle, connection)) = idlest {
                    tracing::debug!(
                        idle_ms = idle.as_millis(),
                        "at the connection cap: closing the longest-idle keep-alive connection"
                    );
                    connection.close();
                }
            }
            freed.await;
        }
    }
}

/// Starts no request while its connection has over [`crate::connection_state::UNSENT_BUDGET`] of responses unsent, and
/// closes a connection after the response to a large head ([`crate::protocol_framing`]), so its
/// read buffer goes with it instead of staying for the keep-alive.
#[derive(Debug)]
struct Pacing<B>(PhantomData<B>);

impl<S, B> Transform<S, Request> for Pacing<B>
where
    S: Service<Request> + 'static,
    S::Response: Into<Response<B>>,
    B: MessageBody + 'static,
{
    type Response = Response<Sliced<B>>;
    type Error = S::Error;
    type Transform = Paced<S, B>;
    type InitError = ();
    type Future = std::future::Ready<Result<Paced<S, B>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        std::future::ready(Ok(Paced {
            service: Rc::new(service),
            body: PhantomData,
        }))
    }
}

#[derive(Debug)]
struct Paced<S, B> {
    service: Rc<S>,
    body: PhantomData<B>,
}

impl<S, B> Service<Request> for Paced<S, B>
where
    S: Service<Request> + 'static,
    S::Response: Into<Response<B>>,
    B: MessageBody + 'static,
{
    type Response = Response<Sliced<B>>;
    type Error = S::Error;
    type Future = LocalBoxFuture<'static, Result<Response<Sliced<B>>, S::Error>>;

    actix_service::forward_ready!(service);

    fn call(&self, req: Request) -> Self::Future {
        let state = req.conn_data::<Arc<ConnectionState>>().cloned();
        let service = Rc::clone(&self.service);
        Box::pin(async move {
            if let Some(state) = &state {
                state.request_started();
                std::future::poll_fn(|cx| state.poll_drained(cx)).await;
            }
            let res: Response<B> = service.call(req).await?.into();
            let mut res = res.map_body(|_, body| Sliced::new(body));
            if state.is_some_and(|s| s.read_large_head()) {
                res.head_mut()
                    .set_connection_type(actix_http::ConnectionType::Close);
            }
            Ok(res)
        })
    }
}

/// A response body passed to the dispatcher in slices of at most [`SLICE_BYTES`], so its write
/// buffer never grows past a slice or two over `h1_write_buffer_size` (it copies a whole chunk in
/// at once). A large chunk is first copied into an allocation of its exact size: a JSON body comes
/// in a buffer that grew by doubling, up to twice its length, and a slow reader holds it until the
/// last byte is written.
pub struct Sliced<B> {
    body: Pin<Box<B>>,
    rest: Bytes,
}

/// The largest slice of a response body handed to the dispatcher at once.
const SLICE_BYTES: usize = 16 * 1024;

impl<B> Sliced<B> {
    fn new(body: B) -> Self {
        Self {
            body: Box::pin(body),
            rest: Bytes::new(),
        }
    }
}

impl<B> std::fmt::Debug for Sliced<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sliced")
            .field("rest", &self.rest.len())
            .finish_non_exhaustive()
    }
}

impl<B: MessageBody> MessageBody for Sliced<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.rest.is_empty() {
            match std::task::ready!(this.body.as_mut().poll_next(cx)) {
                Some(Ok(chunk)) if chunk.len() > SLICE_BYTES => {
                    this.rest = Bytes::copy_from_slice(&chunk);
                }
                other => return Poll::Ready(other),
            }
        }
        let slice = this.rest.split_to(this.rest.len().min(SLICE_BYTES));
        Poll::Ready(Some(Ok(slice)))
    }
}
