//! The docs room: the OpenAPI document's own description (title, licence, tags), serving it and the
//! bundled Swagger UI, and what is read from it: the endpoint list of `GET /api` and the routes
//! that answer 405 rather than 404. The document itself is built by the route table
//! ([`crate::routes::openapi`]) from the same registrations as the router.

use actix_web::http::Method;
use actix_web::http::header::CONTENT_SECURITY_POLICY;
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, guard, web};
use platform::unmatched::KnownRoutes;
use serde::Serialize;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::{OpenApi, ToSchema};

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/openapi.json";
/// Where the interactive docs are served (Swagger UI, assets built into the binary).
pub const DOCS_PATH: &str = "/api/docs/";

/// The docs page may load its own bundled assets; everything else keeps the platform's
/// load-nothing policy.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'none'";

/// The document as served, serialized once at start-up.
#[derive(Debug, Clone)]
pub struct OpenApiJson(web::Bytes);

impl OpenApiJson {
    pub fn new(doc: &OpenApiDoc) -> Result<Self, serde_json::Error> {
        Ok(Self(serde_json::to_vec(doc)?.into()))
    }
}

async fn serve_openapi(json: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(mime::APPLICATION_JSON)
        .body(json.0.clone())
}

/// `/api/openapi.json` and the Swagger UI under `/api/docs/`, for the route table. Both are static
/// prefixes, so the API's own requests pay no pattern match for them.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Another method on these answers as on every other route: 405 with `Allow: GET, HEAD` from
    // the app's unmatched handler, not actix's bare resource default.
    cfg.service(
        web::resource(OPENAPI_PATH)
            .route(web::get().to(serve_openapi))
            .default_service(platform::unmatched::default_service()),
    )
    .service(
        web::scope(DOCS_PATH.trim_end_matches('/'))
            .wrap(DefaultHeaders::new().add((CONTENT_SECURITY_POLICY, DOCS_CSP)))
            // `/api/docs` without the slash: where a person typing the address lands.
            .service(
                web::resource("")
                    .get(|| async { web::Redirect::to(DOCS_PATH) })
                    .default_service(platform::unmatched::default_service()),
            )
            // The Swagger UI's resource takes GET only; other methods stop here first.
            .service(
                web::resource("/{_:.*}")
                    .guard(guard::Not(guard::Get()))
                    .to(platform::unmatched::unmatched),
            )
            .service(
                utoipa_swagger_ui::SwaggerUi::new("/{_:.*}")
                    .config(utoipa_swagger_ui::Config::new([OPENAPI_PATH])),
            ),
    );
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "api-app",
        description = "The task API of the GitOps platform demo: tasks, echo and protected statistics.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    tags(
        (name = "info", description = "What is running"),
        (name = "health", description = "Health for people and dashboards"),
        (name = "tasks", description = "The task list"),
        (name = "echo", description = "Echo a message"),
        (name = "protected", description = "Requires the x-api-key header")
    )
)]
pub(crate) struct ApiDoc;

/// One endpoint, as listed by `GET /api`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Endpoint {
    #[schema(example = "GET")]
    pub method: String,
    #[schema(example = "/api/tasks")]
    pub path: String,
    #[schema(example = "List tasks in creation order, one page at a time.")]
    pub description: String,
}

/// The endpoint list `GET /api` shows, taken from the document so it cannot go stale.
pub fn endpoints(doc: &OpenApiDoc) -> Vec<Endpoint> {
    let mut list: Vec<Endpoint> = platform::openapi::operations(doc)
        .map(|(path, method, op)| Endpoint {
            method: method.to_string(),
            path: path.to_owned(),
            description: op.summary.clone().unwrap_or_default(),
        })
        .collect();
    list.push(Endpoint {
        method: "GET".into(),
        path: OPENAPI_PATH.into(),
        description: "This API's OpenAPI document.".into(),
    });
    list.push(Endpoint {
        method: "GET".into(),
        path: DOCS_PATH.into(),
        description: "Interactive API documentation.".into(),
    });
    list
}

/// Every route with its methods, so a wrong method answers 405 rather than 404.
pub fn known_routes(doc: &OpenApiDoc) -> KnownRoutes {
    KnownRoutes::from_openapi(doc)
        .with(OPENAPI_PATH, Method::GET)
        .with(&format!("{DOCS_PATH}{{_:.*}}"), Method::GET)
        .with(DOCS_PATH.trim_end_matches('/'), Method::GET)
}
