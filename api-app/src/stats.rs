//! `GET /api/protected/stats`, behind the API-key guard in [`crate::auth`].

use actix_web::{HttpResponse, get, web};
use platform::error::{ApiError, ErrorBody};
use platform::metrics::HttpMetrics;
use platform::probes::Health;
use serde::Serialize;
use utoipa::ToSchema;

use crate::info::ServiceInfo;
use crate::tasks::store::TaskStore;

/// Task totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskTotals {
    pub total: usize,
    pub completed: usize,
}

/// Operational statistics.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    pub tasks: TaskTotals,
    /// Requests served since start, across every endpoint.
    pub requests_served: u64,
    pub uptime_seconds: u64,
    pub version: &'static str,
}

/// Task totals, requests served, uptime and version. Requires `x-api-key`.
#[utoipa::path(
    tag = "protected",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Statistics", body = Stats),
        (status = 401, description = "Missing or wrong x-api-key", body = ErrorBody),
        (status = 429, description = "Too many failed x-api-key attempts from this client (RATE_LIMITS)", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds until a key is checked again"))),
        (status = 503, description = "No API key is configured on the server (`not_configured`), or the task store is opening (`unavailable`) or unavailable (`store_unavailable`); retry after Retry-After seconds", body = ErrorBody,
            headers(("retry-after" = u32, description = "Seconds to wait before retrying, when the store is unavailable")))
    )
)]
#[get("/stats")]
pub async fn stats(
    store: web::Data<dyn TaskStore>,
    metrics: web::Data<HttpMetrics>,
    health: web::Data<Health>,
    info: web::Data<ServiceInfo>,
) -> Result<HttpResponse, ApiError> {
    let counts = store.counts().await?;
    Ok(HttpResponse::Ok().json(Stats {
        tasks: TaskTotals {
            total: counts.total,
            completed: counts.completed,
        },
        requests_served: metrics.requests_served(),
        uptime_seconds: health.uptime().as_secs(),
        version: info.build.version,
    }))
}
