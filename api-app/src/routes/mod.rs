//! The router: every documented endpoint is registered here, once, through utoipa-actix-web, so the
//! OpenAPI document and the routes cannot drift.

mod echo;
mod health;
mod info;
mod stats;
mod tasks;

use actix_web::middleware::from_fn;
use utoipa_actix_web::service_config::ServiceConfig;

pub use info::{Endpoint, ServiceInfo, StoreInfo};

/// Registers every route. The probes and `/metrics` come from the shared platform crate.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(platform::probes::healthz)
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
        );
}
