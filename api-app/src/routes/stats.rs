//! `GET /api/protected/stats` and the `x-api-key` guard in front of it.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError as _, get, web};
use platform::error::{ApiError, ErrorBody};
use platform::metrics::HttpMetrics;
use platform::probes::Health;
use serde::Serialize;
use utoipa::ToSchema;

use super::ServiceInfo;
use crate::config::{ApiKeys, KeyCheck, MAX_KEY_LEN};
use crate::store::TaskStore;

/// The header that carries the API key. Only this header counts; a query parameter never does.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Lets a request through only with a valid `x-api-key`. Fails closed: with no key configured the
/// endpoint answers 503, never 200.
pub async fn require_api_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let verdict = match req.app_data::<web::Data<ApiKeys>>() {
        None => KeyCheck::NotConfigured,
        Some(keys) => {
            let presented = req
                .headers()
                .get(API_KEY_HEADER)
                .map(actix_web::http::header::HeaderValue::as_bytes)
                .filter(|k| k.len() <= MAX_KEY_LEN);
            keys.check(presented)
        }
    };
    let refusal = match verdict {
        KeyCheck::Accepted => return Ok(next.call(req).await?.map_into_left_body()),
        KeyCheck::Rejected => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid x-api-key header is required",
        ),
        KeyCheck::NotConfigured => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_configured",
            "this endpoint is not configured: the server has no API key",
        ),
    };
    // A response rather than an `Err`, so the request keeps its route for metrics and logs.
    Ok(req
        .into_response(refusal.error_response())
        .map_into_right_body())
}

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
        (status = 503, description = "No API key is configured on the server", body = ErrorBody)
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
