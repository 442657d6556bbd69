//! The settings both apps share, as the root README's configuration table states them, read through
//! demo-app's configuration (the same platform code parses them for api-app).

use std::time::Duration;

use demo_app::config::Config;
use platform::config::AppEnv;
use platform::telemetry::LogFormat;

fn config(vars: &[(&str, &str)]) -> Result<Config, String> {
    let vars = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
    Config::from_vars(vars).map_err(|e| e.to_string())
}

#[test]
fn app_env_is_local_dev_or_prod_and_picks_the_default_log_format() {
    for (value, env, format) in [
        ("local", AppEnv::Local, LogFormat::Pretty),
        ("dev", AppEnv::Dev, LogFormat::Json),
        ("prod", AppEnv::Prod, LogFormat::Json),
    ] {
        let server = config(&[("APP_ENV", value)]).unwrap().server;
        assert_eq!(
            (server.app_env, server.log_format),
            (env, format),
            "{value}"
        );
    }
    let err = config(&[("APP_ENV", "Prod")]).unwrap_err();
    assert!(err.contains("APP_ENV") && !err.contains("Prod"), "{err}");
}

#[test]
fn log_format_overrides_the_environments_default() {
    let local_json = config(&[("APP_ENV", "local"), ("LOG_FORMAT", "json")]).unwrap();
    assert_eq!(local_json.server.log_format, LogFormat::Json);
    let prod_pretty = config(&[("APP_ENV", "prod"), ("LOG_FORMAT", "pretty")]).unwrap();
    assert_eq!(prod_pretty.server.log_format, LogFormat::Pretty);
}

#[test]
fn host_is_an_ip_address_or_localhost() {
    assert_eq!(config(&[]).unwrap().server.host, "0.0.0.0", "the default");
    for host in ["127.0.0.1", "::1", "localhost", " 10.0.0.7 "] {
        let server = config(&[("HOST", host)]).unwrap().server;
        assert_eq!(server.host, host.trim(), "{host:?}");
    }
    for host in ["example.com", "local host", "999.1.1.1"] {
        let err = config(&[("HOST", host)]).unwrap_err();
        assert!(err.contains("HOST") && !err.contains(host), "{host}: {err}");
    }
}

#[test]
fn blank_values_mean_the_default() {
    let server = config(&[
        ("HOST", "  "),
        ("PORT", ""),
        ("WORKERS", " "),
        ("SHUTDOWN_TIMEOUT_SECS", ""),
        ("HOSTNAME", " "),
    ])
    .unwrap()
    .server;
    assert_eq!(server.host, "0.0.0.0");
    assert_eq!(server.port, demo_app::config::DEFAULT_PORT);
    assert_eq!(server.workers, None);
    assert_eq!(server.shutdown_timeout, Duration::from_secs(15));
    assert_eq!(server.hostname, None);
    let named = config(&[("HOSTNAME", "demo-app-7d9f"), ("WORKERS", "3")])
        .unwrap()
        .server;
    assert_eq!(named.hostname.as_deref(), Some("demo-app-7d9f"));
    assert_eq!(named.workers, Some(3));
}

#[test]
fn drain_and_shutdown_bounds_are_read_in_seconds() {
    let server = config(&[
        ("SHUTDOWN_DRAIN_SECS", "7"),
        ("SHUTDOWN_TIMEOUT_SECS", "300"),
    ])
    .unwrap()
    .server;
    assert_eq!(server.drain_delay, Duration::from_secs(7));
    assert_eq!(server.shutdown_timeout, Duration::from_mins(5));
    assert_eq!(
        config(&[]).unwrap().server.drain_delay,
        Duration::from_secs(2)
    );
    for (var, value) in [
        ("SHUTDOWN_TIMEOUT_SECS", "301"),
        ("SHUTDOWN_DRAIN_SECS", "61"),
    ] {
        let err = config(&[(var, value)]).unwrap_err();
        assert!(err.contains(var) && !err.contains(value), "{err}");
    }
}
