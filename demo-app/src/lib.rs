//! The interactive demo page over the task API, with a same-origin proxy to the API for local runs.

pub mod config;
pub mod page;
pub mod proxy;
pub mod routes;
pub mod startup;
