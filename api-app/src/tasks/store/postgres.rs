//! The PostgreSQL store: one database shared by every replica. Each write is one transaction and
//! returns only after its commit; the counts are updated in the same transaction, in counter shards
//! that let creates commit together while `MAX_TASKS` stays exact across replicas (`shards.rs`).

use std::time::{Duration, Instant};

use deadpool_postgres::{Object, Pool, PoolError};
use futures_util::future::FutureExt as _;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

mod idempotency;
mod rows;

use super::metrics::StoreMetrics;
use super::migrate::{MIGRATIONS, MigrationError, migrate};
use super::pool::{connect_once, describe, pool};
use super::port::{OpenError, StoreError, StoreFuture, StoreKind, TaskCounts, TaskStore};
use super::settings::{PgSettings, ssl_mode_name};
use super::shards;
use crate::tasks::idempotency::{Created, KeyedCreate};
use crate::tasks::model::{NewTask, Task, TaskPatch};
use crate::tasks::page::{Page, PageRequest, PageStart};
use crate::tasks::precondition::Precondition;
use rows::{TASK_COLUMNS, count, task};

/// A page by offset, with the total: `$1` rows after skipping `$2`, in creation order, then `seq`
/// and the total. Skipping reads every task it skips (the documented cost of `offset`), but an
/// offset at or past the total never touches `tasks`: the scan sits behind a one-time filter on
/// the total, so `?offset=10000000` costs what an empty table does.
pub const LIST_BY_OFFSET: &str = concat!(
    "SELECT t.id, t.title, t.completed, t.created_at, t.updated_at, t.version, t.seq, n.total FROM (",
    shards::stored_total!(),
    ") n LEFT JOIN LATERAL (SELECT id, title, completed, created_at, updated_at, version, seq \
     FROM tasks WHERE $2 < n.total ORDER BY seq LIMIT $1 OFFSET $2) t ON true"
);

/// A page by cursor, with the total: `$1` rows created after the task whose `seq` is `$2`. One
/// range read of the `seq` index, at any depth.
pub const LIST_AFTER: &str = concat!(
    "SELECT t.id, t.title, t.completed, t.created_at, t.updated_at, t.version, t.seq, n.total FROM (",
    shards::stored_total!(),
    ") n LEFT JOIN LATERAL (SELECT id, title, completed, created_at, updated_at, version, seq \
     FROM tasks WHERE seq > $2 ORDER BY seq LIMIT $1) t ON true"
);

/// How often the background check refreshes `store_up` when no request does.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// Longest wait between two attempts to open the store: readiness follows a database that comes
/// back within about a second (the port is bound already, so waiting costs nothing else).
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Tasks in PostgreSQL.
#[derive(Debug)]
pub struct PgTaskStore {
    pool: Pool,
    max_tasks: i64,
    /// How long one operation may take once it has a connection: the statement timeout, plus a
    /// margin for the network. It also covers a server that stopped answering altogether.
    op_timeout: Duration,
    metrics: StoreMetrics,
}

impl PgTaskStore {
    /// Connects (retrying with backoff while the database is unreachable), migrates under the
    /// lock, and returns the store. A migration that fails is an error: never serve half-migrated.
    pub async fn open(
        settings: &PgSettings,
        max_tasks: usize,
        registry: &prometheus::Registry,
    ) -> Result<Self, OpenError> {
        let pool = pool(settings).map_err(OpenError::Pool)?;
        let metrics = StoreMetrics::register(registry, Some(&pool))?;
        tracing::info!(
            sslmode = ssl_mode_name(&settings.config),
            pool_max = settings.pool_max,
            user_file = settings.user_file.is_some(),
            password_file = settings.password_file.is_some(),
            "opening the PostgreSQL store"
        );
        let mut delay = Duration::from_millis(200);
        for attempt in 1_u32.. {
            match migrate_once(settings).await {
                Ok(applied) => {
                    tracing::info!(applied = applied.len(), "database schema is current");
                    break;
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!(
                        attempt,
                        retry_in_ms = delay.as_millis(),
                        error = %e,
                        "the store cannot open yet (database unreachable or locked); retrying"
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_BACKOFF);
                }
                Err(e) => return Err(e.into()),
            }
        }
        let store = Self {
            pool,
            max_tasks: i64::try_from(max_tasks).unwrap_or(i64::MAX),
            op_timeout: settings.statement_timeout + Duration::from_millis(500),
            metrics,
        };
        // Seeds `tasks_stored`; a failure here is only a stale gauge.
        let _ = store.counts().await;
        tokio::spawn(keep_checking(
            store.pool.clone(),
            store.metrics.clone(),
            store.op_timeout,
        ));
        tokio::spawn(idempotency::sweep_expired(
            store.pool.clone(),
            store.op_timeout,
        ));
        Ok(store)
    }

