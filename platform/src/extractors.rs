//! The extractor configurations that answer bad input with the JSON envelope: JSON bodies (size,
//! content type, shape), query strings and path segments.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::web;

use crate::error::{ApiError, ErrorCode};

/// Largest JSON body either app accepts, in bytes.
pub const JSON_LIMIT_BYTES: usize = 16 * 1024;

/// Registers the extractor configurations that answer bad input with the envelope: JSON bodies of
/// at most [`JSON_LIMIT_BYTES`], query strings and path segments. `App::configure(extractors::configure)`.
pub fn configure(cfg: &mut web::ServiceConfig) {
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
            ErrorCode::PAYLOAD_TOO_LARGE,
            format!("the request body must be at most {limit} bytes"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            ErrorCode::UNSUPPORTED_MEDIA_TYPE,
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
            ErrorCode::MALFORMED_JSON,
            format!("the request body is not valid JSON: {e}"),
        ),
        _ => ApiError::new(ErrorCode::BAD_REQUEST, "the request body could not be read"),
    }
}

/// Query strings: a bad or missing parameter is a JSON 400.
fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let message = match &err {
            QueryPayloadError::Deserialize(e) => format!("invalid query string: {e}"),
            _ => "invalid query string".to_owned(),
        };
        ApiError::new(ErrorCode::INVALID_QUERY, message).into()
    })
}

/// Path segments: a malformed id is a JSON 400.
fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| {
        let message = match &err {
            PathError::Deserialize(e) => format!("invalid path parameter: {e}"),
            _ => "invalid path parameter".to_owned(),
        };
        ApiError::new(ErrorCode::INVALID_PATH, message).into()
    })
}
