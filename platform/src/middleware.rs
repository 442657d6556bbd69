//! The middleware every request passes through: request id, security headers, panic safety,
//! metrics and one access-log line.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, ResponseError, web};
use futures_util::FutureExt as _;
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

use crate::error::ApiError;
use crate::metrics::{HttpMetrics, UNMATCHED_ROUTE};

/// The request-id header, read from the request when present and always returned.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id that ties a request's logs, its response and any upstream call together.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    /// A caller's id is kept when it is short and printable; anything else is replaced, so a client
    /// cannot inject log lines or huge values.
    fn from_request(req: &ServiceRequest) -> Self {
        req.headers()
            .get(&REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| {
                !v.is_empty()
                    && v.len() <= 128
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
            })
            .map_or_else(
                || Self(uuid::Uuid::now_v7().to_string()),
                |v| Self(v.to_owned()),
            )
    }
}

/// Outermost middleware of both apps. A panicking handler becomes a JSON 500 (the worker survives);
/// every response gets the request id and security headers; every request is counted, timed by
/// route template and logged once.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static, BoxBody>>, Error> {
    let started = Instant::now();
    let request_id = RequestId::from_request(&req);
    req.extensions_mut().insert(request_id.clone());
    let http_req = req.request().clone();
    let metrics = req.app_data::<web::Data<HttpMetrics>>().cloned();

    let outcome = AssertUnwindSafe(next.call(req)).catch_unwind().await;
    let mut res = match outcome {
        Ok(Ok(res)) => res.map_into_left_body(),
        // An error from inner middleware: render it as a response here so it is measured and logged.
        Ok(Err(err)) => {
            let res = err.error_response();
            ServiceResponse::new(http_req, res).map_into_right_body()
        }
        Err(_panic) => {
            tracing::error!(request_id = %request_id.0, "handler panicked; answered 500");
            ServiceResponse::new(http_req, ApiError::internal().error_response())
                .map_into_right_body()
        }
    };

    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id.0) {
        headers.insert(REQUEST_ID_HEADER, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }

    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
    let status = res.status();
    let elapsed = started.elapsed();
    if let Some(metrics) = metrics {
        metrics.observe(
            res.request().method().as_str(),
            &route,
            status,
            elapsed.as_secs_f64(),
        );
    }
    tracing::info!(
        target: "access",
        request_id = %request_id.0,
        method = %res.request().method(),
        route = %route,
        status = status.as_u16(),
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request served"
    );
    Ok(res)
}

/// The tracing span around each request, carrying the same request id as the access log and the
/// response header (tracing-actix-web's default would mint a second id).
#[derive(Debug, Clone, Copy)]
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %request.method(),
            route = %request.match_pattern().unwrap_or_else(|| UNMATCHED_ROUTE.to_owned()),
        )
    }

    fn on_request_end<B: MessageBody>(_span: Span, _outcome: &Result<ServiceResponse<B>, Error>) {}
}

/// tracing-actix-web's logger with [`RequestSpan`].
pub fn request_span() -> tracing_actix_web::TracingLogger<RequestSpan> {
    tracing_actix_web::TracingLogger::<RequestSpan>::new()
}
