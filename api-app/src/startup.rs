//! Building and running the server: state is created once, then every worker gets a handle to it.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, web};
use platform::error::{self, KnownRoutes};
use platform::metrics::HttpMetrics;
use platform::probes::Health;
use platform::server::RunningServer;
use utoipa_actix_web::AppExt as _;

use crate::config::Config;
use crate::openapi::{self, OpenApiJson};
use crate::routes::{self, ServiceInfo, TasksStored};
use crate::store::{InMemoryTaskStore, TaskStore};

/// Starts api-app; OS signals trigger the graceful shutdown.
pub fn build(config: &Config) -> std::io::Result<RunningServer> {
    build_with(config, true)
}

/// As [`build`]; tests that run many servers in one process pass `handle_os_signals = false` and
/// drive shutdown through [`RunningServer::shutdown_signal`].
pub fn build_with(config: &Config, handle_os_signals: bool) -> std::io::Result<RunningServer> {
    tracing::info!(
        api_key_configured = config.api_keys.is_configured(),
        max_tasks = config.max_tasks,
        "starting api-app"
    );
    RunningServer::start(&config.server, handle_os_signals, |listener, health| {
        run(listener, config, health)
    })
}

fn run(listener: TcpListener, config: &Config, health: Arc<Health>) -> std::io::Result<Server> {
    let doc = openapi::openapi();
    let info = web::Data::new(ServiceInfo {
        build: platform::build_info!(),
        environment: config.server.app_env,
        hostname: config.server.hostname.clone(),
        endpoints: openapi::endpoints(&doc),
    });
    let known: web::Data<KnownRoutes> = web::Data::new(openapi::known_routes(&doc));
    let store: web::Data<dyn TaskStore> =
        web::Data::from(Arc::new(InMemoryTaskStore::new(config.max_tasks)) as Arc<dyn TaskStore>);
    let metrics = HttpMetrics::new().map_err(std::io::Error::other)?;
    let stored =
        web::Data::new(TasksStored::register(metrics.registry()).map_err(std::io::Error::other)?);
    let metrics = web::Data::new(metrics);
    let keys = web::Data::new(config.api_keys.clone());
    let health = web::Data::from(health);

    let doc_json = web::Data::new(OpenApiJson::new(&doc).map_err(std::io::Error::other)?);

    platform::connection::serve(listener, &config.server, move || {
        let app = App::new()
            .into_utoipa_app()
            .app_data(store.clone())
            .app_data(metrics.clone())
            .app_data(stored.clone())
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
    })
}
