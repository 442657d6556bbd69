//! Building and running the server: `Application::build` binds the listener and creates the state
//! once (every worker gets a handle to it); `run_until` serves until the shutdown future fires.

use std::future::Future;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use platform::error::KnownRoutes;
use platform::metrics::HttpMetrics;
use platform::probes::Health;
use platform::server::Serving;
use utoipa_actix_web::AppExt as _;

use crate::config::Config;
use crate::openapi::{self, OpenApiJson};
use crate::routes::{self, ServiceInfo, TasksStored};
use crate::store::{InMemoryTaskStore, TaskStore};

/// Why api-app could not start. `main` prints it on one line and exits 2. Opening a database
/// store adds its own variant here.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Server(#[from] platform::server::StartupError),
}

/// api-app, bound to its port and ready to serve.
#[derive(Debug)]
pub struct Application(Serving);

impl Application {
    /// Binds the listener `config` asks for and builds the server on it. Nothing is served until
    /// [`Application::run_until`].
    #[allow(
        clippy::unused_async,
        reason = "connecting to the database store will await here"
    )]
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let listener = platform::server::bind(&config.server)?;
        let health = Arc::new(Health::new());
        let server = build_server(listener.listener, &config, Arc::clone(&health))?;
        tracing::info!(
            service = "api-app",
            port = listener.port,
            environment = %config.server.app_env,
            api_key_configured = config.api_keys.is_configured(),
            max_tasks = config.max_tasks,
            "listening"
        );
        let serving = Serving::new(listener.port, server, health, config.server.drain_delay);
        Ok(Self(serving))
    }

    /// The port actually bound (the OS picks one when `PORT` is 0).
    pub fn port(&self) -> u16 {
        self.0.port()
    }

    /// Serves until `shutdown` resolves, then drains. `main` passes
    /// [`platform::server::shutdown_signal`]; tests pass their own trigger.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        self.0.run_until(shutdown).await
    }
}

fn build_server(
    listener: std::net::TcpListener,
    config: &Config,
    health: Arc<Health>,
) -> Result<Server, platform::server::StartupError> {
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
    let metrics = HttpMetrics::new()?;
    let stored = web::Data::new(TasksStored::register(metrics.registry())?);
    let metrics = web::Data::new(metrics);
    let keys = web::Data::new(config.api_keys.clone());
    let health = web::Data::from(health);
    let doc_json = web::Data::new(OpenApiJson::new(&doc).map_err(std::io::Error::other)?);

    let server = HttpServer::new(move || {
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
            .configure(routes::configure);
        platform::wrap_platform_middleware!(app.into_app())
    });
    Ok(platform::configure_server!(server, &config.server)
        .listen(listener)?
        .run())
}
