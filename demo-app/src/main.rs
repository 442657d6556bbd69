//! demo-app's entry point: read the configuration, start logging, serve until a signal drains us.

use demo_app::config::Config;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    platform::server::serve_main(
        "demo-app",
        Config::from_env(),
        |config| &config.server,
        async |config| demo_app::startup::build(config),
    )
    .await
}
