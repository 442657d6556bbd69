//! Contract tests: the code, `k8s/`, `terraform/` and `.github/` must agree with each other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

mod k8s;
mod mutants;
mod terraform;
mod workflows;
