//! PostgreSQL settings from `DATABASE_*`: a libpq-style `DATABASE_URL` without a password, the
//! files the user and the password are read from, the pool's size and the timeouts, parsed once at
//! start-up.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use platform::config::{ConfigError, parse_bounded};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::tls::{take_tls_params, tls_connector};

/// What every api-app session sets when it connects, besides the statement timeout.
///
/// Every statement the store prepares is a lookup by key or a range of the `seq` index, whose best
/// plan does not depend on the values bound, so it is planned once per connection
/// (`plan_cache_mode`): left to choose, PostgreSQL kept re-planning the page statements at every
/// execution, because the generic plan's `LIMIT $1` looks dear to the planner (8.2k pages/s under
/// pgbench instead of 14-15k, bench/STORE.md). For the same reason the generic plan's estimated
/// cost can pass `jit_above_cost`, and compiling it at every execution made a page of 100 000
/// tasks take tens of milliseconds: these statements never gain from JIT (`jit`).
pub const SESSION_SETTINGS: [(&str, &str); 2] =
    [("plan_cache_mode", "force_generic_plan"), ("jit", "off")];

/// Typed PostgreSQL settings, parsed once at start-up.
#[derive(Clone)]
pub struct PgSettings {
    /// The URL's settings (host, port, user, database, sslmode), never a password.
    pub(crate) config: tokio_postgres::Config,
    /// Overrides the URL's user, read for every new connection (alternating-users rotation).
    pub(crate) user_file: Option<PathBuf>,
    pub(crate) password_file: Option<PathBuf>,
    pub(crate) tls: MakeRustlsConnect,
    pub pool_max: usize,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
    /// Whether api-app changes the schema as it opens the store, or only checks it.
    pub migrations: Migrations,
}

/// `DATABASE_MIGRATIONS`: who brings the schema up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    /// api-app applies the migrations it lacks as it opens the store (the default, for local runs
    /// and the test suite): its login must be able to act as the owner the URL names.
    Apply,
    /// Something else applies them (`api-app migrate`, the clusters' bootstrap Job, with the
    /// database's admin login): api-app only checks that every migration it embeds is applied,
    /// unchanged, and waits, not ready, until they are. Its login then needs no right to change
    /// the schema.
    Verify,
}

impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .field("user", &self.config.get_user())
            .field("user_file", &self.user_file)
            .field("password_file", &self.password_file)
            .field("pool_max", &self.pool_max)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("migrations", &self.migrations)
            .finish_non_exhaustive()
    }
}

/// The raw `DATABASE_*` variables.
#[derive(Debug, Default, Clone, Copy)]
pub struct PgVars<'a> {
    pub url: &'a str,
    pub user_file: Option<&'a str>,
    pub password_file: Option<&'a str>,
    pub pool_max: Option<&'a str>,
    pub acquire_timeout_ms: Option<&'a str>,
    pub statement_timeout_ms: Option<&'a str>,
    pub migrations: Option<&'a str>,
}

