//! api-app's entry point: configuration, logging, build, then serve until a signal drains us.

use std::process::ExitCode;

use api_app::config::Config;
use api_app::startup::RunError;
use platform::server::{exit_code, shutdown_signal, startup_failed};

#[actix_web::main]
async fn main() -> ExitCode {
    let vars = platform::config::environment(&api_app::config::env_var_names());
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
