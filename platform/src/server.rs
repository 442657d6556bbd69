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
    /// port's; draining takes the settings' drain delay, then at most their shutdown timeout.
    pub fn serving(self, public: Server, settings: &ServerSettings) -> Serving {
        Serving {
            port: self.port,
            admin_port: self.admin_port,
            public,
            admin: self.admin,
            health: self.health,
            drain: Drain {
                delay: settings.drain_delay,
                timeout: settings.shutdown_timeout,
            },
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
    drain: Drain,
}

/// How a server drains once told to stop: readiness 503 for `delay` while load balancers
/// deregister the pod, then in-flight requests get at most `timeout` to finish.
#[derive(Debug, Clone, Copy)]
struct Drain {
    delay: Duration,
    timeout: Duration,
}

impl Drain {
    /// When the process gives up on a drain that has not ended: its delay and timeout, plus
    /// [`SHUTDOWN_OVERRUN`].
    fn deadline(self) -> Duration {
        self.delay + self.timeout + SHUTDOWN_OVERRUN
    }
}

/// How far past its drain delay and shutdown timeout a drain may run before the process exits
/// anyway. actix-server ends a request still running at the timeout, but only on a worker that
/// answers: a worker thread stuck inside a handler (a loop, a blocking call) never does, and the
/// drain would wait for it forever. Kubernetes would kill the pod at its grace period; a process
/// run any other way (a test, a container runtime without one) would hang. In the pods: preStop
/// 25 s + drain 2 s + timeout 15 s + this 2 s < the 45 s grace period (tests/contract/pod.rs).
pub const SHUTDOWN_OVERRUN: Duration = Duration::from_secs(2);

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
    /// A drain that outlasts its deadline ([`SHUTDOWN_OVERRUN`]) ends the process with exit 1.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let Self {
            public,
            admin,
            health,
            drain,
            ..
        } = self;
        let admin_handle = admin.handle();
        let public = async {
            let served = serve_until(public, &health, drain, shutdown, exit_overrun).await;
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
/// (and readiness also waits for the dependencies the app registered with it). `on_overrun` runs,
/// on a thread of its own, if the drain has not ended by its deadline.
async fn serve_until(
    server: Server,
    health: &Health,
    drain: Drain,
    shutdown: impl Future<Output = ()>,
    on_overrun: impl FnOnce(Duration) + Send + 'static,
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
        drain_delay_ms = drain.delay.as_millis(),
        "shutdown requested: readiness is now 503, draining"
    );
    // Disarmed when this function returns: the drain ended.
    let _watchdog = Watchdog::arm(drain.deadline(), on_overrun);
    let draining = async {
        tokio::time::sleep(drain.delay).await;
        tracing::info!("no longer accepting connections; finishing in-flight requests");
        handle.stop(true).await;
    };
    // The server must keep being polled while it drains.
    let ((), stopped) = tokio::join!(draining, server);
    tracing::info!("server stopped");
    stopped
}

/// Runs a callback on a thread of its own unless it is dropped before `deadline`. A thread, not a
/// task: the runtime that would run a task may be the one that is stuck.
struct Watchdog {
    _disarm: std::sync::mpsc::Sender<()>,
}

impl Watchdog {
    fn arm(deadline: Duration, on_overrun: impl FnOnce(Duration) + Send + 'static) -> Self {
        let (disarm, disarmed) = std::sync::mpsc::channel::<()>();
        let watching = std::thread::Builder::new()
            .name("shutdown-watchdog".into())
            .spawn(move || {
                // Dropping the sender ends the wait early (Disconnected): the drain ended in time.
                if disarmed.recv_timeout(deadline)
                    == Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                {
                    on_overrun(deadline);
                }
            });
        if let Err(e) = watching {
            // The drain still runs; only its bound is missing, and Kubernetes' grace period remains.
            tracing::error!(error = %e, "cannot start the shutdown watchdog; draining without it");
        }
        Self { _disarm: disarm }
    }
}

/// What `run_until` does when a drain outlasts its deadline: one line on stderr (the log writer may
/// be stuck behind the same worker) and exit 1, as a failed server does.
fn exit_overrun(deadline: Duration) {
    eprintln!(
        "shutdown did not finish within {} s: a request is stuck on a worker; exiting",
        deadline.as_secs()
    );
    std::process::exit(1);
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

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;

    use super::*;

    /// One worker whose handler holds its thread for `hold`: sends it a request, asks the server to
    /// stop once the handler runs, drains with `drain`, and returns what the watchdog reported
    /// within `wait` (the deadline it gave up at), or `None`.
    fn stop_while_a_handler_holds_its_worker(
        hold: Duration,
        drain: Drain,
        wait: Duration,
    ) -> Option<Duration> {
        let (report_to, reports) = mpsc::channel();
        let started = Arc::new(AtomicBool::new(false));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let in_handler = Arc::clone(&started);
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = actix_web::HttpServer::new(move || {
                    let in_handler = Arc::clone(&in_handler);
                    actix_web::App::new().route(
                        "/",
                        actix_web::web::get().to(move || {
                            in_handler.store(true, Ordering::SeqCst);
                            // Not an await: the worker's thread itself is held, as by a stuck loop.
                            std::thread::sleep(hold);
                            async { "done" }
                        }),
                    )
                })
                .workers(1)
                .disable_signals()
                .shutdown_timeout(drain.timeout.as_secs())
                .listen(listener)
                .unwrap()
                .run();
                let shutdown = async {
                    while !started.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                };
                let report = move |deadline| {
                    let _ = report_to.send(deadline);
                };
                let _ = serve_until(server, &Health::new(), drain, shutdown, report).await;
            });
        });
        let mut connection = std::net::TcpStream::connect(address).unwrap();
        connection
            .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            .unwrap();
        reports.recv_timeout(wait).ok()
    }

    const DRAIN: Drain = Drain {
        delay: Duration::ZERO,
        timeout: Duration::from_secs(1),
    };

    #[test]
    fn a_drain_stuck_behind_a_held_worker_gives_up_at_its_deadline() {
        assert_eq!(DRAIN.deadline(), Duration::from_secs(1) + SHUTDOWN_OVERRUN);
        let gave_up = stop_while_a_handler_holds_its_worker(
            DRAIN.deadline() * 3,
            DRAIN,
            DRAIN.deadline() * 2,
        );
        assert_eq!(gave_up, Some(DRAIN.deadline()));
    }

    /// In a child process (this test binary again, running only this test): what `run_until` does
    /// at the deadline ends the process with exit 1 and one line saying why.
    #[test]
    fn giving_up_exits_1_with_one_line() {
        const CHILD: &str = "PLATFORM_TEST_EXIT_OVERRUN";
        if std::env::var_os(CHILD).is_some() {
            exit_overrun(Duration::from_secs(19));
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "server::tests::giving_up_exits_1_with_one_line",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("shutdown did not finish within 19 s"),
            "{stderr}"
        );
    }

    #[test]
    fn a_drain_that_ends_in_time_never_trips_the_watchdog() {
        // The request is in flight when the stop comes, and ends within the shutdown timeout.
        let gave_up = stop_while_a_handler_holds_its_worker(
            DRAIN.timeout / 2,
            DRAIN,
            DRAIN.deadline() + Duration::from_secs(1),
        );
        assert_eq!(gave_up, None);
    }
}
