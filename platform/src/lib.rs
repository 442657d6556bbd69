//! HTTP plumbing shared by api-app and demo-app, so both have one operational surface:
//! configuration parsing, telemetry, probes, graceful shutdown, metrics, security headers and the
//! JSON error shape.

pub mod build_info;
pub mod config;
pub mod error;
pub mod headers;
pub mod metrics;
pub mod middleware;
pub mod probes;
pub mod server;
pub mod telemetry;
