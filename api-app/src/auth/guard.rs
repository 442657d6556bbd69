//! The guard in front of the protected endpoints: only a request with a valid `x-api-key` passes.
//! It fails closed (no key configured: 503, never 200) and throttles failed attempts per client.
//! It holds its keys and limiter itself, so the route table cannot be built without them.

use std::sync::Arc;

use actix_web::ResponseError as _;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use actix_web::middleware::Next;
use actix_web::web;
use platform::error::{ApiError, ErrorCode};
use platform::headers::API_KEY_HEADER;

use super::keys::{ApiKeys, KeyCheck, MAX_KEY_LEN};
use crate::throttle::Throttle;

/// The code of a missing or wrong key.
pub const UNAUTHORIZED: ErrorCode = ErrorCode::new(
    "unauthorized",
    StatusCode::UNAUTHORIZED,
    "Missing or wrong `x-api-key` (a query parameter never counts).",
);
/// The code of a protected endpoint on a server with no key: it is never open.
pub const NOT_CONFIGURED: ErrorCode = ErrorCode::new(
    "not_configured",
    StatusCode::SERVICE_UNAVAILABLE,
    "The stats endpoint when no `API_KEY` is configured (outside prod): it is never open.",
);
/// Every code this room answers with.
pub const ERROR_CODES: &[ErrorCode] = &[UNAUTHORIZED, NOT_CONFIGURED];

/// Why the guard refused a request (a throttled client gets the limiter's 429 instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("a valid {API_KEY_HEADER} header is required")]
    Unauthorized,
    #[error("this endpoint is not configured: the server has no API key")]
    NotConfigured,
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let code = match e {
            AuthError::Unauthorized => UNAUTHORIZED,
            AuthError::NotConfigured => NOT_CONFIGURED,
        };
        ApiError::new(code, e.to_string())
    }
}

/// What the protected scope checks every request against: the keys, and the per-client limiter
/// that counts failed attempts.
#[derive(Debug, Clone)]
pub struct ApiKeyGuard {
    keys: Arc<ApiKeys>,
    throttle: web::Data<Throttle>,
}

impl ApiKeyGuard {
    pub fn new(keys: ApiKeys, throttle: web::Data<Throttle>) -> Self {
        Self {
            keys: Arc::new(keys),
            throttle,
        }
    }

    /// Lets `req` through to `next` only with a valid [`API_KEY_HEADER`]; otherwise answers 401,
    /// 429 (too many failures from this client) or 503 (no key configured).
    pub async fn check(
        self,
        req: ServiceRequest,
        next: Next<impl MessageBody>,
    ) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
        let client = self.throttle.client(req.request());
        // A client over its failed-key budget is refused before its key is looked at, so a right
        // guess cannot show among the refusals.
        if let Err(throttled) = self.throttle.check_auth_allowed(client) {
            return Ok(req
                .into_response(throttled.response("failed key attempts"))
                .map_into_right_body());
        }
        let presented = req
            .headers()
            .get(API_KEY_HEADER)
            .map(HeaderValue::as_bytes)
            .filter(|k| k.len() <= MAX_KEY_LEN);
        let refusal = match self.keys.check(presented) {
            KeyCheck::Accepted => return Ok(next.call(req).await?.map_into_left_body()),
            KeyCheck::Rejected => match self.throttle.record_auth_failure(client) {
                Err(throttled) => throttled.response("failed key attempts"),
                Ok(()) => ApiError::from(AuthError::Unauthorized).error_response(),
            },
            KeyCheck::NotConfigured => ApiError::from(AuthError::NotConfigured).error_response(),
        };
        // A response rather than an `Err`, so the request keeps its route for metrics and logs.
        Ok(req.into_response(refusal).map_into_right_body())
    }
}
