//! Environment parsing shared by both apps: typed settings, one-line errors that name the variable.
//!
//! Each app reads its environment with `envy` into a flat struct of raw strings, so that envy's
//! field list is the single source of which variables the app reads ([`service_env_var_names`]),
//! and then parses each value here into a typed setting. A bad value fails with [`ConfigError`], whose
//! `Display` is one line naming the variable and never repeating the value (it may be a secret).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::telemetry::{self, LogFormat};

/// A configuration mistake: the process prints it on one line and exits non-zero.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {var} {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("invalid configuration: {var} is required {why}")]
    Missing {
        var: &'static str,
        why: &'static str,
    },
    #[error("invalid configuration: {0}")]
    Environment(String),
    /// A variable the service reads holds bytes that are not UTF-8. Named, never shown.
    #[error("invalid configuration: {0} is not valid UTF-8")]
    NotUtf8(String),
}

/// Reads the variables named by `T`'s fields (upper-cased) from `vars`. Unknown variables are ignored.
fn read_vars<T, I>(vars: I) -> Result<T, ConfigError>
where
    T: DeserializeOwned,
    I: IntoIterator<Item = (String, String)>,
{
    envy::from_iter(vars).map_err(|e| ConfigError::Environment(e.to_string()))
}

/// The environment variable names a raw config struct reads, in declaration order.
///
/// envy matches a field `api_key` to the variable `API_KEY`, so this is the field list upper-cased.
fn env_var_names<T: DeserializeOwned>() -> Vec<String> {
    serde_aux::serde_introspection::serde_introspect::<T>()
        .iter()
        .map(|field| field.to_ascii_uppercase())
        .collect()
}

/// Parses an optional raw value, falling back to `default` when it is unset or blank.
fn parse_or<T>(var: &'static str, raw: Option<&str>, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    match raw.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(value) => value.parse().map_err(|e: T::Err| ConfigError::Invalid {
            var,
            reason: e.to_string(),
        }),
    }
}

/// A whole number in `range`, e.g. a port or a count.
pub fn parse_bounded<T>(
    var: &'static str,
    raw: Option<&str>,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + fmt::Display + Copy,
    T::Err: fmt::Display,
{
    let out_of_range = || ConfigError::Invalid {
        var,
        reason: format!(
            "must be a whole number from {} to {}",
            range.start(),
            range.end()
        ),
    };
    let value = parse_or(var, raw, default).map_err(|_| out_of_range())?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(out_of_range())
    }
}

/// Where the process runs. Shown by both apps so a person always knows which environment answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AppEnv {
    Local,
    Dev,
    Prod,
}

impl AppEnv {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Dev => "dev",
            Self::Prod => "prod",
        }
    }
}

impl fmt::Display for AppEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AppEnv {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local" => Ok(Self::Local),
            "dev" => Ok(Self::Dev),
            "prod" => Ok(Self::Prod),
            _ => Err("must be one of local, dev, prod".into()),
        }
    }
}

/// The default bound on one request, head to response (`REQUEST_DEADLINE_SECS`).
pub const DEFAULT_REQUEST_DEADLINE_SECS: u64 = 10;
/// The default cap on open connections per process (`MAX_CONNECTIONS`). A connection held open by a
/// slow client costs about 22 KiB of RSS (measured: 5 000 of them added 112 MB), so 2 048 of them
/// stay under 50 MB, well inside the pods' 128 Mi limit.
pub const DEFAULT_MAX_CONNECTIONS: usize = 2048;

/// Settings every service shares: where to listen, how to log, how to shut down.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// The admin port (`ADMIN_PORT`): probes and `/metrics`, apart from the public port, so neither
    /// its connection cap nor its clients can starve them.
    pub admin_port: u16,
    pub app_env: AppEnv,
    pub log_format: LogFormat,
    /// An `EnvFilter` directive such as `info` or `api_app=debug`.
    pub log_filter: String,
    /// How long in-flight requests may take to finish after the listener closes.
    pub shutdown_timeout: Duration,
    /// How long readiness reports 503 before the listener closes, so load balancers deregister the pod.
    pub drain_delay: Duration,
    /// Worker threads; `None` means one per available core.
    pub workers: Option<usize>,
    /// The pod name (`HOSTNAME`), when the runtime sets one.
    pub hostname: Option<String>,
    /// How long one request may take, from its first byte to its response (`REQUEST_DEADLINE_SECS`).
    pub request_deadline: Duration,
    /// Open connections the whole process accepts (`MAX_CONNECTIONS`), shared among the workers.
    pub max_connections: usize,
}

/// The variables every service reads, exactly as the environment spells them.
#[derive(Debug, Default, Deserialize)]
struct ServerVars {
    host: Option<String>,
    port: Option<String>,
    admin_port: Option<String>,
    app_env: Option<String>,
    log_format: Option<String>,
    rust_log: Option<String>,
    shutdown_timeout_secs: Option<String>,
    shutdown_drain_secs: Option<String>,
    workers: Option<String>,
    /// The pod name in Kubernetes; both apps show it so a rollout is visible.
    hostname: Option<String>,
    request_deadline_secs: Option<String>,
    max_connections: Option<String>,
}

