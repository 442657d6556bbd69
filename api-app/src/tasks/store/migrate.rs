//! Forward-only schema migrations, embedded in the binary and applied at start-up. A session-level
//! advisory lock makes exactly one replica migrate while the others wait; each migration runs in its
//! own transaction, so a failure leaves the schema as it was and the process exits non-zero.

use tokio_postgres::Client;

use super::pool::describe;

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
    // 0002 is reserved for the idempotency keys (issue 21), which land separately.
    Migration {
        version: 3,
        name: "0003_counter_shards.sql",
        sql: include_str!("migrations/0003_counter_shards.sql"),
    },
];

/// The advisory lock every api-app replica takes to migrate ("api-app:migrate" as a number).
const LOCK_KEY: i64 = 0x6170_692d_6d69_6772;

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
}

impl MigrationError {
    /// Whether retrying later can help (the database was unreachable), as opposed to a broken
    /// migration, which only a new release fixes.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Connection(_))
    }
}

fn connection(e: tokio_postgres::Error) -> MigrationError {
    if e.as_db_error().is_some() {
        MigrationError::Failed {
            name: "(bookkeeping)",
            source: e,
        }
    } else {
        MigrationError::Connection(e)
    }
}

/// Applies the migrations the database lacks, under the lock; returns the versions it applied.
/// A database migrated by a newer release (versions this binary does not know) is left alone: the
/// expand/contract rule keeps it compatible with the release before.
pub async fn migrate(
    client: &mut Client,
    migrations: &[Migration],
) -> Result<Vec<i64>, MigrationError> {
    // Waiting for another replica's migration, and a migration itself, may outlast the statement
    // timeout the pool's connections carry.
    client
        .batch_execute("SET statement_timeout = 0")
        .await
        .map_err(connection)?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(connection)?;
    let applied = apply(client, migrations).await;
    // The lock also ends with the session; unlocking lets the next replica go at once.
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await;
    let applied = applied?;
    unlocked.map_err(connection)?;
    Ok(applied)
}

async fn apply(client: &mut Client, migrations: &[Migration]) -> Result<Vec<i64>, MigrationError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    bigint PRIMARY KEY,
                name       text NOT NULL,
                checksum   bytea NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(connection)?;
    let mut done = Vec::new();
    for m in migrations {
        let same: Option<bool> = client
            .query_opt(
                "SELECT checksum = sha256(convert_to($2, 'UTF8')) FROM schema_migrations WHERE version = $1",
                &[&m.version, &m.sql],
            )
            .await
            .map_err(connection)?
            .map(|row| row.get(0));
        match same {
            Some(true) => continue,
            Some(false) => return Err(MigrationError::Changed { name: m.name }),
            None => {}
        }
        let failed = |source| MigrationError::Failed {
            name: m.name,
            source,
        };
        let tx = client.transaction().await.map_err(connection)?;
        tx.batch_execute(m.sql).await.map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum)
             VALUES ($1, $2, sha256(convert_to($3, 'UTF8')))",
            &[&m.version, &m.name, &m.sql],
        )
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        tracing::info!(migration = m.name, "migration applied");
        done.push(m.version);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

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
