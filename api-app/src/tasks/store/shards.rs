//! How PostgreSQL counts tasks without one hot row: counter shards with budgets, and the ledger row
//! that keeps `MAX_TASKS` exact across replicas (migration 0003; bench/STORE.md says why).
//!
//! A create takes any shard row that no other transaction holds and that still has budget
//! (`FOR UPDATE SKIP LOCKED`), counts itself there and inserts, in one statement: concurrent creates
//! lock different rows and commit together. When no shard has budget left, the create shares out
//! budgets anew under the lock of the ledger and of every shard, at most what `MAX_TASKS` leaves free,
//! and half of that at most, so that a previous release counting in the ledger still finds room.

use deadpool_postgres::{GenericClient, Object};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

/// The shard rows migration 0003 creates.
pub(super) const SHARDS: u8 = 32;

/// Most budget one shard receives in one sharing: a shard out of budget shares anew about once
/// every `SHARDS * GRANT` creates, far from the cap.
const GRANT: i64 = 256;

/// How many tasks are stored, as one row `total`: those the ledger counts outside any shard (its
/// total less the budgets it handed out) plus those the shards count.
macro_rules! stored_total {
    () => {
        "SELECT (c.total - s.budget + s.total)::bigint AS total FROM task_counts c, \
         (SELECT sum(budget) AS budget, sum(total) AS total FROM task_count_shards) s"
    };
}
pub(super) use stored_total;

/// The totals for the stats endpoint: stored, completed.
pub(super) const STORED_COUNTS: &str = "SELECT (c.total - s.budget + s.total)::bigint, \
     (c.completed + s.completed)::bigint FROM task_counts c, \
     (SELECT sum(budget) AS budget, sum(total) AS total, sum(completed) AS completed \
      FROM task_count_shards) s";

/// The two CTEs that count a create in a shard: `pick` locks the first shard from `$5` on that has
/// budget for `$tasks` more under this `MAX_TASKS` (`$4`) and that no other transaction holds, and
/// `counted` counts them there, `$completed` of them completed. A single create counts one task,
/// completed when `$3` is. `$gate` is one more condition for picking (and so for creating) at all.
macro_rules! shard_ctes {
    ($gate:literal) => {
        shard_ctes!("1", "CASE WHEN $3 THEN 1 ELSE 0 END", $gate)
    };
    ($tasks:literal, $completed:literal, $gate:literal) => {
        concat!(
            "pick AS (SELECT shard FROM task_count_shards WHERE total + ",
            $tasks,
            " <= budget AND max_tasks = $4",
            $gate,
            " ORDER BY shard < $5, shard LIMIT 1 FOR UPDATE SKIP LOCKED), \
             counted AS (UPDATE task_count_shards s SET total = s.total + ",
            $tasks,
            ", completed = s.completed + ",
            $completed,
            " FROM pick WHERE s.shard = pick.shard RETURNING s.shard)"
        )
    };
}
pub(super) use shard_ctes;

/// Inserts the task `counted` counted, with its shard (`$1` id, `$2` title, `$3` completed), and
/// returns its columns (`TASK_COLUMNS`). One clock reading is both timestamps.
macro_rules! insert_counted {
    () => {
        "INSERT INTO tasks (id, title, completed, created_at, updated_at, shard) \
         SELECT $1, $2, $3, clock.at, clock.at, clock.shard \
         FROM (SELECT clock_timestamp() AS at, shard FROM counted) clock \
         RETURNING id, title, completed, created_at, updated_at, version"
    };
}
pub(super) use insert_counted;

/// A create, in one statement ([`shard_ctes`] then [`insert_counted`]): returns the task's columns;
/// no row when no shard could take it. It does not read the stored total: summing every shard
/// costed a create about a fifth of its throughput (bench/STORE.md), and the create knows the total
/// grew by one.
const CREATE_IN_A_SHARD: &str = concat!("WITH ", shard_ctes!(""), " ", insert_counted!());

