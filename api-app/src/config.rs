//! api-app's settings, parsed once at start-up from the environment and handed down typed.

//! Each room parses its own variables (`ApiKeys::from_vars`, `ThrottleSettings::parse`,
//! `StoreSettings::parse`); this module reads the environment once and hands them their values.

use platform::config::{self, AppEnv, ConfigError, DefaultPorts, ServerSettings};
use serde::Deserialize;

use crate::auth::ApiKeys;
pub use crate::auth::SECRET_VARS;
use crate::fault::FaultSettings;
use crate::tasks::store::{PgSettings, PgVars, StoreSettings};
use crate::tasks::{IdempotencySettings, MAX_STORED_TASKS};
use crate::throttle::{ThrottleSettings, ThrottleVars};

/// The port api-app listens on unless `PORT` says otherwise. `k8s/` binds to this value.
pub const DEFAULT_PORT: u16 = 8080;
/// The port of api-app's probes and metrics unless `ADMIN_PORT` says otherwise; `k8s/` probes and
/// scrapes it, and the public Service and Ingress never route it.
pub const DEFAULT_ADMIN_PORT: u16 = 9080;
/// The default ceiling on stored tasks.
pub const DEFAULT_MAX_TASKS: usize = 10_000;

/// The variables only api-app reads (the shared ones are `platform::config::ServerVars`). Every
/// field is a string so that parsing, and the error that names a bad variable, happens in one place.
#[derive(Deserialize, Default)]
struct RawConfig {
    max_tasks: Option<String>,
    api_key: Option<String>,
    api_key_previous: Option<String>,
    rate_limits: Option<String>,
    auth_failures_per_minute: Option<String>,
    creates_per_minute: Option<String>,
    changes_per_minute: Option<String>,
    idempotency_key_ttl_secs: Option<String>,
    trusted_proxy_cidrs: Option<String>,
    database_url: Option<String>,
    database_user_file: Option<String>,
    database_password_file: Option<String>,
    database_pool_max: Option<String>,
    database_acquire_timeout_ms: Option<String>,
    database_statement_timeout_ms: Option<String>,
    database_migrations: Option<String>,
    inject_error_percent: Option<String>,
}

/// Typed settings for api-app.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerSettings,
    pub max_tasks: usize,
    pub api_keys: ApiKeys,
    pub throttle: ThrottleSettings,
    pub idempotency: IdempotencySettings,
    pub store: StoreSettings,
    /// `INJECT_ERROR_PERCENT`: failures injected for release drills (off by default, refused in prod).
    pub fault: FaultSettings,
}

impl Config {
    /// Reads settings from `vars`: `main` passes the process environment, tests explicit pairs.
    pub fn from_vars<I>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let (server, mut raw) = load(vars)?;
        let max_tasks = config::parse_bounded(
            "MAX_TASKS",
            raw.max_tasks.as_deref(),
            DEFAULT_MAX_TASKS,
            1..=MAX_STORED_TASKS,
        )?;
        let api_keys = ApiKeys::from_vars(
            server.app_env,
            raw.api_key.take(),
            raw.api_key_previous.take(),
        )?;
        let throttle = ThrottleSettings::parse(
            server.app_env,
            &ThrottleVars {
                enabled: raw.rate_limits.as_deref(),
                auth_failures_per_minute: raw.auth_failures_per_minute.as_deref(),
                creates_per_minute: raw.creates_per_minute.as_deref(),
                changes_per_minute: raw.changes_per_minute.as_deref(),
                trusted_proxies: raw.trusted_proxy_cidrs.as_deref(),
            },
        )?;
        let idempotency = IdempotencySettings::parse(raw.idempotency_key_ttl_secs.as_deref())?;
        let store = store_settings(server.app_env, &raw)?;
        let fault = FaultSettings::parse(server.app_env, raw.inject_error_percent.as_deref())?;
        Ok(Self {
            server,
            max_tasks,
            api_keys,
            throttle,
            idempotency,
            store,
            fault,
        })
    }
}

/// The shared settings and api-app's own variables, unparsed, from `vars`, with api-app's default ports.
fn load<I>(vars: I) -> Result<(ServerSettings, RawConfig), ConfigError>
where
    I: IntoIterator<Item = (String, String)>,
{
    config::load(
        vars,
        DefaultPorts {
            public: DEFAULT_PORT,
            admin: DEFAULT_ADMIN_PORT,
        },
    )
}

