//! The connections, and what bounds, classifies and records each operation on one: every store
//! operation, plain creates' batches included, runs through [`Db::run`].

use std::time::{Duration, Instant};

use deadpool_postgres::{Object, PoolError};
use futures_util::future::FutureExt as _;
use tokio_postgres::error::SqlState;

use crate::tasks::store::metrics::StoreMetrics;
use crate::tasks::store::pool::{Pools, describe, unavailable};
use crate::tasks::store::port::{StoreError, StoreFuture};

/// How often the background check refreshes `store_up` when no request does.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// The connections and what bounds and records each operation on one.
#[derive(Debug, Clone)]
pub(super) struct Db {
    pub(super) pool: Pools,
    /// How long one operation may take once it has a connection: the statement timeout, plus a
    /// margin for the network. It also covers a server that stopped answering altogether.
    pub(super) op_timeout: Duration,
    pub(super) metrics: StoreMetrics,
}

impl Db {
    /// Runs `op` on a pooled connection, bounded by the acquire timeout (the pool) and the
    /// operation timeout (here), and records the outcome in the metrics.
    pub(super) async fn run<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        F: for<'c> FnOnce(&'c mut Object) -> StoreFuture<'c, T>,
    {
        let outcome = async {
            let mut client = acquire(&self.pool, &self.metrics).await?;
            if let Ok(result) = tokio::time::timeout(self.op_timeout, op(&mut client)).await {
                return result;
            }
            // The connection may be stuck mid-query on a dead network: never reuse it.
            drop(Object::take(client));
            tracing::warn!(
                timeout_ms = self.op_timeout.as_millis(),
                "store operation timed out"
            );
            Err(StoreError::Timeout)
        }
        .await;
        self.metrics.record(&outcome);
        outcome
    }

    /// Asks the database for nothing but an answer, as any operation does: `store_up` follows.
    pub(super) async fn check(&self) -> Result<(), StoreError> {
        self.run(|c| {
            async move {
                c.simple_query("SELECT 1").await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    /// Keeps `store_up` current while no request touches the store.
    pub(super) async fn keep_checking(self) {
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            let _ = self.check().await;
        }
    }
}

async fn acquire(pool: &Pools, metrics: &StoreMetrics) -> Result<Object, StoreError> {
    let started = Instant::now();
    let got = pool.get().await;
    metrics.observe_acquire(started.elapsed().as_secs_f64());
    got.map_err(|e| match e {
        PoolError::Timeout(_) => {
            tracing::warn!(error = %e, "no database connection within the acquire timeout");
            StoreError::Timeout
        }
        PoolError::Backend(e) => classify(&e),
        PoolError::Closed => StoreError::Unavailable,
        e => {
            tracing::error!(error = %e, "database pool failed");
            StoreError::Other
        }
    })
}

/// One [`StoreError`] for each way PostgreSQL can fail; the cause goes to the log.
fn classify(e: &tokio_postgres::Error) -> StoreError {
    let Some(code) = e.code() else {
        // No SQLSTATE: the connection failed, closed, or TLS or authentication set-up did.
        tracing::warn!(error = %describe(e), "database connection failed");
        return StoreError::Unavailable;
    };
    let class = &code.code()[..2];
    let kind = if *code == SqlState::QUERY_CANCELED {
        StoreError::Timeout
    } else if *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
    {
        StoreError::Conflict
    } else if class == "28" {
        // Invalid authorization (28P01: wrong password), counted apart so a rotation race alerts.
        StoreError::Unauthenticated
    } else if unavailable(code) {
        StoreError::Unavailable
    } else {
        tracing::error!(error = %describe(e), "unexpected database error");
        return StoreError::Other;
    };
    tracing::warn!(error = %describe(e), "database error");
    kind
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        classify(&e)
    }
}
