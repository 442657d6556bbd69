//! The interactive demo page over the task API.

pub mod config;
