//! The connection pools, one per worker ([`Pools`]): the user and password re-read from `DATABASE_USER_FILE` and
//! `DATABASE_PASSWORD_FILE` for every new connection (so a rotated secret, even one that switches to
//! the other of two alternating users, is used with no restart), bounded waits, and one line for a
//! database error.

use std::path::{Path, PathBuf};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures_util::future::BoxFuture;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::settings::{PgSettings, read_secret};

/// The connections, in one pool per worker thread. tokio-postgres drives each connection from a
/// task on the runtime that opened it, and every actix worker is a runtime of its own: a query on
/// a connection another worker opened crossed threads twice (the query to that worker, the rows
/// back), each a wake-up of a thread that may have gone to sleep. A worker takes connections from
/// its own pool ([`claim_pool`]), so they stay on the thread that opened them (`bench/STORE.md`).
/// When its pool has every connection in use and no room for another, it takes one from another
/// pool (an idle one first, else room for a new one) before it waits, as one shared pool would.
/// Together the pools hold at most `DATABASE_POOL_MAX` connections.
#[derive(Debug, Clone)]
pub(crate) struct Pools(std::sync::Arc<[Pool]>);

thread_local! {
    /// The pool this thread claimed. A thread that claimed none (the runtime that opened the
    /// store, which runs its background work) takes from the first.
    static OWN_POOL: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Claims the calling thread a pool of its own in every PostgreSQL store. Each worker calls it
/// once, as it builds its app: consecutive claims take consecutive pools.
pub fn claim_pool() {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    OWN_POOL.set(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
}

/// Which of `pools` pools the calling thread takes from.
fn own_pool(pools: usize) -> usize {
    OWN_POOL.get() % pools
}

/// How many connections the pools hold, added up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    /// The most they may open: `DATABASE_POOL_MAX`.
    pub(crate) max: usize,
    /// Open now, idle or in use.
    pub(crate) open: usize,
    /// Open and idle.
    pub(crate) idle: usize,
}

impl Pools {
    /// `settings.pool_max` connections in one pool per worker, as even as they divide (fewer pools
    /// when there are fewer connections than workers). No connection is opened yet.
    pub(crate) fn new(settings: &PgSettings, workers: usize) -> Result<Self, String> {
        let pools = workers.clamp(1, settings.pool_max.max(1));
        let (share, extra) = (settings.pool_max / pools, settings.pool_max % pools);
        (0..pools)
            .map(|n| pool(settings, share + usize::from(n < extra)))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// A connection from the calling thread's pool; when that one has every connection in use and
    /// no room, one from another pool that has it at once; else the wait, in its own pool, for
    /// one to come back (bounded by the acquire timeout).
    pub(crate) async fn get(
        &self,
    ) -> Result<deadpool_postgres::Object, deadpool_postgres::PoolError> {
        let own = &self.0[own_pool(self.0.len())];
        let status = own.status();
        if status.available == 0 && status.size >= status.max_size {
            let others = || self.0.iter().filter(|p| !std::ptr::eq(*p, own));
            let idle_first = others()
                .filter(|p| p.status().available > 0)
                .chain(others());
            for other in idle_first {
                let timeouts = other.timeouts();
                let at_once = deadpool_postgres::Timeouts {
                    wait: Some(std::time::Duration::ZERO),
                    create: timeouts.create,
                    recycle: timeouts.recycle,
                };
                if let Ok(client) = other.timeout_get(&at_once).await {
                    return Ok(client);
                }
            }
        }
        own.get().await
    }

    /// The pools' connections, added up.
    pub(crate) fn usage(&self) -> Usage {
        let each = || self.0.iter().map(Pool::status);
        Usage {
            max: each().map(|s| s.max_size).sum(),
            open: each().map(|s| s.size).sum(),
            idle: each().map(|s| s.available).sum(),
        }
    }
}

/// Builds one worker's pool of at most `max` connections. No connection is opened until the first
/// is needed.
fn pool(settings: &PgSettings, max: usize) -> Result<Pool, String> {
    let manager = Manager::from_connect(
        settings.config.clone(),
        CredentialFileConnect {
            files: CredentialFiles::of(settings),
            tls: settings.tls.clone(),
        },
        ManagerConfig {
            // A closed connection is noticed without a round trip; a broken one fails its
            // query, is dropped, and the pool opens a fresh one.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(max)
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
    let (client, connection) = CredentialFiles::of(settings)
        .apply(&settings.config)
        .connect(settings.tls.clone())
        .await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "database connection closed");
        }
    });
    Ok(client)
}

/// Where the credentials of the next connection come from: the mounted Secret's files, read as
/// they are at that moment.
#[derive(Clone)]
struct CredentialFiles {
    user: Option<PathBuf>,
    password: Option<PathBuf>,
}

impl CredentialFiles {
    fn of(settings: &PgSettings) -> Self {
        Self {
            user: settings.user_file.clone(),
            password: settings.password_file.clone(),
        }
    }