/// Creates that arrive together (`postgres/batch.rs`), in one statement: one shard with budget for
/// all of them (`$6` tasks, `$7` of them completed) counts them, and they are inserted in the order
/// given (`$1` ids, `$2` titles, `$3` completed, as arrays). Returns their columns; no row when no
/// shard has room for all of them. One clock reading is every timestamp.
const CREATE_TOGETHER: &str = concat!(
    "WITH ",
    shard_ctes!("$6::bigint", "$7::bigint", ""),
    // Materialized: joined to the tasks, a subquery would read the clock again for each of them.
    ", clock AS MATERIALIZED (SELECT clock_timestamp() AS at, shard FROM counted) \
     INSERT INTO tasks (id, title, completed, created_at, updated_at, shard) \
     SELECT n.id, n.title, n.completed, clock.at, clock.at, clock.shard \
     FROM clock, unnest($1::uuid[], $2::text[], $3::boolean[]) WITH ORDINALITY AS n(id, title, completed, ord) \
     ORDER BY n.ord \
     RETURNING id, title, completed, created_at, updated_at, version"
);

/// Where a create's search for a free shard starts (its `$5`): spread by the new id's random bits.
pub(super) fn first_shard(id: Uuid) -> i16 {
    i16::from(id.as_bytes()[0] % SHARDS)
}

/// Inserts task `id`, counted in a shard. Returns the row of [`CREATE_IN_A_SHARD`], or `None` when
/// `max` tasks are stored already.
pub(super) async fn create(
    client: &mut Object,
    id: Uuid,
    title: &str,
    completed: bool,
    max: i64,
) -> Result<Option<Row>, tokio_postgres::Error> {
    let start = first_shard(id);
    create_with(
        client,
        CREATE_IN_A_SHARD,
        &[&id, &title, &completed, &max, &start],
        max,
    )
    .await
}

/// Inserts the tasks `ids` (with their `titles` and `completed`) counted together in one shard, in
/// one statement. Returns their rows, in no particular order, or none at all when no shard has
/// budget for every one of them: [`create`] then takes them one at a time (and shares out budgets
/// when it must), so the cap stays as exact as for single creates.
pub(super) async fn create_together(
    client: &mut Object,
    ids: &[Uuid],
    titles: &[String],
    completed: &[bool],
    max: i64,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let start = ids.first().map_or(0, |id| first_shard(*id));
    let tasks = i64::try_from(ids.len()).unwrap_or(i64::MAX);
    let done = i64::try_from(completed.iter().filter(|c| **c).count()).unwrap_or(i64::MAX);
    let stmt = client.prepare_cached(CREATE_TOGETHER).await?;
    client
        .query(
            &stmt,
            &[&ids, &titles, &completed, &max, &start, &tasks, &done],
        )
        .await
}

/// Runs `sql`, a statement that creates through [`shard_ctes`] with `params` (`$1`-`$5` as
/// [`CREATE_IN_A_SHARD`]'s, any more after them), and that returns no row exactly when no shard
/// could take the create. Then it shares out budgets and runs `sql` again, until it returns a row
/// or `max` tasks are stored (`None`).
pub(super) async fn create_with(
    client: &mut Object,
    sql: &'static str,
    params: &[&(dyn ToSql + Sync)],
    max: i64,
) -> Result<Option<Row>, tokio_postgres::Error> {
    for _ in 0..SHARING_WAITS {
        let stmt = client.prepare_cached(sql).await?;
        if let Some(row) = client.query_opt(&stmt, params).await? {
            return Ok(Some(row));
        }
        // No free shard with budget. Wait for the ledger: if another create was sharing out
        // meanwhile (holding every shard, which is why none was free), there is budget now, and
        // this create goes back to the shards rather than share out again behind it.
        let tx = client.transaction().await?;
        tx.query_one("SELECT total FROM task_counts FOR UPDATE", &[])
            .await?;
        let budget_left = tx
            .query_opt(
                "SELECT 1 FROM task_count_shards WHERE total < budget AND max_tasks = $1 LIMIT 1",
                &[&max],
            )
            .await?
            .is_some();
        if !budget_left {
            return share_and_create(tx, sql, params, max).await;
        }
        tx.rollback().await?;
    }
    // Every shard with budget stayed held (more creates in flight than shards): share out, which
    // waits for them.
    let tx = client.transaction().await?;
    share_and_create(tx, sql, params, max).await
}

