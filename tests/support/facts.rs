//! Facts every contract test binds against, stated once: the environments, the apps, the
//! repository Argo CD syncs from, and what each app listens on and reads.

use std::collections::BTreeSet;

/// The cluster environments, each with its own overlays, Argo CD folder and Terraform root.
pub const ENVS: [&str; 2] = ["dev", "prod"];
/// The deployed apps, each with its own image, overlay and namespace per environment.
pub const APPS: [&str; 2] = ["api-app", "demo-app"];
/// The repository Argo CD syncs from (its Applications, the project and the root app Terraform installs).
pub const REPO_URL: &str = "https://github.com/gitops-platform/gitops-platform.git";

/// The port `app` listens on unless `PORT` says otherwise.
pub fn default_port(app: &str) -> u16 {
    match app {
        "api-app" => api_app::config::DEFAULT_PORT,
        "demo-app" => demo_app::config::DEFAULT_PORT,
        _ => unreachable!("{app}"),
    }
}

/// The port of `app`'s probes and metrics unless `ADMIN_PORT` says otherwise.
pub fn admin_port(app: &str) -> u16 {
    match app {
        "api-app" => api_app::config::DEFAULT_ADMIN_PORT,
        "demo-app" => demo_app::config::DEFAULT_ADMIN_PORT,
        _ => unreachable!("{app}"),
    }
}

/// Every environment variable `app` reads, from its own configuration code.
pub fn env_var_names(app: &str) -> BTreeSet<String> {
    match app {
        "api-app" => api_app::config::env_var_names(),
        "demo-app" => demo_app::config::env_var_names(),
        _ => unreachable!("{app}"),
    }
    .into_iter()
    .collect()
}
