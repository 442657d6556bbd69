//! Contract tests: the code, `k8s/`, `terraform/` and `.github/` must agree with each other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

mod apply;
mod argocd;
mod bench;
mod bootstrap;
mod database;
mod delivery;
mod env_and_secrets;
mod identity;
mod ingress_and_network;
mod keys;
mod monitoring;
mod mutants;
mod network;
mod ordering;
mod pod;
mod providers;
mod registry;
mod restore_budget;
mod review;
mod rollback;
mod sbom;
mod seed;
mod terraform;
mod waf;
mod workflows;
