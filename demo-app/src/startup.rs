//! Building and running the server: state is created once, then every worker gets a handle to it.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::http::Method;
use actix_web::middleware::DefaultHeaders;
use actix_web::{App, web};
use platform::error::{self, KnownRoutes};
use platform::metrics::HttpMetrics;
use platform::probes::Health;
use platform::server::RunningServer;

use crate::config::Config;
use crate::page::{self, UiInfo};
use crate::proxy::{self, Upstream};

/// The page loads only its own HTML, CSS, JS and icon, and talks only to its own origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";

/// The `/api` routes: proxied to `API_URL` when it is set.
const API_ROUTES: [&str; 2] = ["/api", "/api/{tail:.*}"];

/// Starts demo-app; OS signals trigger the graceful shutdown.
pub fn build(config: &Config) -> std::io::Result<RunningServer> {
    build_with(config, true)
}

/// As [`build`]; tests that run many servers in one process pass `handle_os_signals = false` and
/// drive shutdown through [`RunningServer::shutdown_signal`].
pub fn build_with(config: &Config, handle_os_signals: bool) -> std::io::Result<RunningServer> {
    tracing::info!(
        api_proxy = config.api_url.as_deref().unwrap_or("off"),
        "starting demo-app"
    );
    RunningServer::start(&config.server, handle_os_signals, |listener, health| {
        run(listener, config, health)
    })
}

fn run(listener: TcpListener, config: &Config, health: Arc<Health>) -> std::io::Result<Server> {
    let info = web::Data::new(UiInfo::new(config, platform::build_info!()));
    let metrics = web::Data::new(HttpMetrics::new().map_err(std::io::Error::other)?);
    let known = web::Data::new(known_routes());
    let health = web::Data::from(health);
    let api_url = config.api_url.clone();
    let (connect_timeout, timeout) = (config.upstream_connect_timeout, config.upstream_timeout);

    platform::connection::serve(listener, &config.server, move || {
        let app = App::new()
            .app_data(health.clone())
            .app_data(metrics.clone())
            .app_data(known.clone())
            .app_data(info.clone())
            .configure(error::extractors)
            .service(platform::probes::healthz)
            .service(platform::probes::readyz)
            .service(platform::metrics::metrics)
            .service(page::index)
            .service(page::asset)
            .service(page::info);
        let app = match &api_url {
            // awc's client is per worker (not `Send`), so each worker builds its own.
            Some(base) => API_ROUTES.iter().fold(
                app.app_data(web::Data::new(Upstream::new(
                    base.clone(),
                    connect_timeout,
                    timeout,
                ))),
                |app, pattern| app.service(web::resource(*pattern).to(proxy::forward)),
            ),
            None => API_ROUTES.iter().fold(app, |app, pattern| {
                app.service(web::resource(*pattern).to(page::api_not_proxied))
            }),
        };
        let app = app
            .default_service(error::default_service())
            .wrap(DefaultHeaders::new().add(("content-security-policy", CONTENT_SECURITY_POLICY)));
        platform::wrap_platform_middleware!(app)
    })
}

/// Every route demo-app serves itself, so a wrong method is a 405 rather than a 404.
fn known_routes() -> KnownRoutes {
    KnownRoutes::new()
        .with("/", Method::GET)
        .with("/static/{file}", Method::GET)
        .with("/ui/info", Method::GET)
        .with(platform::probes::LIVENESS_PATH, Method::GET)
        .with(platform::probes::READINESS_PATH, Method::GET)
        .with("/metrics", Method::GET)
}