impl PgSettings {
    pub fn parse(vars: &PgVars<'_>) -> Result<Self, ConfigError> {
        let invalid = |reason: &str| ConfigError::Invalid {
            var: "DATABASE_URL",
            reason: reason.to_owned(),
        };
        let (url, verify) = take_tls_params(vars.url).map_err(|r| invalid(&r))?;
        // tokio-postgres's own messages may quote the URL; ours never do.
        let mut config: tokio_postgres::Config = url.parse().map_err(|_| {
            invalid(
                "is not a valid postgres:// URL (postgres://user@host:5432/dbname?sslmode=require)",
            )
        })?;
        if config.get_password().is_some() {
            return Err(invalid(
                "must not contain a password: put it in the file DATABASE_PASSWORD_FILE names",
            ));
        }
        if config.get_user().is_none() {
            return Err(invalid("must name the user (postgres://user@host/dbname)"));
        }
        if config.get_dbname().is_none() {
            return Err(invalid(
                "must name the database (postgres://user@host/dbname)",
            ));
        }
        let password_file = secret_file("DATABASE_PASSWORD_FILE", vars.password_file)?;
        let user_file = secret_file("DATABASE_USER_FILE", vars.user_file)?;
        if let Some(path) = &user_file
            && read_secret(path).is_ok_and(|user| user.is_empty())
        {
            return Err(ConfigError::Invalid {
                var: "DATABASE_USER_FILE",
                reason: "names an empty file: it must hold the user to log in as".into(),
            });
        }
        let pool_max = parse_bounded("DATABASE_POOL_MAX", vars.pool_max, 10, 1..=200)?;
        let acquire_timeout = Duration::from_millis(parse_bounded(
            "DATABASE_ACQUIRE_TIMEOUT_MS",
            vars.acquire_timeout_ms,
            2000,
            50..=60_000,
        )?);
        let statement_timeout = Duration::from_millis(parse_bounded(
            "DATABASE_STATEMENT_TIMEOUT_MS",
            vars.statement_timeout_ms,
            2000,
            50..=600_000,
        )?);
        let migrations = match vars.migrations.map(str::trim).unwrap_or_default() {
            "" | "apply" => Migrations::Apply,
            "verify" => Migrations::Verify,
            _ => {
                return Err(ConfigError::Invalid {
                    var: "DATABASE_MIGRATIONS",
                    reason: "must be apply (api-app migrates as it starts) or verify (api-app \
                             only checks the schema `api-app migrate` brought up to date)"
                        .into(),
                });
            }
        };
        // The server enforces the statement timeout on its side; connecting is bounded by the
        // acquire timeout, so an unreachable host never holds a request longer than that.
        let mut options = format!(
            "{} -c statement_timeout={}",
            config.get_options().unwrap_or_default(),
            statement_timeout.as_millis()
        );
        for (name, value) in SESSION_SETTINGS {
            let _ = write!(options, " -c {name}={value}");
        }
        config
            .options(options.trim())
            .connect_timeout(acquire_timeout)
            .application_name("api-app");
        let tls = tls_connector(verify.as_ref()).map_err(|r| invalid(&r))?;
        Ok(Self {
            config,
            user_file,
            password_file,
            tls,
            pool_max,
            acquire_timeout,
            statement_timeout,
            migrations,
        })
    }

    /// The role the URL names: the owner of the schema, which migrations act as whoever logs in.
    pub(crate) fn owner(&self) -> &str {
        self.config.get_user().unwrap_or_default()
    }

    /// Whether the URL asks for an encrypted session in so many words: `require`, `verify-ca` or
    /// `verify-full` (the last two arrive as `require`), not libpq's default `prefer`.
    pub fn encrypted(&self) -> bool {
        self.config.get_ssl_mode() == tokio_postgres::config::SslMode::Require
    }
}

/// The path in `var`, if set, after checking at start-up that it can be read (the error names the
/// variable and the kind of failure, never the file's content).
fn secret_file(var: &'static str, value: Option<&str>) -> Result<Option<PathBuf>, ConfigError> {
    let Some(path) = value.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let path = PathBuf::from(path);
    read_secret(&path).map_err(|e| ConfigError::Invalid {
        var,
        reason: format!("cannot be read: {}", e.kind()),
    })?;
    Ok(Some(path))
}

/// Reads a mounted secret file as it is now: a rotated secret is picked up by the next connection.
pub(crate) fn read_secret(path: &Path) -> std::io::Result<String> {
    let raw = std::fs::read_to_string(path)?;
    // Secrets are often written with a trailing newline; the value itself never ends in one.
    Ok(raw.trim_end_matches(['\n', '\r']).to_owned())
}

