-- Tasks in creation order. `seq` orders pages (a bigint identity, so ties cannot happen);
-- `version` is the ETag, grown by every change; `task_counts` is the one row that holds the totals,
-- updated in the same transaction as every insert and delete, so `total` is never a COUNT(*) and
-- its row lock makes MAX_TASKS exact across replicas.
CREATE TABLE tasks (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         uuid        NOT NULL UNIQUE,
    title      text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    completed  boolean     NOT NULL DEFAULT false,
    version    bigint      NOT NULL DEFAULT 1 CHECK (version >= 1),
    -- clock_timestamp(), not now(): the row is written after the counter row's lock is taken, so
    -- creation times follow `seq` rather than the order transactions happened to start in.
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE task_counts (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    total     bigint  NOT NULL CHECK (total >= 0),
    completed bigint  NOT NULL CHECK (completed BETWEEN 0 AND total)
);

INSERT INTO task_counts (singleton, total, completed) VALUES (true, 0, 0);
