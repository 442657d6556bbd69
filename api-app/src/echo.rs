//! `GET /api/echo?message=…`: returns the message as JSON, never as HTML.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use platform::error::{ApiError, ErrorBody, ErrorCode};
use platform::openapi::query_parameter;
use serde::{Deserialize, Serialize};
use utoipa::openapi::OpenApi;
use utoipa::{IntoParams, ToSchema};

/// Where the echo is served.
const PATH: &str = "/api/echo";
/// Longest accepted echo message, in characters.
pub const MAX_ECHO_CHARS: usize = 1024;

/// The code of a refused message.
pub const INVALID_MESSAGE: ErrorCode = ErrorCode::new(
    "invalid_message",
    StatusCode::BAD_REQUEST,
    "A missing, empty or too-long echo message.",
);
/// Every code this room answers with.
pub const ERROR_CODES: &[ErrorCode] = &[INVALID_MESSAGE];

/// Why an echo was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EchoError {
    #[error("the message query parameter is required")]
    Missing,
    #[error("message must be 1-{MAX_ECHO_CHARS} characters")]
    Length,
}

impl From<EchoError> for ApiError {
    fn from(e: EchoError) -> Self {
        ApiError::new(INVALID_MESSAGE, e.to_string())
    }
}

/// A message for `GET /api/echo`: 1 to [`MAX_ECHO_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoMessage(String);

impl EchoMessage {
    pub fn parse(raw: Option<String>) -> Result<Self, EchoError> {
        let msg = raw.ok_or(EchoError::Missing)?;
        let chars = msg.chars().count();
        if chars == 0 || chars > MAX_ECHO_CHARS {
            return Err(EchoError::Length);
        }
        Ok(Self(msg))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
// An unknown parameter is a 400, as on /api/tasks: a misspelt `mesage` is not silently dropped.
#[serde(deny_unknown_fields)]
pub struct EchoQuery {
    /// The text to echo.
    // Required (the spec says so); an `Option` only so that a missing message gets our JSON 400.
    // Its length bounds are published from `MAX_ECHO_CHARS` (`document_bounds`).
    #[param(required = true, example = "hello")]
    message: Option<String>,
}

/// The echoed message.
#[derive(Debug, Serialize, ToSchema)]
pub struct Echo {
    pub message: String,
    /// The message's length in characters.
    pub length: usize,
}

/// Echo a message back as JSON.
#[utoipa::path(
    tag = "echo",
    params(EchoQuery),
    responses(
        (status = 200, description = "The message", body = Echo),
        (status = 400, description = "Missing, empty or longer than maxLength characters, an unknown \
            parameter, or percent-escapes that are not UTF-8", body = ErrorBody)
    )
)]
#[get("/echo")]
pub async fn echo(query: web::Query<EchoQuery>) -> Result<HttpResponse, ApiError> {
    let message = EchoMessage::parse(query.into_inner().message)?.into_inner();
    let length = message.chars().count();
    Ok(HttpResponse::Ok().json(Echo { message, length }))
}

/// Publishes the message's length bounds from [`MAX_ECHO_CHARS`], which enforces them.
pub(crate) fn document_bounds(doc: &mut OpenApi) {
    if let Some(schema) = query_parameter(doc, PATH, "message") {
        schema.min_length = Some(1);
        schema.max_length = Some(MAX_ECHO_CHARS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_requires_a_bounded_message() {
        assert_eq!(EchoMessage::parse(None), Err(EchoError::Missing));
        assert_eq!(
            EchoMessage::parse(Some(String::new())),
            Err(EchoError::Length)
        );
        assert!(EchoMessage::parse(Some("a".repeat(1025))).is_err());
        assert!(EchoMessage::parse(Some("a".repeat(1024))).is_ok());
        assert_eq!(
            EchoMessage::parse(Some("hi".into())).unwrap().into_inner(),
            "hi"
        );
    }
}
