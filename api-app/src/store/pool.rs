//! PostgreSQL connection settings and the pool: a libpq-style `DATABASE_URL` without a password,
//! the password re-read from `DATABASE_PASSWORD_FILE` for every new connection (so a rotated secret
//! is used with no restart), TLS by rustls with libpq's `sslmode` meaning, and bounded timeouts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures_util::future::BoxFuture;
use platform::config::{ConfigError, parse_bounded};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Typed PostgreSQL settings, parsed once at start-up.
#[derive(Clone)]
pub struct PgSettings {
    /// The URL's settings (host, port, user, database, sslmode), never a password.
    pub(super) config: tokio_postgres::Config,
    pub(super) password_file: Option<PathBuf>,
    pub(super) tls: MakeRustlsConnect,
    pub pool_max: usize,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
}

impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .field("user", &self.config.get_user())
            .field("password_file", &self.password_file)
            .field("pool_max", &self.pool_max)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .finish_non_exhaustive()
    }
}

/// The raw `DATABASE_*` variables.
#[derive(Debug, Default)]
pub struct PgVars<'a> {
    pub url: &'a str,
    pub password_file: Option<&'a str>,
    pub pool_max: Option<&'a str>,
    pub acquire_timeout_ms: Option<&'a str>,
    pub statement_timeout_ms: Option<&'a str>,
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
        let password_file = vars
            .password_file
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        if let Some(path) = &password_file {
            read_password(path).map_err(|e| ConfigError::Invalid {
                var: "DATABASE_PASSWORD_FILE",
                reason: format!("cannot be read: {}", e.kind()),
            })?;
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
        // The server enforces the statement timeout on its side; connecting is bounded by the
        // acquire timeout, so an unreachable host never holds a request longer than that.
        let options = format!(
            "{} -c statement_timeout={}",
            config.get_options().unwrap_or_default(),
            statement_timeout.as_millis()
        );
        config
            .options(options.trim())
            .connect_timeout(acquire_timeout)
            .application_name("api-app");
        let tls = tls_connector(verify.as_ref()).map_err(|r| invalid(&r))?;
        Ok(Self {
            config,
            password_file,
            tls,
            pool_max,
            acquire_timeout,
            statement_timeout,
        })
    }

    /// Builds the pool. No connection is opened until the first is needed.
    pub(super) fn pool(&self) -> Result<Pool, String> {
        let manager = Manager::from_connect(
            self.config.clone(),
            PasswordFileConnect {
                password_file: self.password_file.clone(),
                tls: self.tls.clone(),
            },
            ManagerConfig {
                // A closed connection is noticed without a round trip; a broken one fails its
                // query, is dropped, and the pool opens a fresh one.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(manager)
            .max_size(self.pool_max)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(self.acquire_timeout))
            .create_timeout(Some(self.acquire_timeout))
            .recycle_timeout(Some(self.acquire_timeout))
            .build()
            .map_err(|e| e.to_string())
    }
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

/// Reads the password file as it is now: a rotated secret is picked up by the next connection.
fn read_password(path: &PathBuf) -> std::io::Result<String> {
    let raw = std::fs::read_to_string(path)?;
    // Secrets are often written with a trailing newline; the password itself never ends in one.
    Ok(raw.trim_end_matches(['\n', '\r']).to_owned())
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

/// Certificate checking asked for by `sslmode=verify-ca|verify-full`: the roots in `sslrootcert`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verify {
    root_cert: PathBuf,
}

/// Takes libpq's certificate-checking parameters out of the URL, which tokio-postgres does not
/// know: `sslmode=verify-ca|verify-full` becomes `require` plus a verifying TLS setup.
fn take_tls_params(url: &str) -> Result<(String, Option<Verify>), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None));
    };
    let mut kept = Vec::new();
    let (mut verify, mut root_cert) = (false, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", "verify-ca" | "verify-full")) => {
                verify = true;
                kept.push("sslmode=require");
            }
            Some(("sslrootcert", path)) => root_cert = Some(PathBuf::from(path)),
            _ => kept.push(pair),
        }
    }
    let verify = match (verify, root_cert) {
        (false, _) => None,
        (true, Some(root_cert)) => Some(Verify { root_cert }),
        (true, None) => {
            return Err(
                "with sslmode=verify-ca or verify-full needs sslrootcert=<CA bundle path>".into(),
            );
        }
    };
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, verify))
}

/// The TLS setup for the connections: with `verify`, the server's certificate must chain to the
/// given roots and name the host (libpq's verify-full); otherwise the channel is encrypted without
/// checking who answers, which is exactly what libpq's `sslmode=require` promises.
fn tls_connector(verify: Option<&Verify>) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let config = match verify {
        Some(verify) => {
            let mut roots = RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(&verify.root_cert)
                .map_err(|_| "sslrootcert cannot be read as PEM certificates".to_owned())?;
            for cert in certs {
                let cert =
                    cert.map_err(|_| "sslrootcert holds an unreadable certificate".to_owned())?;
                roots
                    .add(cert)
                    .map_err(|_| "sslrootcert holds an invalid certificate".to_owned())?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

/// libpq's `sslmode=require`: any certificate is accepted, but the handshake must still be signed
/// by the key in the certificate presented, so the channel is encrypted end to end with that peer.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
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

/// Whether the URL asks for encryption at all (for the start-up log line).
pub(super) fn ssl_mode_name(config: &tokio_postgres::Config) -> &'static str {
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
    fn defaults_and_the_statement_timeout_reach_the_connection() {
        let s = parse("postgres://api_app@db.example:5432/tasks?sslmode=require").unwrap();
        assert_eq!(s.pool_max, 10);
        assert_eq!(s.acquire_timeout, Duration::from_secs(2));
        assert_eq!(s.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(s.config.get_options(), Some("-c statement_timeout=2000"));
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
        let (url, verify) = take_tls_params(
            "postgres://u@h/d?sslmode=verify-full&sslrootcert=/ca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(url, "postgres://u@h/d?sslmode=require&application_name=x");
        assert_eq!(
            verify,
            Some(Verify {
                root_cert: "/ca.pem".into()
            })
        );
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
