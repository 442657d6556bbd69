//! `GET /api/health`: a human-facing health summary; 503 while shutting down.

use actix_web::{HttpResponse, get, web};
use platform::probes::Health;
use serde::Serialize;
use utoipa::ToSchema;

use super::ServiceInfo;

/// The API's health.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthReport {
    /// `ok`, or `shutting_down` while the process drains.
    #[schema(example = "ok")]
    pub status: &'static str,
    #[schema(example = "0.1.0")]
    pub version: &'static str,
    /// Seconds since the process started.
    pub uptime_seconds: u64,
}

/// Status, version and uptime.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Healthy", body = HealthReport),
        (status = 503, description = "Shutting down", body = HealthReport)
    )
)]
#[get("/health")]
pub async fn health(health: web::Data<Health>, info: web::Data<ServiceInfo>) -> HttpResponse {
    let shutting_down = health.is_shutting_down();
    let report = HealthReport {
        status: if shutting_down { "shutting_down" } else { "ok" },
        version: info.build.version,
        uptime_seconds: health.uptime().as_secs(),
    };
    if shutting_down {
        HttpResponse::ServiceUnavailable().json(report)
    } else {
        HttpResponse::Ok().json(report)
    }
}
