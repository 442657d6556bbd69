//! The connection policy below the router, shared by both apps: [`serve`] runs an app on actix's
//! own HTTP/1 service over [`DeadlineIo`], so every request (head, body, handler) has a deadline;
//! it also bounds the first head, idle keep-alive and the open connections.
//!
//! actix-http bounds only the *first* request head on a connection (`client_request_timeout`): on a
//! keep-alive connection, the next head and every body may trickle in forever, which
//! [`DeadlineIo`] cuts.

use std::io;
use std::net::TcpListener;
use std::time::Duration;

use actix_http::body::MessageBody;
use actix_http::{Extensions, HttpService, Request, Response};
use actix_server::Server;
use actix_service::{
    IntoServiceFactory, ServiceFactory, ServiceFactoryExt as _, fn_service, map_config,
};
use actix_web::dev::AppConfig;
use tokio::net::TcpStream;

use crate::config::ServerSettings;
use crate::deadline_io::DeadlineIo;

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