/// Whether the URL asks for encryption at all (for the start-up log line).
pub(crate) fn ssl_mode_name(config: &tokio_postgres::Config) -> &'static str {
    match config.get_ssl_mode() {
        SslMode::Disable => "disable",
        SslMode::Prefer => "prefer",
        SslMode::Require => "require",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<PgSettings, ConfigError> {
        PgSettings::parse(&PgVars {
            url,
            ..PgVars::default()
        })
    }

    #[test]
    fn a_url_with_a_password_is_refused_without_echoing_it() {
        let err = parse("postgres://api_app:hunter2-secret@db:5432/tasks").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("DATABASE_URL") && msg.contains("DATABASE_PASSWORD_FILE"),
            "{msg}"
        );
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn a_malformed_url_is_named_but_not_repeated() {
        let msg = parse("postgres://api_app@db:notaport/tasks")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("DATABASE_URL") && !msg.contains("notaport"),
            "{msg}"
        );
    }

    #[test]
    fn defaults_and_the_session_settings_reach_the_connection() {
        let s = parse("postgres://api_app@db.example:5432/tasks?sslmode=require").unwrap();
        assert_eq!(s.pool_max, 10);
        assert_eq!(s.migrations, Migrations::Apply);
        assert_eq!(s.acquire_timeout, Duration::from_secs(2));
        assert_eq!(s.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(
            s.config.get_options(),
            Some("-c statement_timeout=2000 -c plan_cache_mode=force_generic_plan -c jit=off")
        );
        assert_eq!(
            s.config.get_connect_timeout(),
            Some(&Duration::from_secs(2))
        );
    }

    #[test]
    fn the_start_line_names_the_ssl_mode_the_url_asks_for() {
        for (query, named) in [
            ("?sslmode=disable", "disable"),
            ("", "prefer"),
            ("?sslmode=require", "require"),
        ] {
            let s = parse(&format!("postgres://api_app@db.example/tasks{query}")).unwrap();
            assert_eq!(ssl_mode_name(&s.config), named, "{query:?}");
        }
    }

    #[test]
    fn verify_full_needs_a_root_certificate() {
        let msg = parse("postgres://api_app@db/tasks?sslmode=verify-full")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("sslrootcert"), "{msg}");
    }

    #[test]
    fn an_unreadable_password_file_is_a_config_error() {
        let err = PgSettings::parse(&PgVars {
            url: "postgres://api_app@db/tasks",
            password_file: Some("/nonexistent/password"),
            ..PgVars::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("DATABASE_PASSWORD_FILE"), "{err}");
    }

    #[test]
    fn an_unreadable_or_empty_user_file_is_a_config_error_naming_it() {
        let empty = std::env::temp_dir().join(format!("user-{}", uuid::Uuid::new_v4()));
        std::fs::write(&empty, "\n").unwrap();
        for path in ["/nonexistent/username", empty.to_str().unwrap()] {
            let err = PgSettings::parse(&PgVars {
                url: "postgres://api_app@db/tasks",
                user_file: Some(path),
                ..PgVars::default()
            })
            .unwrap_err()
            .to_string();
            assert!(err.contains("DATABASE_USER_FILE"), "{path}: {err}");
        }
        std::fs::remove_file(empty).unwrap();
    }

    #[test]
    fn database_migrations_is_apply_or_verify_and_anything_else_names_it() {
        for (value, mode) in [
            ("apply", Migrations::Apply),
            (" verify ", Migrations::Verify),
        ] {
            let s = PgSettings::parse(&PgVars {
                url: "postgres://api_app@db/tasks",
                migrations: Some(value),
                ..PgVars::default()
            })
            .unwrap();
            assert_eq!(s.migrations, mode, "{value:?}");
        }
        let err = PgSettings::parse(&PgVars {
            url: "postgres://api_app@db/tasks",
            migrations: Some("skip"),
            ..PgVars::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("DATABASE_MIGRATIONS") && !err.contains('\n'),
            "{err}"
        );
    }
}