/// How often a create that found no free shard goes back to the shards before it shares out.
const SHARING_WAITS: usize = 3;

/// Shares out budgets anew and creates under the same locks, so this create cannot lose the room
/// it was shared to another: the ledger row, then every shard in order, then the counts are exact.
async fn share_and_create(
    tx: deadpool_postgres::Transaction<'_>,
    sql: &'static str,
    params: &[&(dyn ToSql + Sync)],
    max: i64,
) -> Result<Option<Row>, tokio_postgres::Error> {
    let ledger: i64 = tx
        .query_one("SELECT total FROM task_counts FOR UPDATE", &[])
        .await?
        .try_get(0)?;
    let rows = tx
        .query(
            "SELECT shard, total, budget FROM task_count_shards ORDER BY shard FOR UPDATE",
            &[],
        )
        .await?;
    let mut shards = Vec::with_capacity(rows.len());
    for row in &rows {
        shards.push(Shard {
            id: row.try_get(0)?,
            total: row.try_get(1)?,
            budget: row.try_get(2)?,
        });
    }
    let Some(shared) = share_budgets(ledger, &shards, max) else {
        return Ok(None);
    };
    let ids: Vec<i16> = shards.iter().map(|s| s.id).collect();
    tx.execute(
        "UPDATE task_count_shards s SET budget = b.budget, max_tasks = $3 \
         FROM unnest($1::smallint[], $2::bigint[]) AS b(shard, budget) WHERE s.shard = b.shard",
        &[&ids, &shared.budgets, &max],
    )
    .await?;
    tx.execute("UPDATE task_counts SET total = $1", &[&shared.ledger])
        .await?;
    let stmt = tx.prepare_cached(sql).await?;
    let row = tx.query_opt(&stmt, params).await?;
    tx.commit().await?;
    Ok(row)
}

/// Takes a task out of the counts of `shard` (the ledger's for `None`), with its completion.
/// Returns the stored total after it.
pub(super) async fn uncount(
    tx: &impl GenericClient,
    shard: Option<i16>,
    completed: bool,
) -> Result<i64, tokio_postgres::Error> {
    add(tx, shard, -1, -i64::from(completed)).await?;
    let stmt = tx.prepare_cached(stored_total!()).await?;
    tx.query_one(&stmt, &[]).await?.try_get(0)
}

/// Moves one task's completion by `delta` (1 or -1) in the counts of `shard` (the ledger's for
/// `None`).
pub(super) async fn count_completion(
    tx: &impl GenericClient,
    shard: Option<i16>,
    delta: i64,
) -> Result<(), tokio_postgres::Error> {
    add(tx, shard, 0, delta).await
}

/// Adds `total` and `completed` to the counts of `shard`, or of the ledger for `None`.
async fn add(
    tx: &impl GenericClient,
    shard: Option<i16>,
    total: i64,
    completed: i64,
) -> Result<(), tokio_postgres::Error> {
    if let Some(shard) = shard {
        let stmt = tx
            .prepare_cached(
                "UPDATE task_count_shards SET total = total + $2, completed = completed + $3 \
                 WHERE shard = $1",
            )
            .await?;
        tx.execute(&stmt, &[&shard, &total, &completed]).await?;
    } else {
        let stmt = tx
            .prepare_cached("UPDATE task_counts SET total = total + $1, completed = completed + $2")
            .await?;
        tx.execute(&stmt, &[&total, &completed]).await?;
    }
    Ok(())
}

/// One shard row as the sharing reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shard {
    id: i16,
    total: i64,
    budget: i64,
}

/// New budgets, one per shard in the order given, and the ledger's total that goes with them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shared {
    budgets: Vec<i64>,
    ledger: i64,
}

