//! Forward-only schema migrations, embedded in the binary and applied at start-up
//! (`DATABASE_MIGRATIONS=apply`) or by `api-app migrate` before the release starts (`verify`, where
//! api-app only checks them: [`verify`]). A session-level advisory lock makes exactly one process
//! migrate while the others wait; each migration runs in its own transaction, so a failure leaves
//! the schema as it was and the process exits non-zero.
//!
//! Every wait for a lock is bounded by [`MigrationTimeouts::lock`], so a migration stuck behind a
//! long transaction gives up (and is retried) instead of queueing every write to the table behind
//! it; every statement by [`MigrationTimeouts::statement`], so a long migration fails loudly instead
//! of holding its locks: long operations run outside start-up (api-app/README.md#migrations).

use std::time::Duration;

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use super::pool::{describe, unavailable};

/// One versioned SQL file from `migrations/`, next to this file.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order. A test checks this list against the files in `migrations/`.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_tasks.sql",
        sql: include_str!("migrations/0001_tasks.sql"),
    },
    Migration {
        version: 2,
        name: "0002_idempotency_keys.sql",
        sql: include_str!("migrations/0002_idempotency_keys.sql"),
    },
    Migration {
        version: 3,
        name: "0003_counter_shards.sql",
        sql: include_str!("migrations/0003_counter_shards.sql"),
    },
];

/// The advisory lock every api-app replica takes to migrate ("api-app:migrate" as a number).
pub const LOCK_KEY: i64 = 0x6170_692d_6d69_6772;

/// How long migrating may wait and run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationTimeouts {
    /// PostgreSQL's `lock_timeout`: the longest wait for the advisory lock (another replica
    /// migrating) or for a table lock a migration needs. Past it the attempt is retried later.
    pub lock: Duration,
    /// PostgreSQL's `statement_timeout` for each migration statement. Past it the migration is
    /// rolled back and the process stops: such a change belongs outside start-up. Longer than
    /// `lock`, which a statement's lock wait counts against too.
    pub statement: Duration,
}

impl MigrationTimeouts {
    /// What api-app uses: a lock wait short enough that writes queued behind a waiting `ALTER`
    /// stall for seconds, not minutes; statements well inside a rollout's progress deadline.
    pub const DEFAULT: Self = Self {
        lock: Duration::from_secs(5),
        statement: Duration::from_secs(30),
    };

    /// How long a round trip of `sql` may go unanswered: the server's own bound for each of its
    /// statements (a count of `;` that errs long), and a margin. Past it the server is not
    /// answering at all (frozen, or a proxy lost it), and its own timeouts will never fire.
    fn answer_within(&self, sql: &str) -> Duration {
        let statements = u32::try_from(sql.matches(';').count() + 1).unwrap_or(u32::MAX);
        self.statement.saturating_mul(statements) + ANSWER_MARGIN
    }
}

/// What a round trip may take beyond the server's own bounds: the network and a busy server.
const ANSWER_MARGIN: Duration = Duration::from_secs(2);

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The connection failed: the database may not be up yet, so starting again may work.
    #[error("the database could not be reached to migrate: {}", describe(.0))]
    Connection(tokio_postgres::Error),
    #[error("migration {name} failed, and was rolled back: {}", describe(.source))]
    Failed {
        name: &'static str,
        source: tokio_postgres::Error,
    },
    #[error(
        "migration {name} differs from the one applied to this database; applied migrations never change, add a new one"
    )]
    Changed { name: &'static str },
    /// The database took the connection but did not answer in time: starting again may work.
    #[error("the database did not answer within {} ms", .0.as_millis())]
    Unanswered(Duration),
    /// `DATABASE_MIGRATIONS=verify`, and the database lacks a migration this binary embeds: the
    /// migrate step has not run yet, so waiting may work.
    #[error(
        "migration {name} is not applied yet (DATABASE_MIGRATIONS=verify: `api-app migrate` applies it, in the clusters the database bootstrap Job)"
    )]
    Pending { name: &'static str },
    /// The login may not act as the owner the URL names, so what it created would not be the
    /// owner's.
    #[error("the login cannot act as {owner}, the owner DATABASE_URL names: {}", describe(.source))]
    NotOwner {
        owner: String,
        source: tokio_postgres::Error,
    },
}

