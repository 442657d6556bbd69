//! The route table: every route demo-app answers, the body and query limits, and the fallback are
//! registered here, once. The 405 table ([`known_routes`]) is read from the same registrations.

use actix_web::{App, web};
use platform::unmatched::KnownRoutes;
use utoipa_actix_web::AppExt as _;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::page;
use crate::proxy::{self, Upstream};

/// The `/api` routes: proxied to `API_URL` when it is set, else answered with `api_not_proxied`.
const API_ROUTES: [&str; 2] = ["/api", "/api/{tail:.*}"];

/// Registers every public route (the probes and `/metrics` are on the admin port,
/// `platform::admin`). `upstream` is the proxy's client for `API_URL`, or `None` without one;
/// awc's client is per worker (not `Send`), so each worker passes its own.
pub fn configure(cfg: &mut ServiceConfig<'_>, upstream: Option<Upstream>) {
    // JSON bodies of at most `platform::extractors::JSON_LIMIT_BYTES`; bad input in the JSON envelope.
    cfg.map(|cfg| cfg.configure(platform::extractors::configure))
        .service(page::index)
        .service(page::asset)
        .service(page::info)
        // Every method goes on to the API (the proxy answers 405 for methods it never forwards);
        // request bodies are bounded by `proxy::MAX_REQUEST_BODY_BYTES`.
        .map(|cfg| {
            let proxied = upstream.is_some();
            if let Some(upstream) = upstream {
                cfg.app_data(web::Data::new(upstream));
            }
            for pattern in API_ROUTES {
                let resource = web::resource(pattern);
                cfg.service(if proxied {
                    resource.to(proxy::forward)
                } else {
                    resource.to(page::api_not_proxied)
                });
            }
            cfg
        })
        // Anything else: 405 with `Allow` for a known path, else 404.
        .default_service(platform::unmatched::default_service());
}

/// Every route demo-app serves itself with its methods, taken from [`configure`]'s registrations,
/// so a wrong method is a 405 rather than a 404.
pub fn known_routes() -> KnownRoutes {
    let (_, doc) = App::new()
        .into_utoipa_app()
        .configure(|cfg| configure(cfg, None))
        .split_for_parts();
    KnownRoutes::from_openapi(&doc)
}

#[cfg(test)]
mod tests {
    use actix_web::http::Method;
    use platform::admin::ADMIN_PATHS;

    use super::*;

    #[test]
    fn known_routes_are_every_route_demo_app_serves_itself() {
        let known = known_routes();
        for path in ["/", "/static/app.css", "/ui/info"] {
            assert_eq!(known.allowed(path), Some(&[Method::GET][..]), "{path}");
        }
        assert!(known.allowed("/nope").is_none());
        for path in ADMIN_PATHS {
            assert!(known.allowed(path).is_none(), "{path} is the admin port's");
        }
    }
}
