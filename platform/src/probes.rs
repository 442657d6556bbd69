//! Liveness and readiness, served on the admin port ([`crate::admin`]). Liveness answers 200 as soon
//! as the process serves, and stays 200 while draining (a draining pod must not be restarted);
//! readiness waits for the app's dependencies (api-app's store) and answers 503 from the moment
//! shutdown begins, so load balancers stop sending traffic.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, get, web};
use serde::Serialize;

/// The liveness probe's path. `k8s/` points its livenessProbe here.
pub const LIVENESS_PATH: &str = "/healthz";
/// The readiness probe's path. `k8s/` points its readinessProbe and the ALB health check here.
pub const READINESS_PATH: &str = "/readyz";

/// The process's health as the probes report it.
#[derive(Debug)]
pub struct Health {
    ready: AtomicBool,
    shutting_down: AtomicBool,
    /// Dependencies readiness still waits for ([`Health::await_dependency`]).
    pending: AtomicUsize,
    started: Instant,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    /// Not ready until [`Health::mark_ready`] runs, once the listener is bound.
    pub fn new() -> Self {
        Self {
            ready: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            pending: AtomicUsize::new(0),
            started: Instant::now(),
        }
    }

    /// Readiness waits for one more dependency (api-app's store while it opens), until
    /// [`Health::dependency_ready`]; liveness does not.
    pub fn await_dependency(&self) {
        self.pending.fetch_add(1, Ordering::SeqCst);
    }

    /// One dependency readiness waited for is ready.
    pub fn dependency_ready(&self) {
        let _ = self
            .pending
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    pub fn mark_ready(&self) {
        if !self.is_shutting_down() {
            self.ready.store(true, Ordering::SeqCst);
        }
    }

    /// Readiness goes false for good: the process is draining.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.ready.store(false, Ordering::SeqCst);
    }

    /// Serving, every dependency ready, and not draining.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && self.pending.load(Ordering::SeqCst) == 0
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

/// A probe's answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProbeStatus {
    /// `ok`, `starting` or `shutting_down`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: the process can serve.
#[utoipa::path(
    tag = "probes",
    responses((status = 200, description = "The process is alive", body = ProbeStatus))
)]
// actix's route macros take only a literal: this must be LIVENESS_PATH (a test checks it).
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(ProbeStatus { status: "ok" })
}

/// Readiness: the process wants traffic. 503 while starting (its dependencies included) and from
/// the moment shutdown begins.
#[utoipa::path(
    tag = "probes",
    responses(
        (status = 200, description = "Ready for traffic", body = ProbeStatus),
        (status = 503, description = "Starting or shutting down", body = ProbeStatus)
    )
)]
// Must be READINESS_PATH (a test checks it).
#[get("/readyz")]
pub async fn readyz(health: web::Data<Health>) -> HttpResponse {
    if health.is_ready() {
        HttpResponse::Ok().json(ProbeStatus { status: "ok" })
    } else if health.is_shutting_down() {
        HttpResponse::ServiceUnavailable().json(ProbeStatus {
            status: "shutting_down",
        })
    } else {
        HttpResponse::ServiceUnavailable().json(ProbeStatus { status: "starting" })
    }
}

#[cfg(test)]
mod tests {
    use actix_web::App;
    use actix_web::test as actix_test;

    use super::*;

    #[actix_web::test]
    async fn the_probe_handlers_serve_the_probe_paths() {
        let app = actix_test::init_service(
            App::new()
                .app_data(web::Data::new(Health::new()))
                .service(healthz)
                .service(readyz),
        )
        .await;
        for path in [LIVENESS_PATH, READINESS_PATH] {
            let res = actix_test::call_service(
                &app,
                actix_test::TestRequest::get().uri(path).to_request(),
            )
            .await;
            assert_ne!(res.status(), 404, "{path}");
        }
    }

    #[test]
    fn readiness_waits_for_every_dependency() {
        let h = Health::new();
        h.await_dependency();
        h.await_dependency();
        h.mark_ready();
        assert!(!h.is_ready(), "two dependencies pending");
        h.dependency_ready();
        assert!(!h.is_ready(), "one dependency pending");
        h.dependency_ready();
        assert!(h.is_ready());
        h.dependency_ready();
        assert!(h.is_ready(), "an extra call does not wrap around");
    }

    #[test]
    fn readiness_follows_the_lifecycle() {
        let h = Health::new();
        assert!(!h.is_ready(), "not ready before the listener is bound");
        h.mark_ready();
        assert!(h.is_ready());
        h.begin_shutdown();
        assert!(!h.is_ready());
        h.mark_ready();
        assert!(
            !h.is_ready(),
            "a draining process never becomes ready again"
        );
    }
}
