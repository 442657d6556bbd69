//! api-app on PostgreSQL: what only a shared, durable store can promise. Acknowledged creates
//! survive SIGKILL, `MAX_TASKS` and `If-Match` hold across two processes on one database, a
//! database that stops, hangs or starts late is a bounded 503 (never a hang), migrations run once
//! under a lock and a failed one stops the process, a rotated password (or the other of two
//! alternating users) is used without a restart; its connections are encrypted
//! (`sslmode=require`, `verify-full`). Needs `TEST_DATABASE_URL`: run under
//! `scripts/with-postgres.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

mod compat;
mod durability;
mod idempotency;
mod migrations;
mod outages;
mod paging;
mod pools;
mod proxy;
mod replicas;
mod rotation;
mod shards;
mod tls;
