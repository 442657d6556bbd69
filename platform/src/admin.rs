//! The admin port: `/healthz`, `/readyz` and `/metrics`, served apart from the public port, on a
//! worker and a connection cap of their own. The public Service and Ingress never route it, so no
//! client can read the metrics or starve the probes, however many connections it holds (podinfo's
//! separate metrics port is the model).

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::http::Method;
use actix_web::{App, web};

use crate::config::ServerSettings;
use crate::connection::{self, Limits};
use crate::error::ErrorCode;
use crate::metrics::{HttpMetrics, METRICS_PATH, MetricsPage};
use crate::probes::{Health, LIVENESS_PATH, READINESS_PATH};
use crate::unmatched::KnownRoutes;

/// Every path the admin port answers, each with GET (and HEAD); anything else is a JSON 404 or 405.
pub const ADMIN_PATHS: [&str; 3] = [LIVENESS_PATH, READINESS_PATH, METRICS_PATH];

/// The admin server on `listener`: the probes read `health`, `/metrics` renders `metrics` (the
/// app's registry, which the public port's requests update; the admin port's own are not counted).
/// It goes through the same platform middleware as the public port, so its answers and errors have
/// the same shape and its requests the same access-log line.
pub fn serve(
    listener: TcpListener,
    settings: &ServerSettings,
    health: Arc<Health>,
    metrics: HttpMetrics,
) -> std::io::Result<Server> {
    let health = web::Data::from(health);
    let page = web::Data::new(MetricsPage::new(metrics));
    let known = web::Data::new(ADMIN_PATHS.iter().fold(KnownRoutes::new(), |known, path| {
        known.with(path, Method::GET)
    }));
    connection::serve(listener, settings, Limits::admin(), move || {
        let app = App::new()
            .app_data(health.clone())
            .app_data(page.clone())
            .app_data(known.clone())
            .service(crate::probes::healthz)
            .service(crate::probes::readyz)
            .service(crate::metrics::metrics)
            .default_service(crate::unmatched::default_service());
        // Only the protocol-level codes, which every app has.
        crate::wrap_platform_middleware!(app, Vec::<ErrorCode>::new())
    })
}