    /// Runs `op` on a pooled connection, bounded by the acquire timeout (the pool) and the
    /// operation timeout (here), and records the outcome in the metrics.
    async fn run<T, F>(&self, op: F) -> Result<T, StoreError>
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
}

async fn migrate_once(settings: &PgSettings) -> Result<Vec<i64>, MigrationError> {
    let mut client = connect_once(settings)
        .await
        .map_err(MigrationError::Connection)?;
    migrate(&mut client, MIGRATIONS).await
}

async fn acquire(pool: &Pool, metrics: &StoreMetrics) -> Result<Object, StoreError> {
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

/// Keeps `store_up` current while no request touches the store.
async fn keep_checking(pool: Pool, metrics: StoreMetrics, op_timeout: Duration) {
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        let outcome = async {
            let client = acquire(&pool, &metrics).await?;
            match tokio::time::timeout(op_timeout, client.simple_query("SELECT 1")).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(classify(&e)),
                Err(_) => {
                    drop(Object::take(client));
                    Err(StoreError::Timeout)
                }
            }
        }
        .await;
        metrics.record(&outcome);
    }
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
    } else if matches!(class, "08" | "53" | "57" | "3D") {
        // Connection exceptions, exhausted resources, an operator's shutdown, a database that does
        // not exist (yet).
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

/// Locks the row a conditional write changes and checks its version: returns whether the task is
/// completed and the shard that counts it, or 404.
async fn lock_for_write(
    tx: &deadpool_postgres::Transaction<'_>,
    id: Uuid,
    expected: &Precondition,
) -> Result<(bool, Option<i16>), StoreError> {
    let stmt = tx
        .prepare_cached("SELECT completed, version, shard FROM tasks WHERE id = $1 FOR UPDATE")
        .await?;
    let row = tx
        .query_opt(&stmt, &[&id])
        .await?
        .ok_or(StoreError::NotFound)?;
    let version: i64 = row.try_get(1)?;
    if !expected.admits(version) {
        return Err(StoreError::PreconditionFailed);
    }
    Ok((row.try_get(0)?, row.try_get(2)?))
}

impl TaskStore for PgTaskStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Postgres
    }

    fn list(&self, page: PageRequest) -> StoreFuture<'_, Page> {
        // One statement, one snapshot: the page and the total agree. The total is never a
        // COUNT(*), and the page walks the `seq` index, so its cost does not grow with the table
        // (except by offset: see LIST_BY_OFFSET).
        let limit = i64::try_from(page.entries_to_read()).unwrap_or(i64::MAX);
        let (sql, from) = match page.start {
            PageStart::Offset(offset) => (LIST_BY_OFFSET, i64::try_from(offset)),
            PageStart::After(cursor) => (LIST_AFTER, i64::try_from(cursor.0)),
        };
        let from = from.unwrap_or(i64::MAX);
        async move {
            let found = self
                .run(|c| {
                    async move {
                        let stmt = c.prepare_cached(sql).await?;
                        let rows = c.query(&stmt, &[&limit, &from]).await?;
                        let total = rows.first().map_or(Ok(0), |r| r.try_get::<_, i64>(7))?;
                        let mut items = Vec::with_capacity(rows.len());
                        for row in &rows {
                            if let Some(seq) = row.try_get::<_, Option<i64>>(6)? {
                                items.push((seq, task(row)?));
                            }
                        }
                        Ok((items, total))
                    }
                    .boxed()
                })
                .await?;
            let (mut items, total) = found;
            let next = page.keep_page(&mut items, |(seq, _)| u64::try_from(*seq).unwrap_or(0));
            let page = Page {
                items: items.into_iter().map(|(_, task)| task).collect(),
                total: count(total),
                next,
            };
            self.metrics.set_tasks_stored(page.total);
            Ok(page)
        }
        .boxed()
    }

    fn get(&self, id: Uuid) -> StoreFuture<'_, Task> {
        self.run(move |c| {
            async move {
                let stmt = c
                    .prepare_cached(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"))
                    .await?;
                let row = c
                    .query_opt(&stmt, &[&id])
                    .await?
                    .ok_or(StoreError::NotFound)?;
                task(&row)
            }
            .boxed()
        })
        .boxed()
    }

    fn create(&self, new: NewTask) -> StoreFuture<'_, Task> {
        let id = Uuid::new_v4();
        let max = self.max_tasks;
        async move {
            let task = self
                .run(move |c| {
                    async move {
                        // Counted in a shard, in the insert's own transaction: the 201 comes after
                        // the commit, and the cap holds (see shards.rs).
                        let title: &str = new.title.as_ref();
                        let row = shards::create(c, id, title, new.completed, max)
                            .await?
                            .ok_or(StoreError::Full { max: count(max) })?;
                        task(&row)
                    }
                    .boxed()
                })
                .await?;
            self.metrics.task_created();
            Ok(task)
        }
        .boxed()
    }

    fn create_once(&self, new: NewTask, once: KeyedCreate) -> StoreFuture<'_, Created> {
        let id = Uuid::new_v4();
        let max = self.max_tasks;
        async move {
            let created = self
                .run(move |c| idempotency::create_once(c, id, new, once, max).boxed())
                .await?;
            if !created.replayed {
                self.metrics.task_created();
            }
            Ok(created)
        }
        .boxed()
    }

    fn update(&self, id: Uuid, patch: TaskPatch, expected: Precondition) -> StoreFuture<'_, Task> {
        self.run(move |c| {
            async move {
                let tx = c.transaction().await?;
                let (was_completed, shard) = lock_for_write(&tx, id, &expected).await?;
                let stmt = tx
                    .prepare_cached(&format!(
                        "UPDATE tasks SET title = COALESCE($2, title), completed = COALESCE($3, completed), \
                         version = version + 1, updated_at = clock_timestamp() WHERE id = $1 RETURNING {TASK_COLUMNS}"
                    ))
                    .await?;
                let title: Option<&str> = patch.title().map(AsRef::as_ref);
                let row = tx.query_one(&stmt, &[&id, &title, &patch.completed()]).await?;
                let task = task(&row)?;
                if task.completed != was_completed {
                    let delta: i64 = if task.completed { 1 } else { -1 };
                    shards::count_completion(&tx, shard, delta).await?;
                }
                tx.commit().await?;
                Ok(task)
            }
            .boxed()
        })
        .boxed()
    }

    fn delete(&self, id: Uuid, expected: Precondition) -> StoreFuture<'_, ()> {
        async move {
            let total = self
                .run(move |c| {
                    async move {
                        let tx = c.transaction().await?;
                        let (completed, shard) = lock_for_write(&tx, id, &expected).await?;
                        let stmt = tx.prepare_cached("DELETE FROM tasks WHERE id = $1").await?;
                        tx.execute(&stmt, &[&id]).await?;
                        let total = shards::uncount(&tx, shard, completed).await?;
                        tx.commit().await?;
                        Ok(total)
                    }
                    .boxed()
                })
                .await?;
            self.metrics.set_tasks_stored(count(total));
            Ok(())
        }
        .boxed()
    }

    fn counts(&self) -> StoreFuture<'_, TaskCounts> {
        async move {
            let counts = self
                .run(|c| {
                    async move {
                        let stmt = c.prepare_cached(shards::STORED_COUNTS).await?;
                        let row = c.query_one(&stmt, &[]).await?;
                        Ok(TaskCounts {
                            total: count(row.try_get(0)?),
                            completed: count(row.try_get(1)?),
                        })
                    }
                    .boxed()
                })
                .await?;
            self.metrics.set_tasks_stored(counts.total);
            Ok(counts)
        }
        .boxed()
    }

    fn check(&self) -> StoreFuture<'_, ()> {
        self.run(|c| {
            async move {
                c.simple_query("SELECT 1").await?;
                Ok(())
            }
            .boxed()
        })
        .boxed()
    }
}
