//! The page: its HTML, stylesheet, script and icon, compiled into the binary, and `/ui/info`, the
//! small JSON document that tells the page which environment, build and pod it is looking at.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, ResponseError as _, get, web};
use platform::build_info::BuildInfo;
use platform::config::AppEnv;
use platform::error::ErrorCode;
use serde::Serialize;

use crate::config::Config;

const INDEX_HTML: &str = include_str!("../static/index.html");
const APP_CSS: &str = include_str!("../static/app.css");
const APP_JS: &str = include_str!("../static/app.js");
const FAVICON_SVG: &str = include_str!("../static/favicon.svg");

/// The assets the page loads, by file name under `/static/`, with their content types.
const ASSETS: [(&str, &str, &str); 3] = [
    ("app.css", "text/css; charset=utf-8", APP_CSS),
    ("app.js", "text/javascript; charset=utf-8", APP_JS),
    ("favicon.svg", "image/svg+xml", FAVICON_SVG),
];

/// What the page shows about the process that served it. Nothing here is secret.
#[derive(Debug, Clone, Serialize)]
pub struct UiInfo {
    pub environment: AppEnv,
    pub build: BuildInfo,
    /// Pod name, namespace and node from the downward API; absent outside Kubernetes.
    pub pod: Option<String>,
    pub namespace: Option<String>,
    pub node: Option<String>,
    /// True when this demo-app forwards `/api/*` itself (local runs); false behind the ALB.
    pub api_proxy: bool,
}

impl UiInfo {
    pub fn new(config: &Config, build: BuildInfo) -> Self {
        Self {
            environment: config.server.app_env,
            build,
            pod: config.server.hostname.clone(),
            namespace: config.pod_namespace.clone(),
            node: config.node_name.clone(),
            api_proxy: config.api_url.is_some(),
        }
    }
}

/// The page.
#[utoipa::path(tag = "page", responses((status = 200, description = "The page", content_type = "text/html")))]
#[get("/")]
pub async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-cache"))
        .content_type("text/html; charset=utf-8")
        .body(INDEX_HTML)
}

/// The page's stylesheet, script and icon.
#[utoipa::path(
    tag = "page",
    params(("file" = String, Path, description = "app.css, app.js or favicon.svg")),
    responses(
        (status = 200, description = "The asset"),
        (status = 404, description = "No such asset", body = platform::error::ErrorBody)
    )
)]
#[get("/static/{file}")]
pub async fn asset(file: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|(name, _, _)| *name == file.as_str()) {
        Some((_, content_type, body)) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, *content_type))
            .insert_header((CACHE_CONTROL, "no-cache"))
            .body(*body),
        None => platform::error::ApiError::not_found("no such asset").error_response(),
    }
}

/// Which environment, build and pod answered, for the page's header.
#[utoipa::path(tag = "page", responses((status = 200, description = "What the page shows about this process")))]
#[get("/ui/info")]
pub async fn info(info: web::Data<UiInfo>) -> HttpResponse {
    HttpResponse::Ok().json(info.get_ref())
}

/// The code of an `/api` request to a demo-app that does not proxy it.
pub const API_NOT_PROXIED: ErrorCode = ErrorCode::new(
    "api_not_proxied",
    StatusCode::NOT_FOUND,
    "demo-app without `API_URL` was asked for `/api` (in clusters the ALB routes it to api-app).",
);

/// Without `API_URL`, `/api/*` is not demo-app's to answer (the ALB routes it to api-app); say so
/// instead of a bare 404, so a local run without the proxy explains itself.
pub async fn api_not_proxied() -> HttpResponse {
    platform::error::ApiError::new(
        API_NOT_PROXIED,
        "demo-app does not proxy /api here; set API_URL to an api-app (local runs) or route /api to api-app",
    )
    .error_response()
}
