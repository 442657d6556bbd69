//! Header names both apps (and their tests) agree on, spelled once.

use actix_web::http::header::HeaderName;

/// The request-id header, read from the request when present and always returned.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The header that carries api-app's API key. Only this header counts; a query parameter never
/// does. demo-app's proxy forwards it verbatim and never logs it.
pub const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");
