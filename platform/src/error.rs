//! The one JSON error shape both apps answer with, for every 4xx and 5xx:
//! `{"error": {"code": "validation_failed", "message": "title must be 1-200 characters"}}`.
//!
//! Handlers return [`ApiError`]. Extractor failures (bad JSON, wrong content type, a bad query or
//! path), unknown routes, wrong methods and any bodiless error response from actix itself are
//! mapped to the same shape here, so no client ever sees a plain-text error.

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
    pub code: &'static str,
    /// A readable sentence naming the problem. It never contains a secret.
    #[schema(example = "title must be 1-200 characters")]
    pub message: String,
}

/// Declares [`ErrorCode`] from one table: variant, wire code, status and when it is answered.
macro_rules! error_codes {
    ($($(#[$attr:meta])* $variant:ident = $code:literal, $status:ident, $when:literal;)*) => {
        /// Every error code either app answers with, mapped to its status here and nowhere else.
        /// The root README's error table is checked against [`ErrorCode::ALL`]: a new code is one
        /// row in the table below plus its README row.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$attr])* #[doc = $when] $variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order the README lists them.
            pub const ALL: &[Self] = &[$(Self::$variant,)*];

            /// The code's row of the table: wire code, status, when.
            fn row(self) -> (&'static str, StatusCode, &'static str) {
                match self {
                    $(Self::$variant => ($code, StatusCode::$status, $when),)*
                }
            }
        }
    };
}

error_codes! {
    BadRequest = "bad_request", BAD_REQUEST,
        "A request that could not be read at all, such as a body cut short.";
    MalformedJson = "malformed_json", BAD_REQUEST, "The body is not JSON.";
    InvalidQuery = "invalid_query", BAD_REQUEST,
        "A bad or missing query parameter, such as `limit`/`offset` out of range.";
    InvalidPath = "invalid_path", BAD_REQUEST,
        "A path segment that does not parse, or (demo-app's proxy) a `.` or `..` segment.";
    InvalidId = "invalid_id", BAD_REQUEST, "A task id that is not a UUID.";
    InvalidMessage = "invalid_message", BAD_REQUEST, "A missing, empty or too-long echo message.";
    Unauthorized = "unauthorized", UNAUTHORIZED,
        "Missing or wrong `x-api-key` (a query parameter never counts).";
    NotFound = "not_found", NOT_FOUND, "No such route, or no task with that id.";
    ApiNotProxied = "api_not_proxied", NOT_FOUND,
        "demo-app without `API_URL` was asked for `/api` (in clusters the ALB routes it to api-app).";
    MethodNotAllowed = "method_not_allowed", METHOD_NOT_ALLOWED,
        "A known path with another method; `Allow` lists the right ones.";
    CapacityExceeded = "capacity_exceeded", CONFLICT,
        "`MAX_TASKS` tasks are stored already; nothing stored is touched.";
    PayloadTooLarge = "payload_too_large", PAYLOAD_TOO_LARGE,
        "A JSON body over 16 KiB (64 KiB through demo-app's proxy).";
    UriTooLong = "uri_too_long", URI_TOO_LONG, "A request line longer than the server reads.";
    UnsupportedMediaType = "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE,
        "A body that is not `application/json`.";
    ValidationFailed = "validation_failed", UNPROCESSABLE_ENTITY,
        "Well-formed JSON that breaks a rule: title length, an unknown field, a wrong type, an empty patch.";
    HeadersTooLarge = "headers_too_large", REQUEST_HEADER_FIELDS_TOO_LARGE,
        "Request headers larger than the server reads.";
    Internal = "internal_error", INTERNAL_SERVER_ERROR,
        "A bug; the cause goes to the log, the worker survives.";
    UpstreamUnavailable = "upstream_unavailable", BAD_GATEWAY,
        "demo-app's proxy could not reach `API_URL`.";
    Unavailable = "unavailable", SERVICE_UNAVAILABLE, "The server cannot take the request now.";
    NotConfigured = "not_configured", SERVICE_UNAVAILABLE,
        "The stats endpoint when no `API_KEY` is configured (outside prod): it is never open.";
    UpstreamTimeout = "upstream_timeout", GATEWAY_TIMEOUT,
        "`API_URL` did not answer within demo-app's proxy timeout.";
}

impl ErrorCode {
    /// The code as it appears in the JSON envelope.
    pub fn as_str(self) -> &'static str {
        self.row().0
    }

    /// The status a response with this code carries.
    pub fn status(self) -> StatusCode {
        self.row().1
    }

    /// When a client gets this code, in one sentence (the README's "When" column).
    pub fn when(self) -> &'static str {
        self.row().2
    }

    /// The code for a bare status from actix itself: the first code listed with that status (so the
    /// generic code of a status is listed before the specific ones), or
    /// `internal_error`/`bad_request` for a status no code names.
    pub fn for_status(status: StatusCode) -> Self {
        Self::ALL
            .iter()
            .copied()
            .find(|code| code.status() == status)
            .unwrap_or(if status.is_server_error() {
                Self::Internal
            } else {
                Self::BadRequest
            })
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error a handler returns; it renders as the JSON envelope with its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The code's status, except for actix's own bare errors, whose status is kept as it was.
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status: code.status(),
            code,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationFailed, message)
    }

    /// An unexpected failure: the client learns nothing of the cause, which goes to the log.
    pub fn internal() -> Self {
        Self::new(
            ErrorCode::Internal,
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
        HttpResponse::build(self.status).json(ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str(),
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
            ErrorCode::PayloadTooLarge,
            format!("the request body must be at most {limit} bytes"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the request body must be JSON with content-type: application/json",
        ),
        // Well-formed JSON of the wrong shape, or a value our domain types reject.
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            // serde_json appends " at line 1 column 12"; the sentence reads better without it.
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or_default();
            ApiError::validation(message)
        }
        JsonPayloadError::Deserialize(e) => ApiError::new(
            ErrorCode::MalformedJson,
            format!("the request body is not valid JSON: {e}"),
        ),
        _ => ApiError::new(ErrorCode::BadRequest, "the request body could not be read"),
    }
}

