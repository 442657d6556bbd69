//! The `platform` crate's plumbing, as api-app serves it.

mod admin;
mod deadlines;
mod errors;
mod headers;
mod limits;
mod logs;
mod metrics;
mod protocol;
mod shutdown;
mod startup;
