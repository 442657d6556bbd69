//! Building and running the server: state is created once, then every worker gets a handle to it.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use platform::error::{self, KnownRoutes};
use platform::metrics::HttpMetrics;
use platform::probes::Health;
use platform::server::RunningServer;
use utoipa_actix_web::AppExt as _;

use crate::config::Config;
use crate::openapi::{self, OpenApiJson};
use crate::routes::{self, ServiceInfo, StoreInfo};
use crate::store::{self, TaskStore};

/// Starts api-app; OS signals trigger the graceful shutdown.
pub async fn build(config: &Config) -> std::io::Result<RunningServer> {
    build_with(config, true).await
}

/// As [`build`]; tests that run many servers in one process pass `handle_os_signals = false` and
/// drive shutdown through [`RunningServer::shutdown_signal`]. The store is opened first: with
/// PostgreSQL that waits for the database and migrates it, and the listener is bound only after,
/// so a replica is never ready on a schema it cannot serve.
pub async fn build_with(config: &Config, handle_os_signals: bool) -> std::io::Result<RunningServer> {
    tracing::info!(
        api_key_configured = config.api_keys.is_configured(),
        max_tasks = config.max_tasks,
        "starting api-app"
    );
    let metrics = HttpMetrics::new().map_err(std::io::Error::other)?;
    let store = store::open(&config.store, config.max_tasks, metrics.registry())
        .await
        .map_err(std::io::Error::other)?;
    RunningServer::start(&config.server, handle_os_signals, |listener, health| {
        run(listener, config, health, metrics, store)
    })
}

fn run(
    listener: TcpListener,
    config: &Config,
    health: Arc<Health>,
    metrics: HttpMetrics,
    store: Arc<dyn TaskStore>,
) -> std::io::Result<Server> {
    let doc = openapi::openapi();
    let info = web::Data::new(ServiceInfo {
        build: platform::build_info!(),
        environment: config.server.app_env,
        hostname: config.server.hostname.clone(),
        store: StoreInfo { kind: store.kind() },
        endpoints: openapi::endpoints(&doc),
    });
    let known: web::Data<KnownRoutes> = web::Data::new(openapi::known_routes(&doc));
    let store: web::Data<dyn TaskStore> = web::Data::from(store);
    let metrics = web::Data::new(metrics);
    let keys = web::Data::new(config.api_keys.clone());
    let health = web::Data::from(health);

    let doc_json = web::Data::new(OpenApiJson::new(&doc).map_err(std::io::Error::other)?);

    let server = HttpServer::new(move || {
        let app = App::new()
            .into_utoipa_app()
            .app_data(store.clone())
            .app_data(metrics.clone())
            .app_data(keys.clone())
            .app_data(health.clone())
            .app_data(info.clone())
            .app_data(known.clone())
            .app_data(doc_json.clone())
            .map(|app| {
                app.configure(error::extractors)
                    .configure(openapi::configure_docs)
            })
            .configure(routes::configure)
            .default_service(error::default_service());
        platform::wrap_platform_middleware!(app.into_app())
    });
    Ok(platform::configure_server!(server, &config.server)
        .listen(listener)?
        .run())
}
