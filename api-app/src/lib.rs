//! The task API: an actix-web service with probes, metrics, OpenAPI and graceful shutdown.

pub mod config;
