//! Building the server: [`build`] binds the public and admin ports first, starts opening the task
//! store in the background and creates the state once (every worker gets a handle to it); the
//! [`Application`] it returns serves until told to stop.

use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, web};
use platform::connection::Limits;
use platform::metrics::HttpMetrics;
use platform::probes::Health;
use platform::server::Serving;
use platform::unmatched::KnownRoutes;
use tokio::sync::oneshot;
use utoipa_actix_web::AppExt as _;

use crate::auth::ApiKeyGuard;
use crate::config::{Config, MigrateConfig};
use crate::docs::{self, OpenApiJson};
use crate::fault::ErrorInjector;
use crate::info::{ServiceInfo, StoreInfo};
use crate::routes;
use crate::tasks::store::{self, MigrationError, Migrations, OpenError, TaskStore};
use crate::throttle::Throttle;

/// Why api-app could not start: `main` prints it on one line and exits 2.
pub type StartupError = platform::server::StartupError;

/// Why api-app stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The task store could not be opened for good (a failed migration, say): never serve without
    /// it. `main` prints it on one line and exits 2, as for any start-up failure.
    #[error("the task store could not be opened: {0}")]
    Store(#[from] OpenError),
    #[error(transparent)]
    Serve(#[from] std::io::Error),
}

/// api-app, bound to its ports: `port()`, `admin_port()`, then `run_until(shutdown)`, which serves
/// until the shutdown future resolves and then drains.
#[derive(Debug)]
pub struct Application {
    serving: Serving,
    store_failure: oneshot::Receiver<OpenError>,
}

impl Application {
    /// The public port actually bound (the OS picks one when `PORT` is 0).
    pub fn port(&self) -> u16 {
        self.serving.port()
    }

    /// The admin port actually bound: probes and `/metrics`.
    pub fn admin_port(&self) -> u16 {
        self.serving.admin_port()
    }

    /// Serves until `shutdown` resolves, then drains; stops at once if the store cannot be opened.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
        let failed = async {
            match self.store_failure.await {
                Ok(e) => e,
                // The opener ended without a failure: the store is open.
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            served = self.serving.run_until(shutdown) => Ok(served?),
            e = failed => Err(RunError::Store(e)),
        }
    }
}

/// Binds both ports `config` asks for and builds the servers on them, then opens the task store in
/// the background: liveness answers as soon as the process serves, while readiness (and every
/// store-backed route, with a 503 `unavailable`) waits until the store is open. With PostgreSQL,
/// opening waits (with backoff) for the database and migrates it under a lock, so a replica is
/// never ready on a schema it cannot serve. Nothing is served until [`Application::run_until`];
/// `main` passes [`platform::server::shutdown_signal`], tests their own trigger.
#[allow(
    clippy::unused_async,
    reason = "the store opens on the caller's runtime, which build must be called from"
)]
pub async fn build(config: Config) -> Result<Application, StartupError> {
    let metrics = HttpMetrics::new()?;
    let (listener, bound) = platform::server::bind(&config.server, &metrics)?;
    // Read once: the store shares its connections out between exactly these workers.
    let limits = Limits::public(&config.server);
    let (store, store_failure) = store::open_in_background(
        &config.store,
        config.max_tasks,
        limits.workers,
        metrics.registry(),
        bound.health(),
    );
    let server = build_server(listener, &config, limits, bound.health(), metrics, store)?;
    tracing::info!(
        service = "api-app",
        port = bound.port(),
        admin_port = bound.admin_port(),
        environment = %config.server.app_env,
        api_key_configured = config.api_keys.is_configured(),
        max_tasks = config.max_tasks,
        "listening"
    );
    Ok(Application {
        serving: bound.serving(server, &config.server),
        store_failure,
    })
}

fn build_server(
    listener: std::net::TcpListener,
    config: &Config,
    limits: Limits,
    health: Arc<Health>,
    metrics: HttpMetrics,
    store: Arc<dyn TaskStore>,
) -> Result<Server, StartupError> {
    let throttle = web::Data::new(Throttle::new(&config.throttle));
    let injector = web::Data::new(ErrorInjector::new(config.fault));
    let idempotency = web::Data::new(config.idempotency);
    let guard = ApiKeyGuard::new(config.api_keys.clone(), throttle.clone());
    let doc = routes::openapi(&guard);
    let info = web::Data::new(ServiceInfo {
        build: platform::build_info!(),
        environment: config.server.app_env,
        hostname: config.server.hostname.clone(),
        store: StoreInfo { kind: store.kind() },
        endpoints: docs::endpoints(&doc),
    });
    let known: web::Data<KnownRoutes> = web::Data::new(docs::known_routes(&doc));
    let store: web::Data<dyn TaskStore> = web::Data::from(store);
    let metrics = web::Data::new(metrics);
    let health = web::Data::from(health);
    let doc_json = web::Data::new(OpenApiJson::new(&doc).map_err(std::io::Error::other)?);

    Ok(platform::connection::serve(
        listener,
        &config.server,
        limits,
        move || {
            // Each worker builds its app on its own thread: it takes a pool of connections of its own.
            store::claim_pool();
            let app = App::new()
                .into_utoipa_app()
                .app_data(store.clone())
                .app_data(metrics.clone())
                .app_data(throttle.clone())
                .app_data(injector.clone())
                .app_data(idempotency.clone())
                .app_data(health.clone())
                .app_data(info.clone())
                .app_data(known.clone())
                .app_data(doc_json.clone())
                .configure(|cfg| routes::configure(cfg, &guard));
            platform::wrap_platform_middleware!(app.into_app(), crate::error_codes())
        },
    )?)
}

/// `api-app migrate`: applies the migrations the database lacks, as the owner `DATABASE_URL`
/// names, whichever login `DATABASE_USER_FILE` holds, and returns. Retries while the database is
/// unreachable or another process holds the migration lock (the Job's deadline bounds the wait).
pub async fn migrate(config: &MigrateConfig) -> Result<(), MigrationError> {
    store::settle_schema(&config.database, Migrations::Apply).await
}
