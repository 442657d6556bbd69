//! HTTP plumbing shared by api-app and demo-app, so both have one operational surface:
//! configuration parsing, telemetry, probes, graceful shutdown, metrics, security headers and the
//! JSON error shape.

pub mod admin;
pub mod build_info;
pub mod config;
pub mod connection;
pub mod connection_state;
pub mod deadline_io;
pub mod error;
mod expect_continue;
pub mod extractors;
pub mod headers;
mod log_writer;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod probes;
pub mod protocol;
mod protocol_errors;
pub mod protocol_framing;
pub mod server;
pub mod telemetry;
pub mod unmatched;
