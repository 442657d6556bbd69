//! The OpenAPI document, generated from the same registrations that build the router.

use actix_web::http::Method;
use actix_web::http::header::CONTENT_SECURITY_POLICY;
use actix_web::middleware::DefaultHeaders;
use actix_web::{App, HttpResponse, web};
use platform::error::KnownRoutes;
use utoipa::Number;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{Object, RefOr, Schema};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt as _;

use crate::auth::API_KEY_HEADER;
use crate::domain::{
    DEFAULT_PAGE_LIMIT, MAX_ECHO_CHARS, MAX_PAGE_LIMIT, MAX_PAGE_OFFSET, TITLE_PATTERN,
};
use crate::routes::{self, Endpoint};

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
pub fn configure_docs(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(OPENAPI_PATH).route(web::get().to(serve_openapi)))
        .service(
            web::scope(DOCS_PATH.trim_end_matches('/'))
                .wrap(DefaultHeaders::new().add((CONTENT_SECURITY_POLICY, DOCS_CSP)))
                // `/api/docs` without the slash: where a person typing the address lands.
                .service(web::resource("").get(|| async { web::Redirect::to(DOCS_PATH) }))
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
    modifiers(&ApiKeyScheme),
    tags(
        (name = "info", description = "What is running"),
        (name = "health", description = "Health for people and dashboards"),
        (name = "probes", description = "Kubernetes probes and Prometheus metrics"),
        (name = "tasks", description = "The task list"),
        (name = "echo", description = "Echo a message"),
        (name = "protected", description = "Requires the x-api-key header")
    )
)]
struct ApiDoc;

/// Registers the `api_key` security scheme: the key travels in the `x-api-key` header.
struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                API_KEY_HEADER.as_str(),
                "The API key from the environment's secret (API_KEY, or API_KEY_PREVIOUS during a rotation)",
            ))),
        );
    }
}

/// Publishes [`TITLE_PATTERN`] on the `TaskTitle` schema: the exact rule `TaskTitle::parse` applies
/// (trimmed length and no control characters), which `maxLength` alone cannot state.
struct TitlePattern;

impl Modify for TitlePattern {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let schema = openapi
            .components
            .as_mut()
            .and_then(|c| c.schemas.get_mut("TaskTitle"));
        if let Some(RefOr::T(Schema::Object(title))) = schema {
            title.pattern = Some(TITLE_PATTERN.to_owned());
        }
    }
}

/// Publishes the query parameters' bounds from the constants that enforce them (utoipa's
/// attributes take only literals, which would say each number twice).
struct QueryBounds;

impl Modify for QueryBounds {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let integer = |min: usize, max: usize, default: usize| {
            move |o: &mut Object| {
                o.minimum = Some(Number::UInt(min));
                o.maximum = Some(Number::UInt(max));
                o.default = Some(default.into());
            }
        };
        bound(
            openapi,
            "/api/tasks",
            "limit",
            integer(1, MAX_PAGE_LIMIT, DEFAULT_PAGE_LIMIT),
        );
        bound(
            openapi,
            "/api/tasks",
            "offset",
            integer(0, MAX_PAGE_OFFSET, 0),
        );
        bound(openapi, "/api/echo", "message", |o: &mut Object| {
            o.min_length = Some(1);
            o.max_length = Some(MAX_ECHO_CHARS);
        });
    }
}

/// Applies `set` to the schema of query parameter `name` of `GET path`.
fn bound(openapi: &mut OpenApiDoc, path: &str, name: &str, set: impl FnOnce(&mut Object)) {
    let schema = openapi
        .paths
        .paths
        .get_mut(path)
        .and_then(|item| item.get.as_mut())
        .and_then(|op| op.parameters.as_mut())
        .and_then(|params| {
            params.iter_mut().find_map(|p| match p {
                RefOr::T(p) if p.name == name => p.schema.as_mut(),
                _ => None,
            })
        });
    if let Some(RefOr::T(Schema::Object(object))) = schema {
        set(object);
    }
}

/// The document, built by registering the real routes on a throwaway app.
pub fn openapi() -> OpenApiDoc {
    let (_, mut doc) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes::configure)
        .split_for_parts();
    // After the routes are registered: only then does the document hold their schemas.
    TitlePattern.modify(&mut doc);
    QueryBounds.modify(&mut doc);
    doc
}

/// The endpoint list `GET /api` shows, taken from the document so it cannot go stale.
pub fn endpoints(doc: &OpenApiDoc) -> Vec<Endpoint> {
    let mut list: Vec<Endpoint> = platform::error::operations(doc)
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