/// The ports a service listens on unless `PORT` and `ADMIN_PORT` say otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultPorts {
    /// The public port: the app's own routes.
    pub public: u16,
    /// The admin port: `/healthz`, `/readyz` and `/metrics`.
    pub admin: u16,
}

/// Reads a service's configuration: the [`ServerSettings`] every service shares, plus the app's own
/// raw variables `A` (a flat struct of `Option<String>`, one field per variable).
pub fn load<A, I>(vars: I, ports: DefaultPorts) -> Result<(ServerSettings, A), ConfigError>
where
    A: DeserializeOwned,
    I: IntoIterator<Item = (String, String)>,
{
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let server: ServerVars = read_vars(vars.iter().cloned())?;
    let app: A = read_vars(vars)?;
    Ok((ServerSettings::parse(&server, ports)?, app))
}

/// The process environment as text, for a service's `from_vars`; `names` are the variables it reads
/// (its `env_var_names`). `std::env::vars` panics on a variable that is not UTF-8 and prints the
/// value (a key, a password) in the panic message. Here such a variable is an error naming it, never
/// showing it, when the service reads it, and is left out when it does not.
pub fn environment(names: &[String]) -> Result<Vec<(String, String)>, ConfigError> {
    text_vars(std::env::vars_os(), names)
}

fn text_vars(
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    names: &[String],
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut text = Vec::new();
    for (name, value) in vars {
        // A name that is not UTF-8 is none a service reads.
        let Ok(name) = name.into_string() else {
            continue;
        };
        match value.into_string() {
            Ok(value) => text.push((name, value)),
            Err(_) if names.contains(&name) => return Err(ConfigError::NotUtf8(name)),
            Err(_) => {}
        }
    }
    Ok(text)
}

/// Every environment variable a service whose own variables are `A` reads: the shared ones first.
/// The contract tests check manifests against this list.
pub fn service_env_var_names<A: DeserializeOwned>() -> Vec<String> {
    let mut names = env_var_names::<ServerVars>();
    names.extend(env_var_names::<A>());
    names
}

fn non_blank(raw: Option<&String>) -> Option<&str> {
    raw.map(|v| v.trim()).filter(|v| !v.is_empty())
}

impl ServerSettings {
    fn parse(raw: &ServerVars, ports: DefaultPorts) -> Result<Self, ConfigError> {
        let app_env = parse_or("APP_ENV", raw.app_env.as_deref(), AppEnv::Local)?;
        // Containers get JSON unless told otherwise; a laptop gets text.
        let default_format = if app_env == AppEnv::Local {
            LogFormat::Pretty
        } else {
            LogFormat::Json
        };
        let host = non_blank(raw.host.as_ref()).unwrap_or("0.0.0.0");
        if host.parse::<std::net::IpAddr>().is_err() && host != "localhost" {
            return Err(ConfigError::Invalid {
                var: "HOST",
                reason: "must be an IP address or localhost".into(),
            });
        }
        let workers = match non_blank(raw.workers.as_ref()) {
            None => None,
            Some(w) => Some(parse_bounded("WORKERS", Some(w), 1, 1..=256)?),
        };
        // 0 asks the OS for a free port (tests use it); people choose from 1.
        let port_number = |var: &'static str, raw: Option<&str>, default: u16| {
            parse_or(var, raw, default).map_err(|_| ConfigError::Invalid {
                var,
                reason: "must be a port number (1-65535)".into(),
            })
        };
        let port = port_number("PORT", raw.port.as_deref(), ports.public)?;
        let admin_port = port_number("ADMIN_PORT", raw.admin_port.as_deref(), ports.admin)?;
        if port == admin_port && port != 0 {
            return Err(ConfigError::Invalid {
                var: "ADMIN_PORT",
                reason: "must differ from PORT (probes and metrics are served apart)".into(),
            });
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            admin_port,
            app_env,
            log_format: parse_or("LOG_FORMAT", raw.log_format.as_deref(), default_format)?,
            log_filter: parse_log_filter(non_blank(raw.rust_log.as_ref()))?,
            shutdown_timeout: Duration::from_secs(parse_bounded(
                "SHUTDOWN_TIMEOUT_SECS",
                raw.shutdown_timeout_secs.as_deref(),
                15,
                1..=300,
            )?),
            drain_delay: Duration::from_secs(parse_bounded(
                "SHUTDOWN_DRAIN_SECS",
                raw.shutdown_drain_secs.as_deref(),
                2,
                0..=60,
            )?),
            workers,
            hostname: non_blank(raw.hostname.as_ref()).map(str::to_owned),
            request_deadline: Duration::from_secs(parse_bounded(
                "REQUEST_DEADLINE_SECS",
                raw.request_deadline_secs.as_deref(),
                DEFAULT_REQUEST_DEADLINE_SECS,
                1..=120,
            )?),
            max_connections: parse_bounded(
                "MAX_CONNECTIONS",
                raw.max_connections.as_deref(),
                DEFAULT_MAX_CONNECTIONS,
                16..=100_000,
            )?,
        })
    }
}

