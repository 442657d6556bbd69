//! The `platform` crate's plumbing, as api-app serves it.

mod deadlines;
mod errors;
mod headers;
mod logs;
mod metrics;
mod protocol;
mod shutdown;
mod startup;
