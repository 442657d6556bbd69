//! Building the server: [`build`] opens the store, binds the listener and creates the state once
//! (every worker gets a handle to it); the [`Application`] it returns serves until told to stop.

use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, web};
use platform::metrics::HttpMetrics;
use platform::probes::Health;
use platform::server::Serving;
use platform::unmatched::KnownRoutes;
use utoipa_actix_web::AppExt as _;

use crate::auth::ApiKeyGuard;
use crate::config::Config;
use crate::docs::{self, OpenApiJson};
use crate::info::{ServiceInfo, StoreInfo};
use crate::routes;
use crate::tasks::store::{self, OpenError, TaskStore};
use crate::throttle::Throttle;

/// Why api-app could not start. `main` prints it on one line and exits 2.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Server(#[from] platform::server::StartupError),
    /// The task store could not be opened (a failed migration, say): never serve without it.
    #[error("the task store could not be opened: {0}")]
    Store(#[from] OpenError),
}

/// api-app, bound to its port and ready to serve: `port()`, then `run_until(shutdown)`, which
/// serves until the shutdown future resolves and then drains.
pub type Application = Serving;

/// Opens the task store, then binds the listener `config` asks for and builds the server on it.
/// With PostgreSQL, opening waits (with backoff) for the database and migrates it under a lock; the
/// listener is bound only after, so a replica is never ready on a schema it cannot serve. Nothing
/// is served until [`Serving::run_until`]; `main` passes [`platform::server::shutdown_signal`],
/// tests their own trigger.
pub async fn build(config: Config) -> Result<Application, StartupError> {
    let metrics = HttpMetrics::new().map_err(platform::server::StartupError::from)?;
    let store = store::open(&config.store, config.max_tasks, metrics.registry()).await?;
    let (listener, bound) = platform::server::bind(&config.server)?;
    let server = build_server(listener, &config, bound.health(), metrics, store)?;
    tracing::info!(
        service = "api-app",
        port = bound.port(),
        environment = %config.server.app_env,
        api_key_configured = config.api_keys.is_configured(),
        max_tasks = config.max_tasks,
        "listening"
    );
    Ok(bound.serving(server, config.server.drain_delay))
}

fn build_server(
    listener: std::net::TcpListener,
    config: &Config,
    health: Arc<Health>,
    metrics: HttpMetrics,
    store: Arc<dyn TaskStore>,
) -> Result<Server, platform::server::StartupError> {
    let throttle = web::Data::new(Throttle::new(&config.throttle));
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
        move || {
            let app = App::new()
                .into_utoipa_app()
                .app_data(store.clone())
                .app_data(metrics.clone())
                .app_data(throttle.clone())
                .app_data(health.clone())
                .app_data(info.clone())
                .app_data(known.clone())
                .app_data(doc_json.clone())
                .configure(|cfg| routes::configure(cfg, &guard));
            platform::wrap_platform_middleware!(app.into_app(), crate::error_codes())
        },
    )?)
}
