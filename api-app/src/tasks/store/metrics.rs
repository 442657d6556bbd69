//! The store's Prometheus metrics; their names are a contract with the alerts and the dashboard.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use super::pool::Pools;
use super::port::StoreError;

/// Every `kind` of `store_errors_total`, created at zero so a rate over them exists from the start.
const ERROR_KINDS: [&str; 5] = ["unavailable", "auth", "timeout", "conflict", "other"];

/// The metrics every store keeps.
#[derive(Debug, Clone)]
pub struct StoreMetrics {
    up: IntGauge,
    errors: IntCounterVec,
    tasks_stored: IntGauge,
    acquire: Option<Histogram>,
    create_batches: Option<Histogram>,
}

impl StoreMetrics {
    /// Registers the store metrics, and the pool's when there is one (PostgreSQL).
    pub(crate) fn register(
        registry: &Registry,
        pool: Option<&Pools>,
    ) -> Result<Self, prometheus::Error> {
        let up = IntGauge::new(
            "store_up",
            "1 when the last store operation or check succeeded, else 0",
        )?;
        let errors = IntCounterVec::new(
            Opts::new("store_errors_total", "Failed store operations, by kind"),
            &["kind"],
        )?;
        for kind in ERROR_KINDS {
            errors.with_label_values(&[kind]);
        }
        let tasks_stored =
            IntGauge::new("tasks_stored", "Tasks stored, as last seen by this process")?;
        registry.register(Box::new(up.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(tasks_stored.clone()))?;
        let (acquire, create_batches) = match pool {
            None => (None, None),
            Some(pool) => {
                let acquire = Histogram::with_opts(
                    HistogramOpts::new(
                        "store_acquire_duration_seconds",
                        "Time to get a connection from the pool",
                    )
                    .buckets(vec![
                        0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0,
                    ]),
                )?;
                let create_batches = Histogram::with_opts(
                    HistogramOpts::new(
                        "store_create_batch_size",
                        "Plain creates committed by one statement (1: the create went alone)",
                    )
                    .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]),
                )?;
                registry.register(Box::new(acquire.clone()))?;
                registry.register(Box::new(create_batches.clone()))?;
                registry.register(Box::new(PoolCollector::new(pool.clone())?))?;
                (Some(acquire), Some(create_batches))
            }
        };
        up.set(1);
        Ok(Self {
            up,
            errors,
            tasks_stored,
            acquire,
            create_batches,
        })
    }

    /// Records an operation's outcome: `store_up`, and `store_errors_total` for the store's failures.
    pub fn record<T>(&self, outcome: &Result<T, StoreError>) {
        let kind = outcome.as_ref().err().and_then(StoreError::metric_kind);
        if let Some(kind) = kind {
            self.errors.with_label_values(&[kind]).inc();
        }
        // Not found, full and conflicts are answers: the store is up.
        self.up.set(i64::from(!matches!(
            kind,
            Some("unavailable" | "auth" | "timeout" | "other")
        )));
    }

    pub fn observe_acquire(&self, seconds: f64) {
        if let Some(h) = &self.acquire {
            h.observe(seconds);
        }
    }

    /// One batch of plain creates, of `size` creates, went to the store (`postgres/batch.rs`).
    pub fn observe_create_batch(&self, size: usize) {
        if let Some(h) = &self.create_batches {
            h.observe(f64::from(u32::try_from(size).unwrap_or(u32::MAX)));
        }
    }

    pub fn set_tasks_stored(&self, total: usize) {
        self.tasks_stored
            .set(i64::try_from(total).unwrap_or(i64::MAX));
    }

    /// One task more than last seen: a create reads no total (every list, count and delete sets
    /// the gauge to the stored total again).
    pub fn task_created(&self) {
        self.tasks_stored.inc();
    }
}

/// Reads the pool's state at scrape time, so the gauges are never stale.
struct PoolCollector {
    pool: Pools,
    connections: IntGaugeVec,
    max: IntGauge,
    descs: Vec<Desc>,
}

impl PoolCollector {
    fn new(pool: Pools) -> Result<Self, prometheus::Error> {
        let connections = IntGaugeVec::new(
            Opts::new(
                "store_pool_connections",
                "Open database connections, by state",
            ),
            &["state"],
        )?;
        let max = IntGauge::new(
            "store_pool_max_connections",
            "The most connections the pool opens",
        )?;
        let descs = connections
            .desc()
            .into_iter()
            .chain(max.desc())
            .cloned()
            .collect();
        Ok(Self {
            pool,
            connections,
            max,
            descs,
        })
    }
}

impl std::fmt::Debug for PoolCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolCollector").finish_non_exhaustive()
    }
}

impl Collector for PoolCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let usage = self.pool.usage();
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.connections
            .with_label_values(&["idle"])
            .set(gauge(usage.idle));
        self.connections
            .with_label_values(&["in_use"])
            .set(gauge(usage.open.saturating_sub(usage.idle)));
        self.max.set(gauge(usage.max));
        let mut families = self.connections.collect();
        families.extend(self.max.collect());
        families
    }
}

#[cfg(test)]
mod tests {
    use prometheus::{IntGauge, Registry};

    use super::{ERROR_KINDS, StoreMetrics};
    use crate::tasks::store::pool::Pools;
    use crate::tasks::store::port::StoreError;
    use crate::tasks::store::settings::{PgSettings, PgVars};

    /// The failures a client causes are answers, counted nowhere: a client sending a stale
    /// `If-Match` must not make the store look as if it were aborting transactions.
    #[test]
    fn only_the_stores_own_failures_count_as_store_errors() {
        let registry = Registry::new();
        let metrics = StoreMetrics::register(&registry, None).unwrap();
        let count = |kind: &str| metrics.errors.with_label_values(&[kind]).get();
        for answer in [
            StoreError::NotFound,
            StoreError::PreconditionFailed,
            StoreError::KeyReused,
            StoreError::KeyInFlight,
            StoreError::Full { max: 1 },
        ] {
            metrics.record::<()>(&Err(answer));
        }
        for kind in ERROR_KINDS {
            assert_eq!(count(kind), 0, "{kind}");
        }
        assert_eq!(metrics.up.get(), 1, "answers leave the store up");
        metrics.record::<()>(&Err(StoreError::Conflict));
        assert_eq!(count("conflict"), 1, "a transaction the database aborted");
    }

    #[test]
    fn the_pool_series_are_claimed_in_the_registry_so_nothing_can_shadow_them() {
        let settings = PgSettings::parse(&PgVars {
            url: "postgres://api_app@db.example:5432/tasks",
            ..PgVars::default()
        })
        .unwrap();
        let pool = Pools::new(&settings, 2).unwrap();
        let registry = Registry::new();
        StoreMetrics::register(&registry, Some(&pool)).unwrap();
        for name in ["store_pool_connections", "store_pool_max_connections"] {
            let shadow = IntGauge::new(name, "another metric under the pool's name").unwrap();
            assert!(
                registry.register(Box::new(shadow)).is_err(),
                "{name} is already registered"
            );
        }
        let names: Vec<String> = registry
            .gather()
            .iter()
            .map(|f| f.name().to_owned())
            .collect();
        assert!(
            names.contains(&"store_pool_max_connections".to_owned()),
            "{names:?}"
        );
    }
}
