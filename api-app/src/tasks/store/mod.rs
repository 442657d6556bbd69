//! Task storage behind the [`TaskStore`] port: the in-memory store (zero setup, one process) or
//! PostgreSQL (shared by every replica), chosen by `DATABASE_URL`.

mod creation_order;
mod memory;
mod metrics;
mod migrate;
mod pool;
mod port;
mod postgres;
mod settings;
mod shards;
mod tls;

use std::sync::Arc;

use platform::config::{AppEnv, ConfigError};

pub use memory::InMemoryTaskStore;
pub use metrics::StoreMetrics;
pub use migrate::{MIGRATIONS, Migration, MigrationError, migrate};
pub use pool::{connect_once, describe};
pub use port::{
    CAPACITY_EXCEEDED, OpenError, PRECONDITION_FAILED, RETRY_AFTER_SECS, STORE_UNAVAILABLE,
    StoreError, StoreKind, TaskCounts, TaskStore,
};
pub use postgres::{LIST_AFTER, LIST_BY_OFFSET, PgTaskStore};
pub use settings::{PgSettings, PgVars};

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
        PgSettings::parse(&PgVars { url, ..*vars }).map(|pg| Self::Postgres(Box::new(pg)))
    }
}

/// Opens the configured store and registers its metrics in `registry`. PostgreSQL is retried with
/// backoff until it answers; its migrations then run under a lock, and a failed one is an error.
pub async fn open(
    settings: &StoreSettings,
    max_tasks: usize,
    registry: &prometheus::Registry,
) -> Result<Arc<dyn TaskStore>, OpenError> {
    match settings {
        StoreSettings::Memory => {
            let metrics = StoreMetrics::register(registry, None)?;
            Ok(Arc::new(InMemoryTaskStore::with_metrics(
                max_tasks, metrics,
            )))
        }
        StoreSettings::Postgres(pg) => {
            Ok(Arc::new(PgTaskStore::open(pg, max_tasks, registry).await?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(url: &str) -> PgVars<'_> {
        PgVars {
            url,
            ..PgVars::default()
        }
    }

    #[test]
    fn database_url_is_read_without_surrounding_spaces_and_a_blank_one_means_memory() {
        assert!(matches!(
            StoreSettings::parse(AppEnv::Local, &vars("  ")),
            Ok(StoreSettings::Memory)
        ));
        let pg = StoreSettings::parse(AppEnv::Dev, &vars(" postgres://api_app@db.example/tasks\n"));
        assert!(matches!(pg, Ok(StoreSettings::Postgres(_))), "{pg:?}");
        let err = StoreSettings::parse(AppEnv::Dev, &vars("")).unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
    }
}
