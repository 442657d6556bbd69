//! The pieces of a service's lifecycle, for the app's `startup` to call in order: bind the listener,
//! configure the actix server, then serve until a shutdown future fires and drain: readiness 503 at
//! once, a short delay so load balancers deregister the pod, then stop accepting connections and let
//! in-flight requests finish within the shutdown timeout.

use std::future::Future;
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;

use crate::config::ServerSettings;
use crate::probes::Health;

/// Why a service could not start, as far as the platform's pieces go. `main` prints it on one line
/// and exits 2; an app with more to set up (a database) wraps it in its own error.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The port is taken, or the host is not an address of this machine. Named after the variables
    /// that choose them, as a configuration error would be.
    #[error("cannot listen on {host}:{port} (HOST, PORT): {source}")]
    Bind {
        host: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot start the server: {0}")]
    Server(#[from] std::io::Error),
}

/// The port a listener is bound to (the OS picks one when the settings say 0; tests use it) and the
/// readiness state of the server about to serve on it.
#[derive(Debug)]
pub struct Bound {
    port: u16,
    health: Arc<Health>,
}

impl Bound {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The readiness state, for the server's probes.
    pub fn health(&self) -> Arc<Health> {
        Arc::clone(&self.health)
    }

    /// `server`, built on this listener, ready to run; it drains for `drain_delay` on shutdown.
    pub fn serving(self, server: Server, drain_delay: Duration) -> Serving {
        Serving::new(self.port, server, self.health, drain_delay)
    }
}

/// Binds the listener the settings ask for; the server built on it reports readiness through
/// [`Bound::health`].
pub fn bind(settings: &ServerSettings) -> Result<(TcpListener, Bound), StartupError> {
    let error = |source| StartupError::Bind {
        host: settings.host.clone(),
        port: settings.port,
        source,
    };
    let listener = TcpListener::bind((settings.host.as_str(), settings.port)).map_err(error)?;
    let port = listener.local_addr().map_err(error)?.port();
    let health = Arc::new(Health::new());
    Ok((listener, Bound { port, health }))
}

/// A server bound to its port, with the readiness state its probe reads: what each app's
/// `startup::build` produces (its `Application`), and what `run_until` drives.
pub struct Serving {
    port: u16,
    server: Server,
    health: Arc<Health>,
    drain_delay: Duration,
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Serving {
    /// `server` listens on `port`; `health` is the state its readiness probe reads.
    pub fn new(port: u16, server: Server, health: Arc<Health>, drain_delay: Duration) -> Self {
        Self {
            port,
            server,
            health,
            drain_delay,
        }
    }

    /// The port actually bound (the OS picks one when `PORT` is 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves, then drains (see [`serve_until`]).
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        serve_until(self.server, &self.health, self.drain_delay, shutdown).await
    }
}

/// Serves until `shutdown` resolves, then drains: readiness turns 503 at once, requests keep being
/// accepted for `drain_delay` while load balancers deregister the pod, then the listener closes and
/// in-flight requests finish within the server's shutdown timeout.
///
/// `health` is the state the app's readiness probe reads; it turns ready here, once the server runs.
pub async fn serve_until(
    server: Server,
    health: &Health,
    drain_delay: Duration,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let handle = server.handle();
    let mut server = std::pin::pin!(server);
    health.mark_ready();
    tokio::select! {
        stopped = &mut server => return stopped,
        () = shutdown => {}
    }
    health.begin_shutdown();
    tracing::info!(
        drain_delay_ms = drain_delay.as_millis(),
        "shutdown requested: readiness is now 503, draining"
    );
    let drain = async {
        tokio::time::sleep(drain_delay).await;
        tracing::info!("no longer accepting connections; finishing in-flight requests");
        handle.stop(true).await;
    };
    // The server must keep being polled while it drains.
    let ((), stopped) = tokio::join!(drain, server);
    tracing::info!("server stopped");
    stopped
}

/// Resolves at the first SIGTERM or SIGINT: pass it to `run_until` in `main`.
///
/// A second signal while draining stops the process at once (exit 130), for a person pressing
/// Ctrl-C twice; Kubernetes sends one SIGTERM and waits for the grace period.
pub async fn shutdown_signal() {
    let name = next_signal().await;
    tracing::info!(signal = name, "received signal");
    tokio::spawn(async {
        let name = next_signal().await;
        // The log writer may not get to flush; this line goes straight to stderr.
        eprintln!("second signal ({name}): stopping immediately");
        std::process::exit(130);
    });
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

/// Ends `main` when start-up failed: one line naming the problem, never a value that may be a
/// secret, and exit code 2, whether the cause was the configuration or the listener.
pub fn startup_failed(service: &str, error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("{service}: {error}");
    ExitCode::from(2)
}

/// Ends `main` once the server has stopped: 0 after a drain, 1 if serving failed.
pub fn exit_code(served: std::io::Result<()>) -> ExitCode {
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}
