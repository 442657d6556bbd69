//! The one JSON error shape both apps answer with, for every 4xx and 5xx:
//! `{"error": {"code": "validation_failed", "message": "title must be 1-200 characters"}}`.
//!
//! Handlers return [`ApiError`], built from an [`ErrorCode`]: the protocol-level codes every HTTP
//! service needs are defined here; each app's rooms define their own codes next to the errors
//! that use them. Any bodiless error response from actix itself is turned into the same shape
//! ([`json_error_bodies`]), so no client ever sees a plain-text error.

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// The error envelope.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, for machines (`code`) and for people (`message`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code such as `validation_failed` or `not_found`.
    #[schema(example = "validation_failed")]
    pub code: &'static str,
    /// A readable sentence naming the problem. It never contains a secret.
    #[schema(example = "title must be 1-200 characters")]
    pub message: String,
}

/// A code of the envelope with its status, stated once: the wire code, the status every response
/// with it carries, and when a client gets it (the README's "When" column, which a test checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode {
    code: &'static str,
    status: StatusCode,
    when: &'static str,
}

impl ErrorCode {
    /// A code an app's room defines for its own errors.
    pub const fn new(code: &'static str, status: StatusCode, when: &'static str) -> Self {
        Self { code, status, when }
    }

    pub const BAD_REQUEST: Self = Self::new(
        "bad_request",
        StatusCode::BAD_REQUEST,
        "A request that could not be read at all, such as a body cut short.",
    );
    pub const MALFORMED_JSON: Self = Self::new(
        "malformed_json",
        StatusCode::BAD_REQUEST,
        "The body is not JSON.",
    );
    pub const INVALID_QUERY: Self = Self::new(
        "invalid_query",
        StatusCode::BAD_REQUEST,
        "A bad, missing or unknown query parameter, such as `limit`/`offset` out of range, a `cursor` that is not well-formed, `cursor` with `offset`, or percent-escapes that are not UTF-8.",
    );
    pub const INVALID_PATH: Self = Self::new(
        "invalid_path",
        StatusCode::BAD_REQUEST,
        "A path segment that does not parse, a percent-encoded letter, digit or `-._~!$&'()*,;=:@` (`/%61pi` is not `/api`), or (demo-app's proxy) a `.` or `..` segment.",
    );
    pub const UPGRADE_NOT_SUPPORTED: Self = Self::new(
        "upgrade_not_supported",
        StatusCode::BAD_REQUEST,
        "An `Upgrade` header or `CONNECT`: neither app speaks WebSocket, h2c or tunnels; the connection closes.",
    );
    pub const NOT_FOUND: Self = Self::new(
        "not_found",
        StatusCode::NOT_FOUND,
        "No such route, or no task with that id.",
    );
    pub const METHOD_NOT_ALLOWED: Self = Self::new(
        "method_not_allowed",
        StatusCode::METHOD_NOT_ALLOWED,
        "A known path with another method; `Allow` lists the right ones.",
    );
    pub const REQUEST_TIMEOUT: Self = Self::new(
        "request_timeout",
        StatusCode::REQUEST_TIMEOUT,
        "The request (its body and its handling) took longer than `REQUEST_DEADLINE_SECS`; the connection closes. Never for a create, update or delete the store has begun: that one is answered by the store, within its own timeouts, so a 408 means nothing was written.",
    );
    pub const PAYLOAD_TOO_LARGE: Self = Self::new(
        "payload_too_large",
        StatusCode::PAYLOAD_TOO_LARGE,
        "A JSON body over 16 KiB (64 KiB through demo-app's proxy); a client that asks first (`Expect: 100-continue`) gets it instead of the `100 Continue`, and sends nothing.",
    );
    pub const UNSUPPORTED_MEDIA_TYPE: Self = Self::new(
        "unsupported_media_type",
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "A body that is not `application/json` (or an `application/…+json` type, such as a merge patch), names its type twice, names a charset other than UTF-8, is a JSON Patch (`application/json-patch+json`), or is compressed (`Content-Encoding`).",
    );
    pub const VALIDATION_FAILED: Self = Self::new(
        "validation_failed",
        StatusCode::UNPROCESSABLE_ENTITY,
        "Well-formed JSON that breaks a rule: title length, an unknown field, a wrong type, an empty patch.",
    );
    pub const HEADERS_TOO_LARGE: Self = Self::new(
        "headers_too_large",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "A request head (request line and headers) over 16 KiB, or with more than 96 header fields; the answers before it on the connection are sent, then this one, and the connection closes.",
    );
    pub const INTERNAL: Self = Self::new(
        "internal_error",
        StatusCode::INTERNAL_SERVER_ERROR,
        "A bug; the cause goes to the log, the worker survives.",
    );
    pub const UNAVAILABLE: Self = Self::new(
        "unavailable",
        StatusCode::SERVICE_UNAVAILABLE,
        "The server cannot take the request now.",
    );

