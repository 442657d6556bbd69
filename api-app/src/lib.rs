//! The task API: an actix-web service with probes, metrics, OpenAPI and graceful shutdown.
//!
//! Feature rooms own their types, handlers, errors and OpenAPI fragments: `tasks/` (the task
//! resource and its store), `auth/` (the API keys and the guard), the small routes (`info`,
//! `health`, `echo`, `stats`), `throttle` (per-client limits) and `docs` (the OpenAPI document and
//! its page). `routes` is the route table, `config` reads the environment once, `startup` builds
//! the server; all of them stand on the `platform` crate.

pub mod auth;
pub mod config;
pub mod docs;
pub mod echo;
pub mod health;
pub mod info;
pub mod routes;
pub mod startup;
pub mod stats;
pub mod tasks;
pub mod throttle;

use platform::error::ErrorCode;

/// Every code api-app answers with beyond the platform's own (`ErrorCode::PROTOCOL`), room by room.
pub fn error_codes() -> Vec<ErrorCode> {
    [
        tasks::ERROR_CODES,
        auth::ERROR_CODES,
        echo::ERROR_CODES,
        throttle::ERROR_CODES,
    ]
    .concat()
}
