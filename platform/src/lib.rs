//! HTTP plumbing shared by api-app and demo-app, so both have one operational surface:
//! configuration parsing, telemetry, probes, graceful shutdown, metrics, security headers and the
//! JSON error shape.

pub mod config;
