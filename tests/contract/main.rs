//! Contract tests: the code, `k8s/`, `terraform/` and `.github/` must agree with each other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

mod argocd;
mod env_and_secrets;
mod ingress_and_network;
mod mutants;
mod pod;
mod terraform;
mod workflows;
