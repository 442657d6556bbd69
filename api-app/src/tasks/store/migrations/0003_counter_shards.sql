-- Creates that do not queue on one row. Until now every create updated the one `task_counts` row and
-- held its lock until its commit, so creates committed one at a time, whatever the number of
-- replicas. The counts now live in shard rows: a create takes any shard that no other transaction
-- holds and that still has budget (FOR UPDATE SKIP LOCKED), so concurrent creates commit together.
--
-- MAX_TASKS stays exact: a shard counts at most its `budget`, and budgets are only handed out by a
-- transaction that holds the lock of `task_counts` and of every shard, which shares out no more
-- than MAX_TASKS leaves free (bench/STORE.md says why that is enough).
--
-- `task_counts` becomes the ledger of that sharing, so the release before this one keeps working
-- during a rolling update: its `total` is now the tasks counted outside any shard (every task from
-- before this migration, and those the previous release creates) plus every budget handed to a
-- shard. The previous release still checks `total < MAX_TASKS` under its row lock and adds or
-- removes one, exactly as before, and so can never pass the cap either.
CREATE TABLE task_count_shards (
    shard     smallint PRIMARY KEY CHECK (shard >= 0),
    -- The tasks this shard counts, of which `completed` are completed.
    total     bigint NOT NULL DEFAULT 0,
    completed bigint NOT NULL DEFAULT 0,
    -- How many tasks this shard may count: a create on it needs `total < budget`.
    budget    bigint NOT NULL DEFAULT 0,
    -- The MAX_TASKS the budgets were shared out under: a replica configured otherwise shares anew.
    max_tasks bigint NOT NULL DEFAULT 0,
    CHECK (total BETWEEN 0 AND budget)
);
INSERT INTO task_count_shards (shard) SELECT g FROM generate_series(0, 31) AS g;

-- The shard that counts a task; NULL for a task the ledger counts (see above).
ALTER TABLE tasks ADD COLUMN shard smallint;

-- A task can now move its completion between a shard and the ledger (this release counts it in its
-- shard, the previous one completes it in the ledger), so the ledger's `completed` may leave
-- 0..total for a while; the sum over the ledger and the shards stays exact.
ALTER TABLE task_counts DROP CONSTRAINT IF EXISTS task_counts_check;