/// Query strings: a bad or missing parameter is a JSON 400.
fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let message = match &err {
            QueryPayloadError::Deserialize(e) => format!("invalid query string: {e}"),
            _ => "invalid query string".to_owned(),
        };
        ApiError::new(ErrorCode::InvalidQuery, message).into()
    })
}

/// Path segments: a malformed id is a JSON 400.
fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| {
        let message = match &err {
            PathError::Deserialize(e) => format!("invalid path parameter: {e}"),
            _ => "invalid path parameter".to_owned(),
        };
        ApiError::new(ErrorCode::InvalidPath, message).into()
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

    /// Every operation of an OpenAPI document built from an app's registrations.
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi) -> Self {
        operations(doc).fold(Self::new(), |known, (path, method, _)| {
            known.with(path, method)
        })
    }

    /// The methods allowed on `path`, if any route matches it.
    pub fn allowed(&self, path: &str) -> Option<&[Method]> {
        self.routes
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, methods)| methods.as_slice())
    }
}

/// Each operation of an OpenAPI document: its path, method and description.
pub fn operations(
    doc: &utoipa::openapi::OpenApi,
) -> impl Iterator<Item = (&str, Method, &utoipa::openapi::path::Operation)> {
    doc.paths.paths.iter().flat_map(|(path, item)| {
        [
            (Method::GET, &item.get),
            (Method::POST, &item.post),
            (Method::PUT, &item.put),
            (Method::PATCH, &item.patch),
            (Method::DELETE, &item.delete),
        ]
        .into_iter()
        .filter_map(move |(method, op)| op.as_ref().map(|op| (path.as_str(), method, op)))
    })
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
                ErrorCode::MethodNotAllowed,
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

/// The envelope for a bare status: the status as actix chose it, and the code for that status.
fn status_error(status: StatusCode) -> ApiError {
    let message = status.canonical_reason().unwrap_or("error").to_lowercase();
    ApiError {
        status,
        code: ErrorCode::for_status(status),
        message,
    }
}

/// The route to pass to `App::default_service`: [`unmatched`] for every method.
pub fn default_service() -> actix_web::Route {
    web::route().to(unmatched)
}
