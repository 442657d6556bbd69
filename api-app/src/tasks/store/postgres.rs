//! The PostgreSQL store: one database shared by every replica. Each write is one transaction and
//! returns only after its commit; the counts are updated in the same transaction, in counter shards
//! that let creates commit together while `MAX_TASKS` stays exact across replicas (`shards.rs`).

use std::time::Duration;

use futures_util::TryStreamExt as _;
use futures_util::future::FutureExt as _;
use uuid::Uuid;

mod batch;
mod db;
mod idempotency;
mod rows;

use super::metrics::StoreMetrics;
use super::migrate::{MIGRATIONS, MigrationError, act_as_owner, answered, migrate, verify};
use super::pool::{Pools, connect_once};
use super::port::{OpenError, StoreError, StoreFuture, StoreKind, TaskCounts, TaskStore};
use super::settings::{Migrations, PgSettings, ssl_mode_name};
use super::shards;
use crate::tasks::idempotency::{Created, KeyedCreate};
use crate::tasks::model::{NewTask, Task, TaskPatch};
use crate::tasks::page::{DEFAULT_PAGE_LIMIT, Page, PageRequest, PageStart};
use crate::tasks::precondition::Conditions;
use db::Db;
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

/// Longest wait between two attempts to open the store: readiness follows a database that comes
/// back within about a second (the port is bound already, so waiting costs nothing else).
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Tasks in PostgreSQL.
#[derive(Debug)]
pub struct PgTaskStore {
    db: Db,
    max_tasks: i64,
    /// Where plain creates wait to commit together (`postgres/batch.rs`).
    creates: batch::CreateQueue,
}

impl PgTaskStore {
    /// Connects (retrying with backoff while the database is unreachable), migrates under the
    /// lock or checks the migrations (`DATABASE_MIGRATIONS`), and returns the store. A migration
    /// that fails, or differs from the one applied, is an error: never serve half-migrated.
    pub async fn open(
        settings: &PgSettings,
        max_tasks: usize,
        workers: usize,
        registry: &prometheus::Registry,
    ) -> Result<Self, OpenError> {
        let pool = Pools::new(settings, workers).map_err(OpenError::Pool)?;
        let metrics = StoreMetrics::register(registry, Some(&pool))?;
        tracing::info!(
            sslmode = ssl_mode_name(&settings.config),
            pool_max = settings.pool_max,
            user_file = settings.user_file.is_some(),
            password_file = settings.password_file.is_some(),
            "opening the PostgreSQL store"
        );
        settle_schema(settings, settings.migrations).await?;
        let db = Db {
            pool,
            op_timeout: settings.statement_timeout + Duration::from_millis(500),
            metrics,
        };
        let max_tasks = i64::try_from(max_tasks).unwrap_or(i64::MAX);
        let store = Self {
            creates: batch::CreateQueue::start(
                db.clone(),
                max_tasks,
                settings.acquire_timeout + db.op_timeout,
            ),
            db,
            max_tasks,
        };
        // Seeds `tasks_stored`; a failure here is only a stale gauge.
        let _ = store.counts().await;
        let db = &store.db;
        tokio::spawn(db.clone().keep_checking());
        tokio::spawn(idempotency::sweep_expired(db.pool.clone(), db.op_timeout));
        Ok(store)
    }
}

/// Brings the schema up to date (`Apply`) or waits until it is (`Verify`), retrying with backoff
/// while the database is unreachable, the migration lock is held, or (`Verify`) a migration is not
/// applied yet. `api-app migrate` is this with `Apply`.
pub async fn settle_schema(settings: &PgSettings, mode: Migrations) -> Result<(), MigrationError> {
    let (mut delay, mut attempt) = (Duration::from_millis(200), 0_u32);
    loop {
        attempt = attempt.saturating_add(1);
        match schema_once(settings, mode).await {
            Ok(applied) => {
                tracing::info!(applied, ?mode, "database schema is current");
                return Ok(());
            }
            Err(e) if e.is_transient() => {
                tracing::warn!(
                    attempt,
                    retry_in_ms = delay.as_millis(),
                    error = %e,
                    "the store cannot open yet (database unreachable, locked or not migrated); retrying"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_BACKOFF);
            }
            Err(e) => return Err(e),
        }
    }
}