/// Shares out what `max` leaves free, or `None` when `max` tasks are stored. Every shard keeps what
/// it counts and gets up to [`GRANT`] more, half of the free room at most; near the cap, where that
/// half is less than one per shard, one shard gets room for exactly one task. The ledger then holds
/// the tasks counted outside the shards plus every budget, at most `max`.
fn share_budgets(ledger: i64, shards: &[Shard], max: i64) -> Option<Shared> {
    let handed_out: i64 = shards.iter().map(|s| s.budget).sum();
    let outside = ledger - handed_out;
    let stored = outside + shards.iter().map(|s| s.total).sum::<i64>();
    if stored >= max || shards.is_empty() {
        return None;
    }
    let free = max - stored;
    let n = i64::try_from(shards.len()).unwrap_or(i64::MAX);
    let each = (free / (2 * n)).min(GRANT);
    let budgets: Vec<i64> = shards
        .iter()
        .enumerate()
        .map(|(i, s)| s.total + if each > 0 || i == 0 { each.max(1) } else { 0 })
        .collect();
    let ledger = outside + budgets.iter().sum::<i64>();
    Some(Shared { budgets, ledger })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn shards(counts: &[(i64, i64)]) -> Vec<Shard> {
        counts
            .iter()
            .zip(0_i16..)
            .map(|(&(total, budget), id)| Shard { id, total, budget })
            .collect()
    }

    #[test]
    fn far_from_the_cap_every_shard_gets_a_grant_and_half_the_room_stays_free() {
        let fresh = shards(&[(0, 0); 32]);
        let shared = share_budgets(0, &fresh, 10_000_000).unwrap();
        assert!(shared.budgets.iter().all(|b| *b == GRANT));
        assert_eq!(shared.ledger, 32 * GRANT);
        // MAX_TASKS 10 000: half of it, over 32 shards.
        let shared = share_budgets(0, &fresh, 10_000).unwrap();
        assert!(shared.budgets.iter().all(|b| *b == 156), "{shared:?}");
    }

    #[test]
    fn near_the_cap_one_shard_gets_room_for_one_and_at_the_cap_none() {
        // 30 of 31 stored: 10 outside the shards, 20 in them.
        let mut near = shards(&[(0, 0); 32]);
        near[5] = Shard {
            id: 5,
            total: 20,
            budget: 20,
        };
        let shared = share_budgets(30, &near, 31).unwrap();
        assert_eq!(shared.budgets.iter().sum::<i64>(), 21);
        assert_eq!(shared.budgets[0], 1);
        assert_eq!(shared.ledger, 10 + 21);
        assert_eq!(share_budgets(31, &near, 31), None, "31 of 31");
        // A replica configured with a lower cap than what is stored shares nothing.
        assert_eq!(share_budgets(30, &near, 25), None);
    }

    proptest! {
        /// Whatever the counts, a sharing never lets the shards and the ledger together pass the
        /// cap, never takes budget a shard has used, and leaves room for the create that asked
        /// whenever fewer than `max` tasks are stored.
        #[test]
        fn shared_budgets_never_pass_the_cap_and_leave_room_below_it(
            counts in proptest::collection::vec((0..500_i64, 0..500_i64), 1..40),
            outside in -200..2_000_i64,
            max in 1..20_000_i64,
        ) {
            let shards: Vec<Shard> = counts
                .iter()
                .zip(0_i16..)
                .map(|(&(total, spare), id)| Shard { id, total, budget: total + spare })
                .collect();
            let ledger = outside + shards.iter().map(|s| s.budget).sum::<i64>();
            let stored = outside + shards.iter().map(|s| s.total).sum::<i64>();
            match share_budgets(ledger, &shards, max) {
                None => prop_assert!(stored >= max),
                Some(shared) => {
                    prop_assert!(stored < max);
                    let handed_out: i64 = shared.budgets.iter().sum();
                    prop_assert_eq!(shared.ledger, outside + handed_out);
                    prop_assert!(outside + handed_out <= max, "the cap holds");
                    for (s, b) in shards.iter().zip(&shared.budgets) {
                        prop_assert!(*b >= s.total, "no budget below what a shard counts");
                    }
                    prop_assert!(
                        shards.iter().zip(&shared.budgets).any(|(s, b)| *b > s.total),
                        "room for the create that asked"
                    );
                }
            }
        }
    }
}
