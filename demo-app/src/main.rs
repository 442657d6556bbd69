//! demo-app's entry point: read the configuration, start logging, serve until a signal drains us.

use demo_app::config::Config;
use demo_app::startup::Application;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            // One line naming the variable; the value is never printed.
            eprintln!("demo-app: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    platform::telemetry::init(config.server.log_format, &config.server.log_filter);
    let (env, port) = (config.server.app_env, config.server.port);
    let api_proxy = config.api_url.clone().unwrap_or_else(|| "off".to_owned());
    let app = match Application::build(config) {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, port, "could not start the server");
            return std::process::ExitCode::FAILURE;
        }
    };
    tracing::info!(
        port = app.port(),
        environment = %env,
        api_proxy = %api_proxy,
        "demo-app listening"
    );
    match app.run_until_stopped().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            std::process::ExitCode::FAILURE
        }
    }
}
