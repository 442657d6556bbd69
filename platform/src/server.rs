//! Running an actix server with the platform's lifecycle: bind, mark ready, and on SIGTERM or SIGINT
//! drain gracefully: readiness 503 at once, a short delay so load balancers deregister the pod, then
//! stop accepting connections and let in-flight requests finish within the shutdown timeout.
//! A second signal stops at once.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use tokio::sync::Notify;

use crate::config::ServerSettings;
use crate::probes::Health;

/// Binds the listener the settings ask for. Port 0 gives an OS-assigned port (tests use it).
pub fn bind(settings: &ServerSettings) -> std::io::Result<TcpListener> {
    TcpListener::bind((settings.host.as_str(), settings.port))
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
pub fn supervise(
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
