//! The benchmark's yardstick: a bare actix-web server whose one handler returns a constant, with
//! the same worker count and the same bytes as `GET /api/health`. `scripts/bench.sh` runs it side by
//! side with api-app, so the ratio measures what api-app's plumbing costs (middleware, metrics,
//! access log, tracing span, the health check itself), not the machine.
//!
//! `PORT` (default 8090), `WORKERS` (default: one per core) and `BODY` (default: the body below; the
//! benchmark passes the body api-app just returned) are read from the environment.

use std::sync::OnceLock;

use actix_web::{App, HttpResponse, HttpServer, get};

/// What `GET /api/health` returns on the in-memory store, so both sides write equal bodies.
const DEFAULT_BODY: &str = r#"{"status":"ok","version":"0.1.0","uptime_seconds":0,"store":{"kind":"memory","reachable":true}}"#;

/// The body, fixed before the server starts: a static, as a hello-world's constant would be.
static BODY: OnceLock<&'static str> = OnceLock::new();

#[get("/api/health")]
async fn health() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(*BODY.get().unwrap_or(&DEFAULT_BODY))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8090);
    if let Ok(body) = std::env::var("BODY") {
        BODY.get_or_init(|| Box::leak(body.into_boxed_str()));
    }
    let server = HttpServer::new(|| App::new().service(health));
    let server = match std::env::var("WORKERS").ok().and_then(|w| w.parse().ok()) {
        Some(n) => server.workers(n),
        None => server,
    };
    server.bind(("127.0.0.1", port))?.run().await
}
