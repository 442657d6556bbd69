//! The route table: every route api-app answers, the body and query limits, and the fallback are
//! registered here, once, and the OpenAPI document is built from the same registrations, so the
//! document and the routes cannot drift.

use actix_web::App;
use actix_web::middleware::from_fn;
use utoipa::OpenApi as _;
use utoipa::openapi::OpenApi;
use utoipa_actix_web::AppExt as _;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::{self, ApiKeyGuard};
use crate::docs::{self, ApiDoc};
use crate::tasks::routes as tasks;
use crate::{echo, health, info, stats};

/// Registers every route; `guard` checks the keys of the protected scope. The probes and
/// `/metrics` are not here: they answer on the admin port (`platform::admin`).
pub fn configure(cfg: &mut ServiceConfig<'_>, guard: &ApiKeyGuard) {
    let guard = guard.clone();
    // JSON bodies of at most `platform::extractors::JSON_LIMIT_BYTES`; bad input in the JSON envelope.
    cfg.map(|cfg| cfg.configure(platform::extractors::configure))
        // `/api/openapi.json` and `/api/docs/`: ahead of the `/api` scope, which would claim them.
        .map(|cfg| cfg.configure(docs::configure))
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
                        .wrap(from_fn(move |req, next| guard.clone().check(req, next)))
                        .service(stats::stats),
                ),
        )
        // Anything else: 405 with `Allow` for a known path, else 404.
        .default_service(platform::unmatched::default_service());
}

/// The OpenAPI document, built by registering the real routes on a throwaway app, then completed
/// by each room with what its registrations cannot say (bounds, the title pattern, the key scheme).
pub fn openapi(guard: &ApiKeyGuard) -> OpenApi {
    let (_, mut doc) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(|cfg| configure(cfg, guard))
        .split_for_parts();
    auth::document(&mut doc);
    crate::tasks::document(&mut doc);
    echo::document_bounds(&mut doc);
    doc
}
