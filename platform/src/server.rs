//! Running an actix server with the platform's lifecycle: bind, mark ready, and on SIGTERM or SIGINT
//! drain gracefully: readiness 503 at once, a short delay so load balancers deregister the pod, then
//! stop accepting connections and let in-flight requests finish within the shutdown timeout.
//! A second signal stops at once.

use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use tokio::sync::Notify;

use crate::config::{ConfigError, ServerSettings};
use crate::probes::Health;

/// Binds the listener the settings ask for. Port 0 gives an OS-assigned port (tests use it).
fn bind(settings: &ServerSettings) -> std::io::Result<TcpListener> {
    TcpListener::bind((settings.host.as_str(), settings.port))
}

/// A bound, running server, and the signal that drains it.
pub struct RunningServer {
    port: u16,
    server: Server,
    shutdown: ShutdownSignal,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// Binds the listener the settings ask for, lets `run` build the app's server on it, and wires
    /// the server into the lifecycle: ready once bound, drained on a signal or
    /// [`ShutdownSignal::trigger`]. Tests that run many servers in one process
    /// pass `handle_os_signals = false` and drive shutdown through [`RunningServer::shutdown_signal`].
    pub fn start<F>(
        settings: &ServerSettings,
        handle_os_signals: bool,
        run: F,
    ) -> std::io::Result<Self>
    where
        F: FnOnce(TcpListener, Arc<Health>) -> std::io::Result<Server>,
    {
        let listener = bind(settings)?;
        let port = listener.local_addr()?.port();
        let health = Arc::new(Health::new());
        let server = run(listener, Arc::clone(&health))?;
        let shutdown = supervise(&server, &health, settings.drain_delay, handle_os_signals);
        Ok(Self {
            port,
            server,
            shutdown,
        })
    }

    /// The port actually bound (the OS picks one when the settings say 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts the same graceful shutdown SIGTERM would.
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        self.shutdown.clone()
    }

    /// Serves until the graceful shutdown has finished.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The whole of a service's `main`: a configuration mistake prints one line naming the variable and
/// exits 2; otherwise logging starts, the server starts, and the process serves until a signal has
/// drained it, then exits 0.
pub async fn serve_main<C>(
    name: &str,
    config: Result<C, ConfigError>,
    settings: impl Fn(&C) -> &ServerSettings,
    start: impl AsyncFnOnce(&C) -> std::io::Result<RunningServer>,
) -> ExitCode {
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            // One line naming the variable; the value is never printed (it may be a secret).
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    let server = settings(&config);
    let _logs = crate::telemetry::init(server.log_format, &server.log_filter);
    let (environment, port) = (server.app_env, server.port);
    let running = match start(&config).await {
        Ok(running) => running,
        Err(e) => {
            tracing::error!(error = %e, port, "could not start the server");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(service = name, port = running.port(), %environment, "listening");
    match running.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}

/// Triggers the graceful shutdown sequence, from a signal or from a test.
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    notify: Arc<Notify>,
}

impl ShutdownSignal {
    fn new() -> Self {
        Self {
            notify: Arc::new(Notify::new()),
        }
    }

    /// Starts the shutdown sequence, exactly as SIGTERM would.
    pub fn trigger(&self) {
        self.notify.notify_one();
    }
}

/// Applies the platform's connection settings: keep-alive longer than the ALB's 60 s idle timeout
/// (so the ALB, not the pod, closes idle connections), a bound on slow clients' headers, the
/// shutdown timeout, and the worker count.
#[macro_export]
macro_rules! configure_server {
    ($server:expr, $settings:expr) => {{
        let settings: &$crate::config::ServerSettings = $settings;
        let server = $server
            .keep_alive(::std::time::Duration::from_secs(75))
            .client_request_timeout(::std::time::Duration::from_secs(5))
            .client_disconnect_timeout(::std::time::Duration::from_secs(1))
            .shutdown_timeout(settings.shutdown_timeout.as_secs())
            .disable_signals();
        match settings.workers {
            Some(n) => server.workers(n),
            None => server,
        }
    }};
}

/// Wires a started server into the lifecycle: marks it ready, and returns the signal that drains it.
/// Unless `handle_os_signals` is false (tests running many servers in one process), SIGTERM and
/// SIGINT trigger the same sequence.
fn supervise(
    server: &Server,
    health: &Arc<Health>,
    drain_delay: Duration,
    handle_os_signals: bool,
) -> ShutdownSignal {
    let signal = ShutdownSignal::new();
    let handle = server.handle();
    tokio::spawn(drain_on(
        signal.clone(),
        handle.clone(),
        Arc::clone(health),
        drain_delay,
    ));
    if handle_os_signals {
        tokio::spawn(forward_os_signals(signal.clone(), handle));
    }
    health.mark_ready();
    signal
}

async fn drain_on(
    signal: ShutdownSignal,
    handle: ServerHandle,
    health: Arc<Health>,
    delay: Duration,
) {
    signal.notify.notified().await;
    health.begin_shutdown();
    tracing::info!(
        drain_delay_ms = delay.as_millis(),
        "shutdown requested: readiness is now 503, draining"
    );
    tokio::time::sleep(delay).await;
    tracing::info!("no longer accepting connections; finishing in-flight requests");
    handle.stop(true).await;
    tracing::info!("server stopped");
}

async fn forward_os_signals(signal: ShutdownSignal, handle: ServerHandle) {
    let mut received = 0_u32;
    loop {
        let name = next_signal().await;
        received += 1;
        if received == 1 {
            tracing::info!(signal = name, "received signal");
            signal.trigger();
        } else {
            tracing::warn!(signal = name, "second signal: stopping immediately");
            handle.stop(false).await;
            return;
        }
    }
}

#[cfg(unix)]
async fn next_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    // Signal registration only fails when the runtime lacks the signal driver, which ours has.
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        unreachable!("pending never resolves");
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

#[cfg(not(unix))]
async fn next_signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "ctrl-c"
}