/// One attempt of [`settle_schema`]: how many migrations it applied.
async fn schema_once(settings: &PgSettings, mode: Migrations) -> Result<usize, MigrationError> {
    // The connect timeout bounds the TCP handshake only: a server (or a proxy) that takes the
    // connection and then says nothing would hold TLS and the start-up exchange forever.
    let mut client = answered(
        settings.acquire_timeout,
        connect_once(settings),
        MigrationError::Connection,
    )
    .await?;
    match mode {
        Migrations::Verify => verify(&client, MIGRATIONS).await.map(|()| 0),
        Migrations::Apply => {
            act_as_owner(&client, settings.owner()).await?;
            Ok(migrate(&mut client, MIGRATIONS).await?.len())
        }
    }
}

/// Locks the row a conditional write changes and checks its version: returns whether the task is
/// completed and the shard that counts it, or 404.
async fn lock_for_write(
    tx: &deadpool_postgres::Transaction<'_>,
    id: Uuid,
    expected: &Conditions,
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
        // Room for a whole page, up to the default page's size: an empty table allocates little.
        let capacity = page.entries_to_read().min(DEFAULT_PAGE_LIMIT);
        async move {
            let found = self
                .db
                .run(|c| {
                    async move {
                        let stmt = c.prepare_cached(sql).await?;
                        // Each row becomes a task as it is read: no vector of rows in between.
                        let rows = c.query_raw(&stmt, [&limit, &from]).await?;
                        let mut rows = std::pin::pin!(rows);
                        let mut items = Vec::with_capacity(capacity);
                        let mut total = None;
                        while let Some(row) = rows.try_next().await? {
                            if total.is_none() {
                                // Every row carries the same total: read it once.
                                total = Some(row.try_get::<_, i64>(7)?);
                            }
                            if let Some(seq) = row.try_get::<_, Option<i64>>(6)? {
                                items.push((seq, task(&row)?));
                            }
                        }
                        Ok((items, total.unwrap_or(0)))
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
            self.db.metrics.set_tasks_stored(page.total);
            Ok(page)
        }
        .boxed()
    }

    fn get(&self, id: Uuid) -> StoreFuture<'_, Task> {
        self.db
            .run(move |c| {
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
        // Counted in a shard, in the insert's own transaction, with the creates that arrive with
        // it: the 201 comes after the commit, and the cap holds (see shards.rs and batch.rs).
        self.creates.create(Uuid::new_v4(), new).boxed()
    }

    fn create_once(&self, new: NewTask, once: KeyedCreate) -> StoreFuture<'_, Created> {
        let id = Uuid::new_v4();
        let max = self.max_tasks;
        async move {
            let created = self
                .db
                .run(move |c| idempotency::create_once(c, id, new, once, max).boxed())
                .await?;
            if !created.replayed {
                self.db.metrics.task_created();
            }
            Ok(created)
        }
        .boxed()
    }

    fn update(&self, id: Uuid, patch: TaskPatch, expected: Conditions) -> StoreFuture<'_, Task> {
        self.db.run(move |c| {
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

    fn delete(&self, id: Uuid, expected: Conditions) -> StoreFuture<'_, ()> {
        async move {
            let total = self
                .db
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
            self.db.metrics.set_tasks_stored(count(total));
            Ok(())
        }
        .boxed()
    }

    fn counts(&self) -> StoreFuture<'_, TaskCounts> {
        async move {
            let counts = self
                .db
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
            self.db.metrics.set_tasks_stored(counts.total);
            Ok(counts)
        }
        .boxed()
    }

    fn check(&self) -> StoreFuture<'_, ()> {
        self.db.check().boxed()
    }
}
