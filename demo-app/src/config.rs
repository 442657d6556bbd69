//! demo-app's settings, parsed once at start-up from the environment.

use std::time::Duration;

use actix_web::http::Uri;
use platform::config::{self, ConfigError, DefaultPorts, ServerSettings};
use serde::Deserialize;

/// The port demo-app listens on unless `PORT` says otherwise. `k8s/` binds to this value.
pub const DEFAULT_PORT: u16 = 8081;
/// The port of demo-app's probes and metrics unless `ADMIN_PORT` says otherwise; `k8s/` probes and
/// scrapes it. Beside api-app's, so both run on one machine (`make demo`).
pub const DEFAULT_ADMIN_PORT: u16 = 9081;

/// How long the proxy waits to open a connection to `API_URL`.
pub const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the proxy waits for the whole upstream answer, body included, before answering 504.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// The variables only demo-app reads (the shared ones are `platform::config::ServerVars`).
#[derive(Deserialize, Default)]
struct RawConfig {
    /// Where `/api/*` is proxied to; unset in clusters, where the ALB routes `/api` itself.
    api_url: Option<String>,
    /// Downward API: the pod's namespace and node, shown on the page (the pod is `HOSTNAME`).
    pod_namespace: Option<String>,
    node_name: Option<String>,
}

/// Typed settings for demo-app.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerSettings,
    /// `API_URL` without a trailing slash, e.g. `http://127.0.0.1:8080`; `None` disables the proxy.
    pub api_url: Option<String>,
    /// Upstream bounds for the proxy. Not environment variables: tests shorten them.
    pub upstream_connect_timeout: Duration,
    pub upstream_timeout: Duration,
    pub pod_namespace: Option<String>,
    pub node_name: Option<String>,
}

impl Config {
    /// Reads settings from `vars`: `main` passes the process environment, tests explicit pairs.
    pub fn from_vars<I>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let (server, raw): (ServerSettings, RawConfig) = config::load(
            vars,
            DefaultPorts {
                public: DEFAULT_PORT,
                admin: DEFAULT_ADMIN_PORT,
            },
        )?;
        let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        Ok(Self {
            server,
            api_url: non_empty(raw.api_url)
                .map(|url| parse_api_url(&url))
                .transpose()?,
            upstream_connect_timeout: UPSTREAM_CONNECT_TIMEOUT,
            upstream_timeout: UPSTREAM_TIMEOUT,
            pod_namespace: non_empty(raw.pod_namespace),
            node_name: non_empty(raw.node_name),
        })
    }
}

/// `API_URL` must be a plain `http://host[:port][/prefix]`: the proxy speaks cleartext HTTP to a
/// local api-app only, and credentials, a query or a fragment in it would be a mistake.
fn parse_api_url(raw: &str) -> Result<String, ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid {
        var: "API_URL",
        reason: reason.to_owned(),
    };
    let raw = raw.trim();
    let uri: Uri = raw
        .parse()
        .map_err(|_| invalid("must be a URL such as http://127.0.0.1:8080"))?;
    if uri.scheme_str() != Some("http") {
        return Err(invalid(
            "must start with http:// (the proxy is for local runs)",
        ));
    }
    let Some(authority) = uri.authority().filter(|a| !a.host().is_empty()) else {
        return Err(invalid("must name a host"));
    };
    // What follows the host is a port, and every request would fail on one out of range.
    let port = authority
        .as_str()
        .strip_prefix(authority.host())
        .and_then(|rest| rest.strip_prefix(':'));
    if port.is_some_and(|p| !p.parse::<u16>().is_ok_and(|p| p > 0)) {
        return Err(invalid("must have a port from 1 to 65535"));
    }
    if authority.as_str().contains('@') || raw.contains('#') || uri.query().is_some() {
        return Err(invalid("must not carry credentials, a query or a fragment"));
    }
    let prefix = uri.path().trim_end_matches('/');
    Ok(format!("http://{authority}{prefix}"))
}

/// Every environment variable demo-app reads. The contract tests check manifests against this list.
pub fn env_var_names() -> Vec<String> {
    config::service_env_var_names::<RawConfig>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_api_url(url: &str) -> Result<Config, ConfigError> {
        Config::from_vars([("API_URL".to_owned(), url.to_owned())])
    }

    #[test]
    fn api_url_is_normalised_without_a_trailing_slash() {
        let cfg = with_api_url("http://127.0.0.1:8080/").unwrap();
        assert_eq!(cfg.api_url.as_deref(), Some("http://127.0.0.1:8080"));
        for fine in [
            "http://[::1]:8080",
            "http://api-app",
            "http://localhost:65535/base",
        ] {
            assert!(with_api_url(fine).is_ok(), "{fine}");
        }
    }

    #[test]
    fn unset_or_blank_api_url_disables_the_proxy() {
        assert!(Config::from_vars([]).unwrap().api_url.is_none());
        assert!(with_api_url("  ").unwrap().api_url.is_none());
    }

    #[test]
    fn api_url_rejects_other_schemes_credentials_and_queries() {
        for bad in [
            "https://api.example",
            "ftp://x",
            "http://user:secret@host:8080",
            "http://host/?q=1",
            "not a url",
            "/relative",
            "http://127.0.0.1:99999",
            "http://127.0.0.1:0",
            "http://127.0.0.1:",
            "http://:8080",
        ] {
            let msg = with_api_url(bad).unwrap_err().to_string();
            assert!(msg.contains("API_URL"), "{bad}: {msg}");
            assert!(!msg.contains("secret"), "values are never echoed: {msg}");
        }
    }

    #[test]
    fn env_var_names_match_the_contract() {
        assert_eq!(
            env_var_names(),
            [
                "HOST",
                "PORT",
                "ADMIN_PORT",
                "APP_ENV",
                "LOG_FORMAT",
                "RUST_LOG",
                "SHUTDOWN_TIMEOUT_SECS",
                "SHUTDOWN_DRAIN_SECS",
                "WORKERS",
                "HOSTNAME",
                "REQUEST_DEADLINE_SECS",
                "MAX_CONNECTIONS",
                "API_URL",
                "POD_NAMESPACE",
                "NODE_NAME"
            ]
        );
    }
}
