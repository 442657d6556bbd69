//! Task storage behind the [`TaskStore`] port: the in-memory store (zero setup, one process) or
//! PostgreSQL (shared by every replica), chosen by `DATABASE_URL`.

mod creation_order;
mod memory;
mod metrics;
mod migrate;
mod opening;
mod pool;
mod port;
mod postgres;
mod remembered_keys;
mod settings;
mod shards;
mod tls;

use std::sync::Arc;

use platform::config::{AppEnv, ConfigError};
use platform::probes::Health;

pub use memory::InMemoryTaskStore;
pub use metrics::StoreMetrics;
pub use migrate::{
    LOCK_KEY, MIGRATIONS, Migration, MigrationError, MigrationTimeouts, migrate, migrate_within,
    verify,
};
pub use opening::OpeningStore;
pub use pool::{claim_pool, connect_once, describe};
pub use port::{
    CAPACITY_EXCEEDED, OpenError, PRECONDITION_FAILED, RETRY_AFTER_SECS, STORE_UNAVAILABLE,
    StoreError, StoreKind, TaskCounts, TaskStore,
};
pub use postgres::{LIST_AFTER, LIST_BY_OFFSET, PgTaskStore, settle_schema};
pub use settings::{Migrations, PgSettings, PgVars, SESSION_SETTINGS};

/// Which store to run, from `DATABASE_URL` and friends.
#[derive(Debug, Clone)]
pub enum StoreSettings {
    Memory,
    Postgres(Box<PgSettings>),
}

impl StoreSettings {
    /// PostgreSQL when `DATABASE_URL` is set, else memory; a cluster (`dev`, `prod`) must never run
    /// the per-process store, so there it is a configuration error.
    pub fn parse(app_env: AppEnv, vars: &PgVars<'_>) -> Result<Self, ConfigError> {
        let url = vars.url.trim();
        if url.is_empty() {
            if app_env == AppEnv::Local {
                return Ok(Self::Memory);
            }
            return Err(ConfigError::Missing {
                var: "DATABASE_URL",
                why: "when APP_ENV=dev or prod (the in-memory store is for local runs only)",
            });
        }
        let pg = PgSettings::parse(&PgVars { url, ..*vars })?;
        // libpq's default, `prefer`, silently falls back to plain text; a cluster must ask for
        // encryption in so many words (`verify-ca`/`verify-full` arrive here as `require`).
        if app_env != AppEnv::Local && !pg.encrypted() {
            return Err(ConfigError::Invalid {
                var: "DATABASE_URL",
                reason: "must set an encrypted sslmode explicitly when APP_ENV=dev or prod \
                         (sslmode=verify-full with sslrootcert, or sslmode=require)"
                    .into(),
            });
        }
        // Without it a server that asks for a password is retried forever as "unreachable".
        if app_env != AppEnv::Local && pg.password_file.is_none() {
            return Err(ConfigError::Missing {
                var: "DATABASE_PASSWORD_FILE",
                why: "when APP_ENV=dev or prod (the URL never holds the password)",
            });
        }
        Ok(Self::Postgres(Box::new(pg)))
    }
}

/// Opens the configured store and registers its metrics in `registry`. PostgreSQL is retried with
/// backoff until it answers; its migrations then run under a lock, and a failed one is an error.
/// PostgreSQL's connections are split in one pool per worker (`workers`, each of which calls
/// [`claim_pool`]).
/// api-app runs this in the background ([`open_in_background`]), after binding its ports.
pub async fn open(
    settings: &StoreSettings,
    max_tasks: usize,
    workers: usize,
    registry: &prometheus::Registry,
) -> Result<Arc<dyn TaskStore>, OpenError> {
    match settings {
        StoreSettings::Memory => {
            let metrics = StoreMetrics::register(registry, None)?;
            Ok(Arc::new(InMemoryTaskStore::with_metrics(
                max_tasks, metrics,
            )))
        }
        StoreSettings::Postgres(pg) => Ok(Arc::new(
            PgTaskStore::open(pg, max_tasks, workers, registry).await?,
        )),
    }
}

