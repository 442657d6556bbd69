//! Building the server: [`build`] binds the listener and creates the state once (every worker gets a
//! handle to it); the [`Application`] it returns serves until told to stop.

use actix_web::dev::Server;
use actix_web::middleware::DefaultHeaders;
use actix_web::{App, web};
use platform::connection::Limits;
use platform::metrics::HttpMetrics;
use platform::server::{Serving, StartupError};
use utoipa_actix_web::AppExt as _;

use crate::config::Config;
use crate::page::UiInfo;
use crate::proxy::Upstream;
use crate::routes;

/// The page loads only its own HTML, CSS, JS and icon, and talks only to its own origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";

/// demo-app, bound to its port and ready to serve: `port()`, then `run_until(shutdown)`, which
/// serves until the shutdown future resolves and then drains.
pub type Application = Serving;

/// Binds the public and admin listeners `config` asks for and builds the servers on them. Nothing
/// is served until [`Serving::run_until`]. `main` prints an error on one line and exits 2.
#[allow(
    clippy::unused_async,
    reason = "the same shape as api-app's build, which awaits its store"
)]
pub async fn build(config: Config) -> Result<Application, StartupError> {
    let metrics = HttpMetrics::new()?;
    let (listener, bound) = platform::server::bind(&config.server, &metrics)?;
    let server = build_server(listener, &config, metrics)?;
    tracing::info!(
        service = "demo-app",
        port = bound.port(),
        admin_port = bound.admin_port(),
        environment = %config.server.app_env,
        api_proxy = config.api_url.as_deref().unwrap_or("off"),
        "listening"
    );
    Ok(bound.serving(server, &config.server))
}

fn build_server(
    listener: std::net::TcpListener,
    config: &Config,
    metrics: HttpMetrics,
) -> Result<Server, StartupError> {
    let info = web::Data::new(UiInfo::new(config, platform::build_info!()));
    let metrics = web::Data::new(metrics);
    let known = web::Data::new(routes::known_routes());
    let api_url = config.api_url.clone();
    let (connect_timeout, timeout) = (config.upstream_connect_timeout, config.upstream_timeout);

    Ok(platform::connection::serve(
        listener,
        &config.server,
        // The proxy forwards bodies up to its own limit, larger than api-app's.
        Limits {
            max_body_bytes: crate::proxy::MAX_REQUEST_BODY_BYTES,
            ..Limits::public(&config.server)
        },
        move || {
            let upstream = api_url
                .clone()
                .map(|base| Upstream::new(base, connect_timeout, timeout));
            let app = App::new()
                .into_utoipa_app()
                .app_data(metrics.clone())
                .app_data(known.clone())
                .app_data(info.clone())
                .configure(|cfg| routes::configure(cfg, upstream))
                .into_app()
                .wrap(
                    DefaultHeaders::new().add(("content-security-policy", CONTENT_SECURITY_POLICY)),
                );
            platform::wrap_platform_middleware!(app, crate::ERROR_CODES.to_vec())
        },
    )?)
}
