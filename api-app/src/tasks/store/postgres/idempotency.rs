//! Keyed creates on PostgreSQL, shared by every replica: the key and the task go in with one
//! statement (one transaction), so a create that committed is found by its key on retry even when
//! its 201 never arrived (a frozen database, a timeout, a lost connection). Expired keys are swept
//! in small batches in the background.

use std::time::Duration;

use deadpool_postgres::Object;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::rows::{count, task_at};
use crate::tasks::idempotency::{Created, KeyedCreate};
use crate::tasks::model::NewTask;
use crate::tasks::store::pool::Pools;
use crate::tasks::store::port::StoreError;
use crate::tasks::store::shards::{self, insert_counted, shard_ctes};

/// A keyed create in one statement. `lock` takes a transaction-level advisory lock on the key
/// without waiting: a replica handling the same key holds it, and this answer is then "in flight".
/// With the lock, `found` is the key's live row (replay, or another body), `purged` deletes an
/// expired one, and only when neither is there does `go` let the create count itself in a shard
/// and insert (`shards::shard_ctes`, as every create); `remembered` stores the key with the task as
/// created, to expire `$8` seconds later.
///
/// The statement's snapshot is taken before the lock: a create with the same key that commits in
/// between is invisible to `found`, and then the key's primary key refuses `remembered`, which
/// undoes the whole statement (a unique violation, answered as "in flight"; the retry sees it).
///
/// No row comes back exactly when the lock was taken, the key is new and no shard could take the
/// create: `shards::create_with` then shares out budgets and runs it again, in the sharing's
/// transaction, so the key, the task and its count still commit together.
///
/// Parameters: `$1`-`$5` as a plain create's, `$6` key, `$7` fingerprint, `$8` TTL in seconds.
/// Columns: 0-5 the created task, 6-11 the remembered task, 12 its fingerprint, 13 whether the
/// lock was taken.
const CREATE_ONCE: &str = concat!(
    "WITH lock AS MATERIALIZED (SELECT pg_try_advisory_xact_lock(hashtextextended($6, 0)) AS held), \
     found AS MATERIALIZED (SELECT k.task_id, k.title, k.completed, k.created_at, k.updated_at, \
       k.version, k.fingerprint FROM idempotency_keys k, lock \
       WHERE lock.held AND k.key = $6 AND k.expires_at > clock_timestamp()), \
     purged AS (DELETE FROM idempotency_keys k USING lock \
       WHERE lock.held AND k.key = $6 AND k.expires_at <= clock_timestamp() RETURNING 1), \
     go AS MATERIALIZED (SELECT 1 FROM lock WHERE lock.held \
       AND NOT EXISTS (SELECT 1 FROM found) AND (SELECT count(*) FROM purged) >= 0), ",
    shard_ctes!(" AND EXISTS (SELECT 1 FROM go)"),
    ", created AS (",
    insert_counted!(),
    "), remembered AS (INSERT INTO idempotency_keys (key, fingerprint, task_id, title, completed, \
       created_at, updated_at, version, expires_at) \
       SELECT $6, $7, id, title, completed, created_at, updated_at, version, \
       created_at + make_interval(secs => $8) FROM created RETURNING 1) \
     SELECT c.id, c.title, c.completed, c.created_at, c.updated_at, c.version, \
       f.task_id, f.title, f.completed, f.created_at, f.updated_at, f.version, f.fingerprint, \
       lock.held \
     FROM lock LEFT JOIN created c ON true LEFT JOIN found f ON true \
     WHERE NOT lock.held OR c.id IS NOT NULL OR f.task_id IS NOT NULL"
);

/// Creates task `id` from `new` once per key; returns what was created or replayed.
pub(super) async fn create_once(
    c: &mut Object,
    id: Uuid,
    new: NewTask,
    once: KeyedCreate,
    max: i64,
) -> Result<Created, StoreError> {
    let title: &str = new.title.as_ref();
    let key: &str = once.key.as_ref();
    let fingerprint: &[u8] = &once.fingerprint.0;
    let ttl = once.ttl.as_secs_f64();
    let start = shards::first_shard(id);
    let row = shards::create_with(
        c,
        CREATE_ONCE,
        &[
            &id,
            &title,
            &new.completed,
            &max,
            &start,
            &key,
            &fingerprint,
            &ttl,
        ],
        max,
    )
    .await
    .map_err(|e| {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            StoreError::KeyInFlight
        } else {
            e.into()
        }
    })?
    .ok_or(StoreError::Full { max: count(max) })?;
    if !row.try_get::<_, bool>(13)? {
        return Err(StoreError::KeyInFlight);
    }
    if row.try_get::<_, Option<Uuid>>(0)?.is_some() {
        return Ok(Created {
            task: task_at(&row, 0)?,
            replayed: false,
        });
    }
    match row.try_get::<_, Option<&[u8]>>(12)? {
        Some(seen) if seen == fingerprint => Ok(Created {
            task: task_at(&row, 6)?,
            replayed: true,
        }),
        Some(_) => Err(StoreError::KeyReused),
        // The statement returns a row only with the lock and then a task created or a key found.
        None => Err(StoreError::Other),
    }
}

/// How often each replica deletes expired keys.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// Most keys one sweep statement deletes: a short statement that holds few row locks.
const SWEEP_BATCH: i64 = 500;

/// Deletes up to `$1` expired keys, oldest first, skipping rows another replica's sweep (or a
/// create replacing an expired key) holds; returns how many went.
const SWEEP: &str = "DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM idempotency_keys \
     WHERE expires_at <= clock_timestamp() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)";

/// Keeps the key table to the keys that still count. Expired keys never change an answer (a create
/// ignores and replaces them), so a sweep that fails or falls behind costs space, never correctness.
pub(super) async fn sweep_expired(pool: Pools, op_timeout: Duration) {
    loop {
        tokio::time::sleep(SWEEP_EVERY).await;
        // Batch after batch while they come back full, one pooled connection at a time.
        loop {
            let swept = async {
                let client = pool.get().await.map_err(|e| e.to_string())?;
                let stmt = client
                    .prepare_cached(SWEEP)
                    .await
                    .map_err(|e| e.to_string())?;
                let run = client.execute(&stmt, &[&SWEEP_BATCH]);
                if let Ok(done) = tokio::time::timeout(op_timeout, run).await {
                    done.map_err(|e| e.to_string())
                } else {
                    drop(Object::take(client));
                    Err("timed out".to_owned())
                }
            }
            .await;
            match swept {
                Ok(n) if n >= SWEEP_BATCH.unsigned_abs() => tokio::task::yield_now().await,
                Ok(_) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "sweeping expired idempotency keys failed");
                    break;
                }
            }
        }
    }
}