/// Starts opening the store `settings` name in the background and returns at once, so api-app
/// can bind its ports first. Until it is open the returned store answers
/// [`StoreError::Opening`] and readiness (`health`) waits; a failure that retrying cannot mend (a
/// broken migration) comes out of the receiver, and api-app stops.
pub fn open_in_background(
    settings: &StoreSettings,
    max_tasks: usize,
    workers: usize,
    registry: &prometheus::Registry,
    health: Arc<Health>,
) -> (Arc<OpeningStore>, tokio::sync::oneshot::Receiver<OpenError>) {
    let kind = match settings {
        StoreSettings::Memory => StoreKind::Memory,
        StoreSettings::Postgres(_) => StoreKind::Postgres,
    };
    let store = Arc::new(OpeningStore::new(kind));
    let (failed, failure) = tokio::sync::oneshot::channel();
    health.await_dependency();
    let (settings, registry, opening) = (settings.clone(), registry.clone(), store.clone());
    tokio::spawn(async move {
        match open(&settings, max_tasks, workers, &registry).await {
            Ok(opened) => {
                opening.opened(opened);
                health.dependency_ready();
                tracing::info!(store = ?kind, "the task store is open; ready");
            }
            Err(e) => {
                let _ = failed.send(e);
            }
        }
    });
    (store, failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A readable file, standing in for the mounted password.
    const PASSWORD_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");

    fn vars(url: &str) -> PgVars<'_> {
        PgVars {
            url,
            password_file: Some(PASSWORD_FILE),
            ..PgVars::default()
        }
    }

    #[test]
    fn outside_local_the_password_file_is_required() {
        let url = "postgres://api_app@db.example/tasks?sslmode=require";
        let without = PgVars {
            url,
            ..PgVars::default()
        };
        for env in [AppEnv::Dev, AppEnv::Prod] {
            let msg = StoreSettings::parse(env, &without).unwrap_err().to_string();
            assert!(
                msg.contains("DATABASE_PASSWORD_FILE") && !msg.contains('\n'),
                "{env}: {msg}"
            );
            assert!(StoreSettings::parse(env, &vars(url)).is_ok(), "{env}");
        }
        assert!(
            matches!(
                StoreSettings::parse(AppEnv::Local, &without),
                Ok(StoreSettings::Postgres(_))
            ),
            "a local server may trust its loopback"
        );
    }

    #[test]
    fn database_url_is_read_without_surrounding_spaces_and_a_blank_one_means_memory() {
        assert!(matches!(
            StoreSettings::parse(AppEnv::Local, &vars("  ")),
            Ok(StoreSettings::Memory)
        ));
        let pg = StoreSettings::parse(
            AppEnv::Dev,
            &vars(" postgres://api_app@db.example/tasks?sslmode=require\n"),
        );
        assert!(matches!(pg, Ok(StoreSettings::Postgres(_))), "{pg:?}");
        let err = StoreSettings::parse(AppEnv::Dev, &vars("")).unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
    }

    #[test]
    fn outside_local_the_url_must_ask_for_encryption_in_so_many_words() {
        for env in [AppEnv::Dev, AppEnv::Prod] {
            for query in ["", "?sslmode=prefer", "?sslmode=disable"] {
                let url = format!("postgres://api_app@db.example/tasks{query}");
                let msg = StoreSettings::parse(env, &vars(&url))
                    .unwrap_err()
                    .to_string();
                assert!(
                    msg.contains("DATABASE_URL")
                        && msg.contains("encrypted sslmode")
                        && !msg.contains('\n')
                        && !msg.contains("db.example"),
                    "{env} {query:?}: {msg}"
                );
            }
            let url = "postgres://api_app@db.example/tasks?sslmode=require";
            assert!(StoreSettings::parse(env, &vars(url)).is_ok(), "{env}");
        }
        let local =
            StoreSettings::parse(AppEnv::Local, &vars("postgres://api_app@db.example/tasks"));
        assert!(
            matches!(local, Ok(StoreSettings::Postgres(_))),
            "local keeps libpq's default"
        );
    }
}
