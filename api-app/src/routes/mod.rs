//! The route table: every route api-app answers, the body and query limits, and the fallback are
//! registered here, once. Documented endpoints go through utoipa-actix-web, so the OpenAPI document
//! and the routes cannot drift.

mod echo;
mod health;
mod info;
mod stats;
mod tasks;

use actix_web::middleware::from_fn;
use utoipa_actix_web::service_config::ServiceConfig;

pub use info::{Endpoint, ServiceInfo};
pub use tasks::TasksStored;

/// Registers every route. The probes and `/metrics` come from the shared platform crate.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    // JSON bodies of at most `platform::error::JSON_LIMIT_BYTES`; bad input in the JSON envelope.
    cfg.map(|cfg| cfg.configure(platform::error::extractors))
        // `/api/openapi.json` and `/api/docs/`: ahead of the `/api` scope, which would claim them.
        .map(|cfg| cfg.configure(crate::openapi::configure_docs))
        .service(platform::probes::healthz)
        .service(platform::probes::readyz)
        .service(platform::metrics::metrics)
        .service(
            utoipa_actix_web::scope("/api")
                .service(info::info)
                .service(health::health)
                .service(tasks::list_tasks)
                .service(tasks::create_task)
                .service(tasks::get_task)
                .service(tasks::update_task)
                .service(tasks::delete_task)
                .service(echo::echo)
                .service(
                    utoipa_actix_web::scope("/protected")
                        .wrap(from_fn(crate::auth::require_api_key))
                        .service(stats::stats),
                ),
        )
        // Anything else: 405 with `Allow` for a known path, else 404.
        .default_service(platform::error::default_service());
}
