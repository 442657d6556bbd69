//! The task API: an actix-web service with probes, metrics, OpenAPI and graceful shutdown.

pub mod auth;
pub mod config;
pub mod domain;
pub mod openapi;
pub mod routes;
pub mod startup;
pub mod store;