    /// `config` with the files' user (over the URL's) and password. A rotation replaces both files
    /// at once (the kubelet swaps the Secret volume's directory), but reading two files is two
    /// steps: the user is read again after the password, and a pair that straddles the swap is
    /// read again, so a new user is never tried with the old user's password.
    fn apply(&self, config: &tokio_postgres::Config) -> tokio_postgres::Config {
        let mut config = config.clone();
        for _ in 0..3 {
            let user = self
                .user
                .as_deref()
                .and_then(|p| read("DATABASE_USER_FILE", p));
            let password = self
                .password
                .as_deref()
                .and_then(|p| read("DATABASE_PASSWORD_FILE", p));
            let settled = user.is_none()
                || self
                    .user
                    .as_deref()
                    .and_then(|p| read("DATABASE_USER_FILE", p))
                    == user;
            if let Some(user) = user.filter(|u| !u.is_empty()) {
                config.user(user);
            }
            // Connecting without it fails authentication, which the caller sees as "unavailable".
            if let Some(password) = password {
                config.password(password);
            }
            if settled {
                break;
            }
        }
        config
    }
}

/// A small file on a tmpfs mount: reading it inline is cheaper than a blocking-pool hop. A failure
/// is logged by the variable that names the file and its kind, never with the content.
fn read(var: &'static str, path: &Path) -> Option<String> {
    read_secret(path)
        .inspect_err(|e| tracing::warn!(error_kind = %e.kind(), "cannot read {var}"))
        .ok()
}

/// deadpool-postgres's hook for opening a connection: here the user and password are read from
/// their files.
struct CredentialFileConnect {
    files: CredentialFiles,
    tls: MakeRustlsConnect,
}

impl deadpool_postgres::Connect for CredentialFileConnect {
    fn connect(
        &self,
        pg_config: &tokio_postgres::Config,
    ) -> BoxFuture<
        '_,
        Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>,
    > {
        let config = self.files.apply(pg_config);
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

/// Whether a SQLSTATE says the database is not there to answer (a connection exception, exhausted
/// resources, an operator's or a crash's shutdown, a database that does not exist yet) rather than
/// that the statement failed: waiting and trying again can help. A cancelled statement (57014, the
/// statement timeout) is the statement's own failure.
pub fn unavailable(code: &tokio_postgres::error::SqlState) -> bool {
    *code != tokio_postgres::error::SqlState::QUERY_CANCELED
        && matches!(&code.code()[..2], "08" | "53" | "57" | "3D")
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
    use crate::tasks::store::settings::PgVars;

    /// The size of each pool `DATABASE_POOL_MAX` of `max` is split into for `workers`.
    fn split(max: &str, workers: usize) -> Vec<usize> {
        let settings = PgSettings::parse(&PgVars {
            url: "postgres://api_app@db.example:5432/tasks",
            pool_max: Some(max),
            ..PgVars::default()
        })
        .unwrap();
        let pools = Pools::new(&settings, workers).unwrap();
        assert_eq!(pools.usage().max, settings.pool_max, "the total");
        pools.0.iter().map(|p| p.status().max_size).collect()
    }

    #[test]
    fn consecutive_claims_take_the_pools_in_turn() {
        // A thread of its own: the claim stays with it.
        std::thread::spawn(|| {
            let taken: Vec<usize> = (0..3)
                .map(|_| {
                    claim_pool();
                    own_pool(2)
                })
                .collect();
            assert!(taken.iter().all(|&p| p < 2), "{taken:?}");
            assert!(taken[0] != taken[1] && taken[1] != taken[2], "{taken:?}");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn the_pool_max_is_shared_out_between_the_workers_and_never_exceeded() {
        assert_eq!(split("16", 2), [8, 8]);
        assert_eq!(split("10", 4), [3, 3, 2, 2]);
        assert_eq!(split("7", 1), [7]);
        // Fewer connections than workers: a pool of one each, and workers share them.
        assert_eq!(split("2", 4), [1, 1]);
        assert_eq!(split("1", 0), [1]);
    }

    fn files(user: Option<&Path>, password: &Path) -> CredentialFiles {
        CredentialFiles {
            user: user.map(Path::to_path_buf),
            password: Some(password.to_path_buf()),
        }
    }

    #[test]
    fn the_password_file_is_read_fresh_and_without_its_newline() {
        let path = std::env::temp_dir().join(format!("pw-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, "first\n").unwrap();
        let base: tokio_postgres::Config = "postgres://u@h/d".parse().unwrap();
        let c = files(None, &path).apply(&base);
        assert_eq!(c.get_password(), Some(&b"first"[..]));
        assert_eq!(c.get_user(), Some("u"), "no user file: the URL's user");
        std::fs::write(&path, "second\r\n").unwrap();
        let c = files(None, &path).apply(&base);
        assert_eq!(c.get_password(), Some(&b"second"[..]));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn the_user_file_overrides_the_urls_user_and_is_read_fresh() {
        let dir = std::env::temp_dir().join(format!("creds-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&dir).unwrap();
        let (user, password) = (dir.join("username"), dir.join("password"));
        let base: tokio_postgres::Config = "postgres://api_app@h/d".parse().unwrap();
        for (u, p) in [("api_app_a", "first"), ("api_app_b", "second")] {
            std::fs::write(&user, format!("{u}\n")).unwrap();
            std::fs::write(&password, p).unwrap();
            let c = files(Some(user.as_path()), &password).apply(&base);
            assert_eq!(
                (c.get_user(), c.get_password()),
                (Some(u), Some(p.as_bytes()))
            );
        }
        // A missing user file (a Secret not yet rewritten) falls back to the URL's user.
        std::fs::remove_file(&user).unwrap();
        let c = files(Some(user.as_path()), &password).apply(&base);
        assert_eq!(c.get_user(), Some("api_app"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
