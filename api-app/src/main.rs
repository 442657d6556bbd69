//! api-app's entry point: `api-app` serves (configuration, logging, build, then serve until a
//! signal drains us); `api-app migrate` applies the database migrations and exits.

use std::process::ExitCode;

use api_app::config::{Config, MigrateConfig};
use api_app::startup::RunError;
use platform::config::ConfigError;
use platform::server::{exit_code, shutdown_signal, startup_failed};

#[actix_web::main]
async fn main() -> ExitCode {
    let vars = platform::config::environment(&api_app::config::env_var_names());
    match std::env::args().nth(1).as_deref() {
        None => serve(vars).await,
        Some("migrate") => migrate(vars).await,
        Some(_) => startup_failed(
            "api-app",
            &"unknown command: `api-app` serves, `api-app migrate` applies the database migrations and exits",
        ),
    }
}

async fn serve(vars: Result<Vec<(String, String)>, ConfigError>) -> ExitCode {
    let config = match vars.and_then(Config::from_vars) {
        Ok(config) => config,
        Err(e) => return startup_failed("api-app", &e),
    };
    let _logs = platform::telemetry::init(config.server.log_format, &config.server.log_filter);
    let app = match api_app::startup::build(config).await {
        Ok(app) => app,
        Err(e) => return startup_failed("api-app", &e),
    };
    match app.run_until(shutdown_signal()).await {
        Err(e @ RunError::Store(_)) => startup_failed("api-app", &e),
        Err(RunError::Serve(e)) => exit_code(Err(e)),
        Ok(()) => exit_code(Ok(())),
    }
}

async fn migrate(vars: Result<Vec<(String, String)>, ConfigError>) -> ExitCode {
    let config = match vars.and_then(MigrateConfig::from_vars) {
        Ok(config) => config,
        Err(e) => return startup_failed("api-app migrate", &e),
    };
    let _logs = platform::telemetry::init(config.server.log_format, &config.server.log_filter);
    match api_app::startup::migrate(&config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => startup_failed("api-app migrate", &e),
    }
}
