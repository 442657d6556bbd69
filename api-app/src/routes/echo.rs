//! `GET /api/echo?message=…`: returns the message as JSON, never as HTML.

use actix_web::{HttpResponse, get, web};
use platform::error::{ApiError, ErrorBody, ErrorCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::EchoMessage;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EchoQuery {
    /// The text to echo.
    // Required (the spec says so); an `Option` only so that a missing message gets our JSON 400.
    // Its length bounds are published from `MAX_ECHO_CHARS` (`openapi::QueryBounds`).
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
        (status = 400, description = "Missing, empty or longer than maxLength characters", body = ErrorBody)
    )
)]
#[get("/echo")]
pub async fn echo(query: web::Query<EchoQuery>) -> Result<HttpResponse, ApiError> {
    let message = EchoMessage::parse(query.into_inner().message)
        .map_err(|m| ApiError::new(ErrorCode::InvalidMessage, m))?
        .into_inner();
    let length = message.chars().count();
    Ok(HttpResponse::Ok().json(Echo { message, length }))
}
