//! demo-app's settings, parsed once at start-up from the environment.

use platform::config::{self, ConfigError, RawServer, ServerSettings};
use serde::Deserialize;

/// The port demo-app listens on unless `PORT` says otherwise. `k8s/` binds to this value.
pub const DEFAULT_PORT: u16 = 8081;

/// Exactly the variables demo-app reads.
#[derive(Deserialize, Default)]
struct RawConfig {
    host: Option<String>,
    port: Option<String>,
    app_env: Option<String>,
    log_format: Option<String>,
    rust_log: Option<String>,
    shutdown_timeout_secs: Option<String>,
    shutdown_drain_secs: Option<String>,
    workers: Option<String>,
    /// Where `/api/*` is proxied to; unset in clusters, where the ALB routes `/api` itself.
    api_url: Option<String>,
    /// Downward API: the pod, its namespace and its node, shown on the page.
    hostname: Option<String>,
    pod_namespace: Option<String>,
    node_name: Option<String>,
}

/// Typed settings for demo-app.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerSettings,
    pub api_url: Option<String>,
    pub hostname: Option<String>,
    pub pod_namespace: Option<String>,
    pub node_name: Option<String>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars())
    }

    pub fn from_vars<I>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let raw: RawConfig = config::read_vars(vars)?;
        let server = ServerSettings::parse(
            RawServer {
                host: raw.host.as_deref(),
                port: raw.port.as_deref(),
                app_env: raw.app_env.as_deref(),
                log_format: raw.log_format.as_deref(),
                rust_log: raw.rust_log.as_deref(),
                shutdown_timeout_secs: raw.shutdown_timeout_secs.as_deref(),
                shutdown_drain_secs: raw.shutdown_drain_secs.as_deref(),
                workers: raw.workers.as_deref(),
            },
            DEFAULT_PORT,
        )?;
        let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        Ok(Self {
            server,
            api_url: non_empty(raw.api_url),
            hostname: non_empty(raw.hostname),
            pod_namespace: non_empty(raw.pod_namespace),
            node_name: non_empty(raw.node_name),
        })
    }
}

/// Every environment variable demo-app reads. The contract tests check manifests against this list.
pub fn env_var_names() -> Vec<String> {
    config::env_var_names::<RawConfig>()
}
