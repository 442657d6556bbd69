//! The pieces of a service's lifecycle, for the app's `startup` to call in order: bind the public and
//! admin listeners, configure the actix servers, then serve until a shutdown future fires and drain:
//! readiness 503 at once, a short delay so load balancers deregister the pod, then stop accepting
//! connections and let in-flight requests finish within the shutdown timeout.

use std::future::Future;
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;

use crate::config::ServerSettings;
use crate::metrics::HttpMetrics;
use crate::probes::Health;

/// Why a service could not start, as far as the platform's pieces go. `main` prints it on one line
/// and exits 2; an app with more to set up wraps it in its own error.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The port is taken, or the host is not an address of this machine. Named after the variables
    /// that choose them, as a configuration error would be.
    #[error("cannot listen on {host}:{port} (HOST, {var}): {source}")]
    Bind {
        host: String,
        port: u16,
        var: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot start the server: {0}")]
    Server(#[from] std::io::Error),
}

/// The ports the listeners are bound to (the OS picks them when the settings say 0; tests use it),
/// the readiness state of the servers about to serve on them, and the admin port's server.
pub struct Bound {
    port: u16,
    admin_port: u16,
    health: Arc<Health>,
    admin: Server,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("port", &self.port)
            .field("admin_port", &self.admin_port)
            .finish_non_exhaustive()
    }
}

impl Bound {
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// The readiness state, for the probes.
    pub fn health(&self) -> Arc<Health> {
        Arc::clone(&self.health)
    }

    /// `public`, the app's server built on the public listener, ready to run beside the admin
    /// port's; draining takes `drain_delay`.
    pub fn serving(self, public: Server, drain_delay: Duration) -> Serving {
        Serving {
            port: self.port,
            admin_port: self.admin_port,
            public,
            admin: self.admin,
            health: self.health,
            drain_delay,
        }
    }
}

/// Binds both listeners the settings ask for, the public one first, and builds the admin port's
/// server on the second ([`crate::admin`]: the probes, and `metrics` rendered at `/metrics`).
/// Returns the public listener, for the app's own server; the servers report readiness through
/// [`Bound::health`].
pub fn bind(
    settings: &ServerSettings,
    metrics: &HttpMetrics,
) -> Result<(TcpListener, Bound), StartupError> {
    let bind_one = |var: &'static str, port: u16| {
        let error = |source| StartupError::Bind {
            host: settings.host.clone(),
            port,
            var,
            source,
        };
        let listener = TcpListener::bind((settings.host.as_str(), port)).map_err(error)?;
        let bound = listener.local_addr().map_err(error)?.port();
        Ok::<_, StartupError>((listener, bound))
    };
    let (public, port) = bind_one("PORT", settings.port)?;
    let (admin, admin_port) = bind_one("ADMIN_PORT", settings.admin_port)?;
    let health = Arc::new(Health::new());
    let admin = crate::admin::serve(admin, settings, Arc::clone(&health), metrics.clone())?;
    Ok((
        public,
        Bound {
            port,
            admin_port,
            health,
            admin,
        },
    ))
}

/// A service's two servers, bound to their ports, with the readiness state the probes read: what
/// each app's `startup::build` produces, and what `run_until` drives.
pub struct Serving {
    port: u16,
    admin_port: u16,
    public: Server,
    admin: Server,
    health: Arc<Health>,
    drain_delay: Duration,
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving")
            .field("port", &self.port)
            .field("admin_port", &self.admin_port)
            .finish_non_exhaustive()
    }
}

impl Serving {
    /// The public port actually bound (the OS picks one when `PORT` is 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin port actually bound (the OS picks one when `ADMIN_PORT` is 0).
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// Serves until `shutdown` resolves, then drains: readiness turns 503 at once, the public port
    /// keeps accepting requests for the drain delay while load balancers deregister the pod, then
    /// it closes and in-flight requests finish within the server's shutdown timeout. The admin port
    /// answers throughout (liveness 200, readiness 503) and closes last.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let Self {
            public,
            admin,
            health,
            drain_delay,
            ..
        } = self;
        let admin_handle = admin.handle();
        let public = async {
            let served = serve_until(public, &health, drain_delay, shutdown).await;
            admin_handle.stop(true).await;
            served
        };
        // Both servers must keep being polled until both have stopped.
        let (served, admin_served) = tokio::join!(public, admin);
        served.and(admin_served)
    }
}

/// Serves until `shutdown` resolves, then drains: readiness turns 503 at once, requests keep being
/// accepted for `drain_delay` while load balancers deregister the pod, then the listener closes and
/// in-flight requests finish within the server's shutdown timeout.
///
/// `health` is the state the readiness probe reads; the server turns ready here, once it runs
/// (and readiness also waits for the dependencies the app registered with it).
async fn serve_until(
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
