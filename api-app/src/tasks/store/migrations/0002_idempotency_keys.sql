-- Idempotency keys of POST /api/tasks. A keyed create inserts its key row in the same statement as
-- the task, so a create that committed is found by its key even if its answer was lost. The row
-- keeps the task as the first create answered it (columns as in `tasks`), so a retry replays that
-- answer even after the task changed or was deleted. `fingerprint` is the SHA-256 of the parsed
-- body: the same key with another body is refused. Rows past `expires_at` no longer count; a sweep
-- deletes them in small batches, oldest first, through the index.
CREATE TABLE idempotency_keys (
    key         text        PRIMARY KEY CHECK (octet_length(key) BETWEEN 1 AND 255),
    fingerprint bytea       NOT NULL CHECK (octet_length(fingerprint) = 32),
    task_id     uuid        NOT NULL,
    title       text        NOT NULL,
    completed   boolean     NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    version     bigint      NOT NULL,
    expires_at  timestamptz NOT NULL
);

CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
