//! demo-app's entry point: configuration, logging, build, then serve until a signal drains us.

use std::process::ExitCode;

use demo_app::config::Config;
use platform::server::{exit_code, shutdown_signal, startup_failed};

#[actix_web::main]
async fn main() -> ExitCode {
    let vars = platform::config::environment(&demo_app::config::env_var_names());
    let config = match vars.and_then(Config::from_vars) {
        Ok(config) => config,
        Err(e) => return startup_failed("demo-app", &e),
    };
    let _logs = platform::telemetry::init(config.server.log_format, &config.server.log_filter);
    let app = match demo_app::startup::build(config).await {
        Ok(app) => app,
        Err(e) => return startup_failed("demo-app", &e),
    };
    exit_code(app.run_until(shutdown_signal()).await)
}
