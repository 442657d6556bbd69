//! Header names both apps (and their tests) agree on, spelled once.

use actix_web::http::header::HeaderName;

/// The request-id header, read from the request when present and always returned.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The header that carries api-app's API key. Only this header counts; a query parameter never
/// does. demo-app's proxy forwards it verbatim and never logs it.
pub const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");

/// The request header that makes a create happen at most once per key (RFC 9110 field names are
/// case-insensitive; this is the IETF draft's spelling). demo-app's proxy forwards it.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Set to `true` on a response that replays a create made earlier with the same key (as Stripe
/// does). demo-app's proxy relays it.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
