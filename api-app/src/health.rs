//! `GET /api/health`: a human-facing health summary, including whether the task store answers;
//! 503 while shutting down or while the store is unreachable.

use std::cell::RefCell;

use actix_web::http::header::ContentType;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, web};
use platform::probes::Health;
use serde::Serialize;
use utoipa::ToSchema;

use crate::info::ServiceInfo;
use crate::tasks::store::{StoreKind, TaskStore};

/// The API's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct HealthReport {
    /// `ok`; `store_unavailable` while the task store does not answer; `shutting_down` while the
    /// process drains.
    #[schema(example = "ok")]
    pub status: &'static str,
    #[schema(example = "0.1.0")]
    pub version: &'static str,
    /// Seconds since the process started.
    pub uptime_seconds: u64,
    pub store: StoreHealth,
}

/// The task store, as this request found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct StoreHealth {
    pub kind: StoreKind,
    /// Whether the store answered a check just now, within its timeouts.
    pub reachable: bool,
}

/// Status, version and uptime.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Healthy", body = HealthReport),
        (status = 503, description = "Shutting down, or the task store is unreachable", body = HealthReport)
    )
)]
#[get("/health")]
pub async fn health(
    health: web::Data<Health>,
    info: web::Data<ServiceInfo>,
    store: web::Data<dyn TaskStore>,
) -> HttpResponse {
    let reachable = store.check().await.is_ok();
    let status = if health.is_shutting_down() {
        "shutting_down"
    } else if reachable {
        "ok"
    } else {
        "store_unavailable"
    };
    let report = HealthReport {
        status,
        version: info.build.version,
        uptime_seconds: health.uptime().as_secs(),
        store: StoreHealth {
            kind: store.kind(),
            reachable,
        },
    };
    let mut res = if status == "ok" {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    res.insert_header(ContentType::json())
        .body(report.to_json())
}

impl HealthReport {
    /// The report as JSON. Every request of the same second with the same findings gets the same
    /// bytes, so each worker serialises a report once per second and hands out a shared copy.
    fn to_json(self) -> Bytes {
        thread_local! {
            static LAST: RefCell<Option<(HealthReport, Bytes)>> = const { RefCell::new(None) };
        }
        LAST.with_borrow_mut(|last| match last {
            Some((report, body)) if *report == self => body.clone(),
            _ => {
                // A struct of strings, numbers and a bool always serialises.
                let body = Bytes::from(serde_json::to_vec(&self).unwrap_or_default());
                *last = Some((self, body.clone()));
                body
            }
        })
    }
}
