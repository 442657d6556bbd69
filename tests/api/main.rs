//! Black-box tests of api-app over real HTTP on port 0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

mod abuse;
mod auth;
mod canonical;
mod deadlines;
mod errors;
mod helpers;
mod limits;
mod log_stall;
mod observability;
mod openapi;
mod process;
mod promises;
mod protocol;
mod shutdown;
mod signals;
mod tasks;
