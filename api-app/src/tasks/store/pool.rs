//! The connection pool: the password re-read from `DATABASE_PASSWORD_FILE` for every new connection
//! (so a rotated secret is used with no restart), bounded waits, and one line for a database error.

use std::path::PathBuf;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures_util::future::BoxFuture;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::settings::{PgSettings, read_password};

/// Builds the pool. No connection is opened until the first is needed.
pub(crate) fn pool(settings: &PgSettings) -> Result<Pool, String> {
    let manager = Manager::from_connect(
        settings.config.clone(),
        PasswordFileConnect {
            password_file: settings.password_file.clone(),
            tls: settings.tls.clone(),
        },
        ManagerConfig {
            // A closed connection is noticed without a round trip; a broken one fails its
            // query, is dropped, and the pool opens a fresh one.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(settings.pool_max)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(settings.acquire_timeout))
        .create_timeout(Some(settings.acquire_timeout))
        .recycle_timeout(Some(settings.acquire_timeout))
        .build()
        .map_err(|e| e.to_string())
}

/// One connection outside the pool (migrations, which must not hold a pooled connection for long).
pub async fn connect_once(
    settings: &PgSettings,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = with_password(&settings.config, settings.password_file.as_ref())
        .connect(settings.tls.clone())
        .await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "database connection closed");
        }
    });
    Ok(client)
}

fn with_password(
    config: &tokio_postgres::Config,
    password_file: Option<&PathBuf>,
) -> tokio_postgres::Config {
    let mut config = config.clone();
    if let Some(path) = password_file {
        // A small file on a tmpfs mount: reading it inline is cheaper than a blocking-pool hop.
        match read_password(path) {
            Ok(password) => {
                config.password(password);
            }
            // Connecting without it fails authentication, which the caller sees as "unavailable".
            Err(e) => tracing::warn!(error_kind = %e.kind(), "cannot read DATABASE_PASSWORD_FILE"),
        }
    }
    config
}

/// deadpool-postgres's hook for opening a connection: here the password is read from its file.
struct PasswordFileConnect {
    password_file: Option<PathBuf>,
    tls: MakeRustlsConnect,
}

impl deadpool_postgres::Connect for PasswordFileConnect {
    fn connect(
        &self,
        pg_config: &tokio_postgres::Config,
    ) -> BoxFuture<
        '_,
        Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>,
    > {
        let config = with_password(pg_config, self.password_file.as_ref());
        let tls = self.tls.clone();
        Box::pin(async move {
            let (client, connection) = config.connect(tls).await?;
            let task = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "database connection closed");
                }
            });
            Ok((client, task))
        })
    }
}

/// A database error in one line, with PostgreSQL's own message and SQLSTATE (tokio-postgres's
/// `Display` says only "db error"). Never holds a password: the server does not echo one.
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_file_is_read_fresh_and_without_its_newline() {
        let path = std::env::temp_dir().join(format!("pw-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, "first\n").unwrap();
        let base: tokio_postgres::Config = "postgres://u@h/d".parse().unwrap();
        let c = with_password(&base, Some(&path));
        assert_eq!(c.get_password(), Some(&b"first"[..]));
        std::fs::write(&path, "second\r\n").unwrap();
        let c = with_password(&base, Some(&path));
        assert_eq!(c.get_password(), Some(&b"second"[..]));
        std::fs::remove_file(path).unwrap();
    }
}
