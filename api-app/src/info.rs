//! `GET /api`: what is running, where, and which endpoints it serves.

use actix_web::{HttpResponse, get, web};
use platform::build_info::BuildInfo;
use platform::config::AppEnv;
use serde::Serialize;
use utoipa::ToSchema;

use crate::docs::Endpoint;
use crate::tasks::store::StoreKind;

/// Service identity, built once at start-up.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceInfo {
    #[serde(flatten)]
    pub build: BuildInfo,
    pub environment: AppEnv,
    /// The pod name in Kubernetes, so a rollout is visible.
    #[schema(nullable = true)]
    pub hostname: Option<String>,
    /// Where the tasks live.
    pub store: StoreInfo,
    /// Every endpoint, taken from the generated OpenAPI document.
    pub endpoints: Vec<Endpoint>,
}

/// Which task store this process uses.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct StoreInfo {
    pub kind: StoreKind,
}

/// Name, version, commit, environment and the list of endpoints.
#[utoipa::path(
    tag = "info",
    responses((status = 200, description = "Service information", body = ServiceInfo))
)]
#[get("")]
pub async fn info(info: web::Data<ServiceInfo>) -> HttpResponse {
    HttpResponse::Ok().json(info.get_ref())
}