impl MigrationError {
    /// Whether retrying later can help (the database was unreachable, or a lock was held past the
    /// lock timeout), as opposed to a broken or too long migration, which only a new release fixes.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connection(_) | Self::Unanswered(_) | Self::Pending { .. } => true,
            Self::Failed { source, .. } => source.code() == Some(&SqlState::LOCK_NOT_AVAILABLE),
            Self::Changed { .. } => false,
            Self::NotOwner { source, .. } => source.code().is_none_or(unavailable),
        }
    }
}

/// What an error of the migration session means: the database going away (no SQLSTATE: the
/// connection closed or broke; or one that says the server is unavailable, such as 57P01 when it
/// shuts down or restarts) is [`MigrationError::Connection`], retried; anything else is `name`
/// failing.
fn failure(name: &'static str, e: tokio_postgres::Error) -> MigrationError {
    match e.code() {
        Some(code) if !unavailable(code) => MigrationError::Failed { name, source: e },
        _ => MigrationError::Connection(e),
    }
}

/// An error of the bookkeeping around the migrations (the lock, the ledger).
fn connection(e: tokio_postgres::Error) -> MigrationError {
    failure("(bookkeeping)", e)
}

/// `call`'s outcome, its error read by `or`; or [`MigrationError::Unanswered`] once `within` has
/// passed without one.
pub(super) async fn answered<T>(
    within: Duration,
    call: impl Future<Output = Result<T, tokio_postgres::Error>>,
    or: impl FnOnce(tokio_postgres::Error) -> MigrationError,
) -> Result<T, MigrationError> {
    tokio::time::timeout(within, call)
        .await
        .map_err(|_| MigrationError::Unanswered(within))?
        .map_err(or)
}

/// Only the owner writes the ledger: whoever else was granted a write on it (the pods' login role
/// through the default privileges the clusters' bootstrap sets on every table) keeps only what else
/// it holds, such as `SELECT`, which `DATABASE_MIGRATIONS=verify` needs. Otherwise a login that may
/// write rows could forge a migration as applied, or delete one so it runs again.
const LEDGER_OWNER_WRITES_ONLY: &str = "DO $$
DECLARE
    grantee text;
BEGIN
    FOR grantee IN
        SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END
        FROM pg_class c
        CROSS JOIN LATERAL aclexplode(c.relacl) a
        LEFT JOIN pg_roles r ON r.oid = a.grantee
        WHERE c.oid = 'schema_migrations'::regclass AND a.grantee <> c.relowner
          AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')
    LOOP
        EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM %s', grantee);
    END LOOP;
END
$$";

/// Whether the database holds migration `$1` with the text `$2`: no row when it lacks it.
const SAME_AS_APPLIED: &str =
    "SELECT checksum = sha256(convert_to($2, 'UTF8')) FROM schema_migrations WHERE version = $1";

/// Whether the database holds `m`: `Some(true)` as embedded, `Some(false)` changed since, `None`
/// not at all. A database without the ledger has never been migrated: [`MigrationError::Pending`].
async fn applied_as(
    client: &Client,
    m: &Migration,
    within: Duration,
) -> Result<Option<bool>, MigrationError> {
    let row = answered(
        within,
        client.query_opt(SAME_AS_APPLIED, &[&m.version, &m.sql]),
        |e| match e.code() {
            Some(code) if *code == SqlState::UNDEFINED_TABLE => {
                MigrationError::Pending { name: m.name }
            }
            _ => connection(e),
        },
    )
    .await?;
    Ok(row.map(|row| row.get(0)))
}

/// Checks, and changes nothing, that the database holds every migration in `migrations` as
/// embedded (`DATABASE_MIGRATIONS=verify`): [`MigrationError::Pending`] names the first it lacks,
/// [`MigrationError::Changed`] one that differs. Reading the ledger is all the login needs.
pub async fn verify(client: &Client, migrations: &[Migration]) -> Result<(), MigrationError> {
    let within = MigrationTimeouts::DEFAULT.answer_within("");
    for m in migrations {
        match applied_as(client, m, within).await? {
            Some(true) => {}
            Some(false) => return Err(MigrationError::Changed { name: m.name }),
            None => return Err(MigrationError::Pending { name: m.name }),
        }
    }
    Ok(())
}

