//! Contract tests: the code, `k8s/`, `terraform/` and `.github/` must agree with each other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

mod admission;
mod alarms;
mod apply;
mod argocd;
mod bench;
mod bootstrap;
mod cluster_facts;
mod database;
mod delivery;
mod env_and_secrets;
mod first_deploy;
mod github_settings;
mod iam;
mod identity;
mod ingress_and_network;
mod keys;
mod locks;
mod monitoring;
mod mutants;
mod network;
mod ordering;
mod pins;
mod pipeline;
mod pod;
mod providers;
mod registry;
mod restore_budget;
mod review;
mod rollback;
mod sbom;
mod seed;
mod terraform;
mod terraform_pins;
mod waf;
mod workflows;