/// The store `DATABASE_*` selects.
fn store_settings(app_env: AppEnv, raw: &RawConfig) -> Result<StoreSettings, ConfigError> {
    StoreSettings::parse(
        app_env,
        &PgVars {
            url: raw.database_url.as_deref().unwrap_or_default(),
            user_file: raw.database_user_file.as_deref(),
            password_file: raw.database_password_file.as_deref(),
            pool_max: raw.database_pool_max.as_deref(),
            acquire_timeout_ms: raw.database_acquire_timeout_ms.as_deref(),
            statement_timeout_ms: raw.database_statement_timeout_ms.as_deref(),
            migrations: raw.database_migrations.as_deref(),
        },
    )
}

/// What `api-app migrate` reads: the shared settings (`APP_ENV`, the log's) and `DATABASE_*`, and
/// nothing else, so the Job that runs it holds no API key.
#[derive(Debug, Clone)]
pub struct MigrateConfig {
    pub server: ServerSettings,
    pub database: PgSettings,
}

impl MigrateConfig {
    /// Reads settings from `vars`, as [`Config::from_vars`] does; `DATABASE_URL` is required.
    pub fn from_vars<I>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let (server, raw) = load(vars)?;
        match store_settings(server.app_env, &raw)? {
            StoreSettings::Postgres(database) => Ok(Self {
                server,
                database: *database,
            }),
            StoreSettings::Memory => Err(ConfigError::Missing {
                var: "DATABASE_URL",
                why: "for `api-app migrate` (the in-memory store has no schema)",
            }),
        }
    }
}

/// Every environment variable api-app reads. The contract tests check manifests against this list.
pub fn env_var_names() -> Vec<String> {
    config::service_env_var_names::<RawConfig>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const KEY: &str = "current-key-0123456789";
    /// A key as `openssl rand -base64 48` makes one, as dev and prod require.
    const GENERATED: &str = "q1VhJ0m+8tZ4cXr2Lw9Ypb6N/3sKdAe5GfUoTzHiRjE=";
    const DATABASE_URL: &str = "postgres://api_app@db.example:5432/tasks?sslmode=require";

    #[test]
    fn debug_output_never_contains_a_key() {
        let cfg = Config::from_vars(vars(&[("API_KEY", KEY)])).unwrap();
        assert!(!format!("{cfg:?}").contains(KEY));
    }

    #[test]
    fn a_cluster_environment_without_a_database_is_one_line_naming_database_url() {
        for env in ["dev", "prod"] {
            let err =
                Config::from_vars(vars(&[("APP_ENV", env), ("API_KEY", GENERATED)])).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("DATABASE_URL") && !msg.contains('\n'), "{msg}");
        }
    }

    #[test]
    fn database_url_selects_postgres_and_its_absence_memory() {
        let local = Config::from_vars(vars(&[])).unwrap();
        assert!(matches!(local.store, StoreSettings::Memory));
        let pg = Config::from_vars(vars(&[
            ("APP_ENV", "prod"),
            ("API_KEY", GENERATED),
            ("DATABASE_URL", DATABASE_URL),
            (
                "DATABASE_PASSWORD_FILE",
                concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
            ),
            ("DATABASE_POOL_MAX", "4"),
        ]))
        .unwrap();
        let StoreSettings::Postgres(settings) = pg.store else {
            panic!("DATABASE_URL selects PostgreSQL");
        };
        assert_eq!(settings.pool_max, 4);
    }

    #[test]
    fn bad_database_tunables_name_their_variable() {
        for (var, value) in [
            ("DATABASE_POOL_MAX", "0"),
            ("DATABASE_ACQUIRE_TIMEOUT_MS", "soon"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "-5"),
        ] {
            let err = Config::from_vars(vars(&[
                ("DATABASE_URL", "postgres://api_app@db/tasks"),
                (var, value),
            ]))
            .unwrap_err();
            assert!(err.to_string().contains(var), "{err}");
        }
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
            "ADMIN_PORT",
            "APP_ENV",
            "API_KEY",
            "API_KEY_PREVIOUS",
            "MAX_TASKS",
            "DATABASE_URL",
            "DATABASE_USER_FILE",
            "DATABASE_PASSWORD_FILE",
            "DATABASE_POOL_MAX",
            "DATABASE_ACQUIRE_TIMEOUT_MS",
            "DATABASE_STATEMENT_TIMEOUT_MS",
            "DATABASE_MIGRATIONS",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
    }
}