/// Makes the session act as `owner`, the role the URL names, so what the migrations create
/// belongs to it whichever login runs them: one of the alternating users, or the database's admin
/// (`api-app migrate` in the bootstrap Job). The login must be a member of `owner`.
pub(super) async fn act_as_owner(client: &Client, owner: &str) -> Result<(), MigrationError> {
    answered(
        MigrationTimeouts::DEFAULT.answer_within(""),
        client.execute("SELECT set_config('role', $1, false)", &[&owner]),
        |source| MigrationError::NotOwner {
            owner: owner.to_owned(),
            source,
        },
    )
    .await
    .map(drop)
}

/// Applies the migrations the database lacks, under the lock and within
/// [`MigrationTimeouts::DEFAULT`]; returns the versions it applied. A database migrated by a newer
/// release (versions this binary does not know) is left alone: the expand/contract rule keeps it
/// compatible with the release before.
pub async fn migrate(
    client: &mut Client,
    migrations: &[Migration],
) -> Result<Vec<i64>, MigrationError> {
    migrate_within(client, migrations, MigrationTimeouts::DEFAULT).await
}

/// [`migrate`] with other timeouts (tests shorten them).
pub async fn migrate_within(
    client: &mut Client,
    migrations: &[Migration],
    timeouts: MigrationTimeouts,
) -> Result<Vec<i64>, MigrationError> {
    // This session's own limits, not the pool's: the lock wait is bounded apart from the statements.
    let limits = format!(
        "SET lock_timeout = {}; SET statement_timeout = {}",
        timeouts.lock.as_millis(),
        timeouts.statement.as_millis()
    );
    answered(
        timeouts.answer_within(&limits),
        client.batch_execute(&limits),
        connection,
    )
    .await?;
    let (lock, unlock) = (
        "SELECT pg_advisory_lock($1)",
        "SELECT pg_advisory_unlock($1)",
    );
    answered(
        timeouts.answer_within(lock),
        client.execute(lock, &[&LOCK_KEY]),
        connection,
    )
    .await?;
    let applied = apply(client, migrations, timeouts).await;
    if let Err(MigrationError::Unanswered(_)) = applied {
        // Nobody is answering: the lock ends with the session this error drops.
        return applied;
    }
    // The lock also ends with the session; unlocking lets the next replica go at once.
    let unlocked = answered(
        timeouts.answer_within(unlock),
        client.execute(unlock, &[&LOCK_KEY]),
        connection,
    )
    .await;
    let applied = applied?;
    unlocked?;
    Ok(applied)
}

