//! api-app's entry point: read the configuration, start logging, serve until a signal drains us.

use api_app::config::Config;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    platform::server::serve_main(
        "api-app",
        Config::from_env(),
        |config| &config.server,
        api_app::startup::build,
    )
    .await
}
