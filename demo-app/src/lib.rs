//! The interactive demo page over the task API, with a same-origin proxy to the API for local runs.

pub mod config;
pub mod page;
pub mod proxy;
pub mod routes;
pub mod startup;

/// Every code demo-app answers with beyond the platform's own (`platform::error::ErrorCode::PROTOCOL`).
pub const ERROR_CODES: &[platform::error::ErrorCode] = &[
    page::API_NOT_PROXIED,
    proxy::UPSTREAM_UNAVAILABLE,
    proxy::UPSTREAM_TIMEOUT,
];