fn parse_log_filter(raw: Option<&str>) -> Result<String, ConfigError> {
    let filter = raw.unwrap_or("info");
    if telemetry::is_valid_filter(filter) {
        Ok(filter.to_owned())
    } else {
        Err(ConfigError::Invalid {
            var: "RUST_LOG",
            reason: "is not a valid log filter (for example: info,api_app=debug)".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variable_that_is_not_utf8_is_named_when_read_and_left_out_when_not() {
        use std::ffi::OsString;
        use std::os::unix::ffi::OsStringExt as _;
        let bytes = |b: &[u8]| OsString::from_vec(b.to_vec());
        let secret = b"s3cr3t-\xff-key";
        let names = vec!["API_KEY".to_owned(), "PORT".to_owned()];
        let vars = |key: &[u8]| {
            vec![
                (bytes(b"PORT"), bytes(b"8080")),
                (bytes(key), bytes(secret)),
                (bytes(b"UNRELATED"), bytes(secret)),
                (bytes(b"NAME_\xfe"), bytes(b"x")),
            ]
        };
        let err = text_vars(vars(b"API_KEY"), &names).unwrap_err().to_string();
        assert_eq!(err, "invalid configuration: API_KEY is not valid UTF-8");
        // Unread variables with such bytes, in their name or value, are simply not there.
        let text = text_vars(vars(b"OTHER"), &names).unwrap();
        assert_eq!(text, [("PORT".to_owned(), "8080".to_owned())]);
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<ServerSettings, ConfigError> {
        let vars = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        let ports = DefaultPorts {
            public: 8080,
            admin: 9080,
        };
        load::<ServerVars, _>(vars, ports).map(|(settings, _)| settings)
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.port, 8080);
        assert_eq!(s.admin_port, 9080);
        assert_eq!(s.host, "0.0.0.0");
        assert_eq!(s.app_env, AppEnv::Local);
        assert_eq!(s.log_format, LogFormat::Pretty);
        assert_eq!(s.shutdown_timeout, Duration::from_secs(15));
    }

    #[test]
    fn containers_default_to_json_logs() {
        let raw = [("APP_ENV", "prod")];
        assert_eq!(parse(&raw).unwrap().log_format, LogFormat::Json);
    }

    #[test]
    fn a_bad_port_names_the_variable_on_one_line() {
        let raw = [("PORT", "eighty")];
        let msg = parse(&raw).unwrap_err().to_string();
        assert_eq!(
            msg,
            "invalid configuration: PORT must be a port number (1-65535)"
        );
        assert!(!msg.contains('\n'), "{msg}");
        assert!(!msg.contains("eighty"), "values are never echoed: {msg}");
    }

    #[test]
    fn the_admin_port_must_differ_from_the_public_port() {
        let msg = parse(&[("PORT", "9000"), ("ADMIN_PORT", "9000")])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("ADMIN_PORT") && msg.contains("PORT"), "{msg}");
        let both_free = parse(&[("PORT", "0"), ("ADMIN_PORT", "0")]).unwrap();
        assert_eq!((both_free.port, both_free.admin_port), (0, 0));
        let msg = parse(&[("ADMIN_PORT", "admin")]).unwrap_err().to_string();
        assert_eq!(
            msg,
            "invalid configuration: ADMIN_PORT must be a port number (1-65535)"
        );
    }

    #[test]
    fn an_unknown_environment_is_rejected() {
        let raw = [("APP_ENV", "staging")];
        let msg = parse(&raw).unwrap_err().to_string();
        assert!(
            msg.contains("APP_ENV") && msg.contains("local, dev, prod"),
            "{msg}"
        );
    }

    #[test]
    fn a_bad_log_filter_names_rust_log() {
        // A mistyped level would otherwise read as a target and switch every other target off.
        for bad in [
            "info,=[bad",
            "warning",
            "inf",
            "info,api_app=warning",
            "debug,tokio",
        ] {
            let raw = [("RUST_LOG", bad)];
            let msg = parse(&raw).unwrap_err().to_string();
            assert!(msg.contains("RUST_LOG"), "{bad}: {msg}");
        }
        for good in [
            "warn",
            "INFO",
            "info,api_app=debug",
            "off",
            "api_app=trace,platform=debug",
            "[request]=debug",
        ] {
            let raw = [("RUST_LOG", good)];
            assert!(parse(&raw).is_ok(), "{good}");
        }
    }

    #[test]
    fn a_number_that_does_not_parse_reads_like_one_out_of_range() {
        for value in ["forever", "0"] {
            let raw = [("SHUTDOWN_TIMEOUT_SECS", value)];
            assert_eq!(
                parse(&raw).unwrap_err().to_string(),
                "invalid configuration: SHUTDOWN_TIMEOUT_SECS must be a whole number from 1 to 300"
            );
        }
    }

    #[test]
    fn out_of_range_timeouts_are_rejected() {
        let raw = [("SHUTDOWN_TIMEOUT_SECS", "0")];
        assert!(
            parse(&raw)
                .unwrap_err()
                .to_string()
                .contains("SHUTDOWN_TIMEOUT_SECS")
        );
    }
}