async fn apply(
    client: &mut Client,
    migrations: &[Migration],
    timeouts: MigrationTimeouts,
) -> Result<Vec<i64>, MigrationError> {
    let ledger = "CREATE TABLE IF NOT EXISTS schema_migrations (
        version    bigint PRIMARY KEY,
        name       text NOT NULL,
        checksum   bytea NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
    )";
    answered(
        timeouts.answer_within(ledger),
        client.batch_execute(ledger),
        connection,
    )
    .await?;
    answered(
        timeouts.answer_within(LEDGER_OWNER_WRITES_ONLY),
        client.batch_execute(LEDGER_OWNER_WRITES_ONLY),
        connection,
    )
    .await?;
    let record = "INSERT INTO schema_migrations (version, name, checksum)
         VALUES ($1, $2, sha256(convert_to($3, 'UTF8')))";
    let one = timeouts.answer_within("");
    let mut done = Vec::new();
    for m in migrations {
        match applied_as(client, m, one).await? {
            Some(true) => continue,
            Some(false) => return Err(MigrationError::Changed { name: m.name }),
            None => {}
        }
        let failed = |e| failure(m.name, e);
        let tx = answered(one, client.transaction(), connection).await?;
        answered(
            timeouts.answer_within(m.sql),
            tx.batch_execute(m.sql),
            failed,
        )
        .await?;
        answered(
            one,
            tx.execute(record, &[&m.version, &m.name, &m.sql]),
            failed,
        )
        .await?;
        answered(one, tx.commit(), failed).await?;
        tracing::info!(migration = m.name, "migration applied");
        done.push(m.version);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index a migration builds: on which table, and whether `CONCURRENTLY` or `IF NOT EXISTS`.
    #[derive(Debug, PartialEq, Eq)]
    struct Index {
        table: String,
        concurrently: bool,
        if_not_exists: bool,
    }

    /// The names of the tables `CREATE TABLE` makes in `sql`, lower-cased, and the indexes
    /// `CREATE INDEX` builds.
    fn created_and_indexed(sql: &str) -> (Vec<String>, Vec<Index>) {
        let words: Vec<String> = sql
            .lines()
            .map(|line| line.split("--").next().unwrap_or_default())
            .flat_map(|line| line.split(|c: char| c.is_whitespace() || c == '('))
            .filter(|w| !w.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        let mut created = Vec::new();
        let mut indexed = Vec::new();
        for (i, w) in words.iter().enumerate() {
            if w == "table" && i > 0 && words[i - 1] == "create" {
                let name = words[i + 1..]
                    .iter()
                    .find(|w| !["if", "not", "exists"].contains(&w.as_str()));
                created.extend(name.cloned());
            }
            if w == "index" && words[..i].iter().rev().take(2).any(|w| w == "create") {
                let on = words[i..].iter().position(|w| w == "on");
                let head = &words[i..i + on.unwrap_or(0)];
                if let Some(table) = on.and_then(|at| words.get(i + at + 1)) {
                    indexed.push(Index {
                        table: table.clone(),
                        concurrently: head.iter().any(|w| w == "concurrently"),
                        if_not_exists: head.iter().any(|w| w == "exists"),
                    });
                }
            }
        }
        (created, indexed)
    }

    /// Why `sql` may not be an embedded migration, if it builds an index the wrong way: a plain
    /// `CREATE INDEX` on a table with rows blocks its writes for as long as the build takes, at
    /// start-up. Such an index is built `CONCURRENTLY` by hand first and recorded with
    /// `IF NOT EXISTS` (api-app/README.md#migrations).
    fn index_rule_broken(sql: &str) -> Option<String> {
        let (created, indexed) = created_and_indexed(sql);
        indexed.into_iter().find_map(|index| {
            if index.concurrently {
                Some("CONCURRENTLY cannot run in a migration's transaction".to_owned())
            } else if !created.contains(&index.table) && !index.if_not_exists {
                Some(format!(
                    "a plain CREATE INDEX on {}, which an earlier migration created",
                    index.table
                ))
            } else {
                None
            }
        })
    }

    #[test]
    fn an_embedded_migration_builds_no_index_on_an_existing_table() {
        for m in MIGRATIONS {
            assert_eq!(index_rule_broken(m.sql), None, "{}", m.name);
        }
        for fine in [
            "CREATE TABLE keys (id int);\nCREATE UNIQUE INDEX keys_id ON keys (id);",
            "-- CREATE INDEX ON tasks (title)\nCREATE TABLE notes (id int);",
            "CREATE INDEX IF NOT EXISTS tasks_title ON tasks (title);",
        ] {
            assert_eq!(index_rule_broken(fine), None, "{fine}");
        }
        for broken in [
            "CREATE INDEX tasks_title ON tasks (title);",
            "create unique index tasks_title on only tasks (title);",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_title ON tasks (title);",
        ] {
            assert!(index_rule_broken(broken).is_some(), "{broken}");
        }
    }

    #[test]
    fn every_file_in_migrations_is_embedded_in_order() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tasks/store/migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| {
                std::path::Path::new(n)
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("sql"))
            })
            .collect();
        files.sort();
        let embedded: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
        assert_eq!(files, embedded);
        // Versions count up from 1; 0002 is reserved for a migration that lands separately.
        let versions: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
        let expected: Vec<i64> = (1..=versions.last().copied().unwrap_or(0))
            .filter(|v| *v != 2 || versions.contains(&2))
            .collect();
        assert_eq!(versions, expected, "versions count up from 1");
        for m in MIGRATIONS {
            assert!(
                m.name.starts_with(&format!("{:04}_", m.version)),
                "{}",
                m.name
            );
        }
    }
}
