//! The one JSON error shape both apps answer with, for every 4xx and 5xx:
//! `{"error": {"code": "validation_failed", "message": "title must be 1-200 characters"}}`.
//!
//! Handlers return [`ApiError`]. Extractor failures (bad JSON, wrong content type, a bad query or
//! path), unknown routes, wrong methods and any bodiless error response from actix itself are
//! mapped to the same shape here, so no client ever sees a plain-text error.

use std::borrow::Cow;

use actix_web::body::MessageBody;
use actix_web::dev::{ResourceDef, ServiceResponse};
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
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
    pub code: Cow<'static, str>,
    /// A readable sentence naming the problem. It never contains a secret.
    #[schema(example = "title must be 1-200 characters")]
    pub message: String,
}

/// An error a handler returns; it renders as the JSON envelope with its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub message: String,
    /// Seconds for a `Retry-After` header, for errors a client should retry.
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: Cow::Borrowed(code),
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

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            message,
        )
    }

    /// An unexpected failure: the client learns nothing of the cause, which goes to the log.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
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
            self.status.as_u16(),
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs));
        }
        res.json(ErrorBody {
            error: ErrorDetail {
                code: self.code.clone(),
                message: self.message.clone(),
            },
        })
    }
}

/// Largest JSON body either app accepts, in bytes.
pub const JSON_LIMIT_BYTES: usize = 16 * 1024;

/// Registers the extractor configurations that answer bad input with the envelope: JSON bodies of
/// at most [`JSON_LIMIT_BYTES`], query strings and path segments. `App::configure(error::extractors)`.
pub fn extractors(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config(JSON_LIMIT_BYTES))
        .app_data(query_config())
        .app_data(path_config());
}

/// JSON bodies: at most `limit` bytes, `application/json` only, errors in the envelope.
fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .content_type_required(true)
        .content_type(|mime| mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
        .error_handler(|err, _req| json_payload_error(&err).into())
}

fn json_payload_error(err: &JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body must be at most {limit} bytes"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request body must be JSON with content-type: application/json",
        ),
        // Well-formed JSON of the wrong shape, or a value our domain types reject.
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            // serde_json appends " at line 1 column 12"; the sentence reads better without it.
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or_default();
            ApiError::validation(message)
        }
        JsonPayloadError::Deserialize(e) => ApiError::bad_request(
            "malformed_json",
            format!("the request body is not valid JSON: {e}"),
        ),
        _ => ApiError::bad_request("bad_request", "the request body could not be read"),
    }
}

/// Query strings: a bad or missing parameter is a JSON 400.
fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let message = match &err {
            QueryPayloadError::Deserialize(e) => format!("invalid query string: {e}"),
            _ => "invalid query string".to_owned(),
        };
        ApiError::bad_request("invalid_query", message).into()
    })
}

/// Path segments: a malformed id is a JSON 400.
fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| {
        let message = match &err {
            PathError::Deserialize(e) => format!("invalid path parameter: {e}"),
            _ => "invalid path parameter".to_owned(),
        };
        ApiError::bad_request("invalid_path", message).into()
    })
}

/// Every route an app serves, with its methods, so an unmatched request can be told apart:
/// a known path with another method is 405 (with `Allow`), anything else is 404.
#[derive(Debug, Default, Clone)]
pub struct KnownRoutes {
    routes: Vec<(ResourceDef, Vec<Method>)>,
}

impl KnownRoutes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `method` for `pattern` (an actix pattern such as `/api/tasks/{id}`).
    #[must_use]
    pub fn with(mut self, pattern: &str, method: Method) -> Self {
        if let Some((_, methods)) = self
            .routes
            .iter_mut()
            .find(|(def, _)| def.pattern() == Some(pattern))
        {
            if !methods.contains(&method) {
                methods.push(method);
            }
        } else {
            self.routes.push((ResourceDef::new(pattern), vec![method]));
        }
        self
    }

    /// The methods allowed on `path`, if any route matches it.
    pub fn allowed(&self, path: &str) -> Option<&[Method]> {
        self.routes
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, methods)| methods.as_slice())
    }
}

/// The app's default service: 405 for a known path with the wrong method, else 404.
pub async fn unmatched(req: HttpRequest, known: web::Data<KnownRoutes>) -> HttpResponse {
    match known.allowed(req.path()) {
        Some(methods) => {
            let allow = methods
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let mut res = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{} is not allowed here; use {allow}", req.method()),
            )
            .error_response();
            if let Ok(value) = HeaderValue::from_str(&allow) {
                res.headers_mut().insert(header::ALLOW, value);
            }
            res
        }
        None => ApiError::not_found("no route matches this path").error_response(),
    }
}

/// Turns any error response that is not already JSON (actix's own 400, 405, 413, 431, 500…) into the
/// envelope, so the error shape has no exceptions.
pub fn json_error_bodies<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(ensure_json_body)
}

#[allow(
    clippy::unnecessary_wraps,
    reason = "ErrorHandlers requires a Result-returning handler"
)]
fn ensure_json_body<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
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
    let mut new = status_error(status).error_response();
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

/// The envelope for a bare status, using a stable code derived from it.
fn status_error(status: StatusCode) -> ApiError {
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal_error",
        _ => "error",
    };
    let message = status.canonical_reason().unwrap_or("error").to_lowercase();
    ApiError::new(status, code, message)
}

/// The route to pass to `App::default_service`: [`unmatched`] for every method.
pub fn default_service() -> actix_web::Route {
    web::route().to(unmatched)
}
