//! api-app's settings, parsed once at start-up from the environment and handed down typed.

use platform::config::{self, ConfigError, ServerSettings};
use serde::Deserialize;

use crate::auth::{ApiKey, ApiKeys};

/// The port api-app listens on unless `PORT` says otherwise. `k8s/` binds to this value.
pub const DEFAULT_PORT: u16 = 8080;
/// The default ceiling on stored tasks.
pub const DEFAULT_MAX_TASKS: usize = 10_000;
/// The variables that carry secrets; they reach the pod from a Kubernetes Secret through `envFrom`.
pub const SECRET_VARS: [&str; 2] = ["API_KEY", "API_KEY_PREVIOUS"];

/// The variables only api-app reads (the shared ones are `platform::config::ServerVars`). Every
/// field is a string so that parsing, and the error that names a bad variable, happens in one place.
#[derive(Deserialize, Default)]
struct RawConfig {
    max_tasks: Option<String>,
    api_key: Option<String>,
    api_key_previous: Option<String>,
}

/// Typed settings for api-app.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerSettings,
    pub max_tasks: usize,
    pub api_keys: ApiKeys,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars())
    }

    /// Reads settings from explicit pairs; tests use this instead of mutating the process environment.
    pub fn from_vars<I>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let (server, raw): (ServerSettings, RawConfig) = config::load(vars, DEFAULT_PORT)?;
        let max_tasks = config::parse_bounded(
            "MAX_TASKS",
            raw.max_tasks.as_deref(),
            DEFAULT_MAX_TASKS,
            1..=crate::domain::MAX_STORED_TASKS,
        )?;
        let api_keys = ApiKeys::new(
            ApiKey::parse("API_KEY", raw.api_key)?,
            ApiKey::parse("API_KEY_PREVIOUS", raw.api_key_previous)?,
        )?;
        if !api_keys.is_configured() && server.app_env == platform::config::AppEnv::Prod {
            return Err(ConfigError::Missing {
                var: "API_KEY",
                why: "when APP_ENV=prod",
            });
        }
        Ok(Self {
            server,
            max_tasks,
            api_keys,
        })
    }
}

/// Every environment variable api-app reads. The contract tests check manifests against this list.
pub fn env_var_names() -> Vec<String> {
    config::service_env_var_names::<RawConfig>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::KeyCheck;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const KEY: &str = "current-key-0123456789";
    const OLD: &str = "previous-key-0123456789";

    #[test]
    fn prod_refuses_to_start_without_a_key() {
        let err = Config::from_vars(vars(&[("APP_ENV", "prod")])).unwrap_err();
        assert!(err.to_string().contains("API_KEY"), "{err}");
    }

    #[test]
    fn local_starts_without_a_key_but_reports_not_configured() {
        let cfg = Config::from_vars(vars(&[])).unwrap();
        assert_eq!(
            cfg.api_keys.check(Some(b"anything-at-all")),
            KeyCheck::NotConfigured
        );
    }

    #[test]
    fn both_rotation_keys_reach_the_key_set() {
        let cfg = Config::from_vars(vars(&[("API_KEY", KEY), ("API_KEY_PREVIOUS", OLD)])).unwrap();
        assert_eq!(cfg.api_keys.check(Some(OLD.as_bytes())), KeyCheck::Accepted);
    }

    #[test]
    fn a_previous_key_alone_is_a_config_error() {
        let err = Config::from_vars(vars(&[("API_KEY_PREVIOUS", OLD)])).unwrap_err();
        assert!(err.to_string().contains("API_KEY "), "{err}");
    }

    #[test]
    fn debug_output_never_contains_a_key() {
        let cfg = Config::from_vars(vars(&[("API_KEY", KEY)])).unwrap();
        assert!(!format!("{cfg:?}").contains(KEY));
    }

    #[test]
    fn max_tasks_must_be_positive() {
        let err = Config::from_vars(vars(&[("MAX_TASKS", "0")])).unwrap_err();
        assert!(err.to_string().contains("MAX_TASKS"), "{err}");
    }

    #[test]
    fn env_var_names_lists_what_the_config_reads() {
        let names = env_var_names();
        for expected in [
            "PORT",
            "APP_ENV",
            "API_KEY",
            "API_KEY_PREVIOUS",
            "MAX_TASKS",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
    }
}