    /// The protocol-level codes, which any HTTP service of the platform may answer with: malformed
    /// input, routing, limits and failures. The generic code of a status comes before the specific
    /// ones, so [`ErrorCode::for_status`] picks it.
    pub const PROTOCOL: &[Self] = &[
        Self::BAD_REQUEST,
        Self::MALFORMED_JSON,
        Self::INVALID_QUERY,
        Self::INVALID_PATH,
        Self::UPGRADE_NOT_SUPPORTED,
        Self::NOT_FOUND,
        Self::METHOD_NOT_ALLOWED,
        Self::REQUEST_TIMEOUT,
        Self::PAYLOAD_TOO_LARGE,
        Self::UNSUPPORTED_MEDIA_TYPE,
        Self::VALIDATION_FAILED,
        Self::HEADERS_TOO_LARGE,
        Self::INTERNAL,
        Self::UNAVAILABLE,
    ];

    /// The code as it appears in the JSON envelope.
    pub fn as_str(self) -> &'static str {
        self.code
    }

    /// The status a response with this code carries.
    pub fn status(self) -> StatusCode {
        self.status
    }

    /// When a client gets this code, in one sentence (the README's "When" column).
    pub fn when(self) -> &'static str {
        self.when
    }

    /// The code for a bare status (from actix itself, or relayed by a proxy): the first protocol
    /// code with that status, else the first of the app's own `codes`, else
    /// `internal_error`/`bad_request` carrying that status.
    pub fn for_status(status: StatusCode, codes: &[Self]) -> Self {
        Self::PROTOCOL
            .iter()
            .chain(codes)
            .copied()
            .find(|code| code.status == status)
            .unwrap_or_else(|| {
                let generic = if status.is_server_error() {
                    Self::INTERNAL
                } else {
                    Self::BAD_REQUEST
                };
                Self { status, ..generic }
            })
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error a handler returns; it renders as the JSON envelope with its code's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    /// Seconds for a `Retry-After` header, for errors a client should retry.
    retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds `Retry-After: secs` to the response: the failure is transient.
    #[must_use]
    pub fn with_retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NOT_FOUND, message)
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::VALIDATION_FAILED, message)
    }

    /// An unexpected failure: the client learns nothing of the cause, which goes to the log.
    pub fn internal() -> Self {
        Self::new(
            ErrorCode::INTERNAL,
            "the server failed to handle this request",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code,
            self.code.status().as_u16(),
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs));
        }
        res.json(ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str(),
                message: self.message.clone(),
            },
        })
    }
}

/// Turns any error response that is not already JSON (actix's own 400, 405, 413, 431, 500…) into the
/// envelope, so the error shape has no exceptions. `codes` are the app's own, for statuses no
/// protocol code names (see [`ErrorCode::for_status`]).
pub fn json_error_bodies<B: MessageBody + 'static>(codes: Vec<ErrorCode>) -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(move |res| ensure_json_body(res, &codes))
}

#[allow(
    clippy::unnecessary_wraps,
    reason = "ErrorHandlers requires a Result-returning handler"
)]
fn ensure_json_body<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
    codes: &[ErrorCode],
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (req, old) = res.into_parts();
    let mut new = status_error(status, codes).error_response();
    // Keep headers such as `Allow` from the original response.
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, new).map_into_right_body(),
    ))
}

/// The envelope for a bare status: the status as actix chose it, and the code for that status.
fn status_error(status: StatusCode, codes: &[ErrorCode]) -> ApiError {
    let message = status.canonical_reason().unwrap_or("error").to_lowercase();
    ApiError::new(ErrorCode::for_status(status, codes), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_status_gets_a_protocol_code_then_an_apps_then_the_generic_one_of_its_class() {
        const OWN_404: ErrorCode = ErrorCode::new("own_404", StatusCode::NOT_FOUND, "never first");
        const OWN_409: ErrorCode = ErrorCode::new("own_409", StatusCode::CONFLICT, "an app's");
        let own = [OWN_404, OWN_409];
        assert_eq!(
            ErrorCode::for_status(StatusCode::NOT_FOUND, &own),
            ErrorCode::NOT_FOUND
        );
        assert_eq!(ErrorCode::for_status(StatusCode::CONFLICT, &own), OWN_409);
        assert_eq!(
            ErrorCode::for_status(StatusCode::BAD_REQUEST, &[]),
            ErrorCode::BAD_REQUEST
        );
        let teapot = ErrorCode::for_status(StatusCode::IM_A_TEAPOT, &own);
        assert_eq!(
            (teapot.as_str(), teapot.status()),
            ("bad_request", StatusCode::IM_A_TEAPOT)
        );
        let bad_gateway = ErrorCode::for_status(StatusCode::BAD_GATEWAY, &own);
        assert_eq!(
            (bad_gateway.as_str(), bad_gateway.status()),
            ("internal_error", StatusCode::BAD_GATEWAY)
        );
    }

    #[test]
    fn an_errors_status_is_its_codes() {
        let err = ApiError::new(ErrorCode::METHOD_NOT_ALLOWED, "no");
        assert_eq!(err.status_code(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            err.error_response().status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
