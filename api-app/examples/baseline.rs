//! The benchmark's yardstick: a bare actix-web server whose one handler returns a constant, with
//! the same worker count and the same response size as `GET /api/health`. `scripts/bench.sh` runs it
//! side by side with api-app, so the ratio measures what api-app's plumbing costs (middleware,
//! metrics, access log, tracing span), not the machine.
//!
//! `PORT` (default 8090) and `WORKERS` (default: one per core) are read from the environment.

use actix_web::{App, HttpResponse, HttpServer, get};

/// The same bytes `GET /api/health` returns, so both sides write equal bodies.
const BODY: &str = r#"{"status":"ok","version":"0.1.0","uptime_seconds":0}"#;

#[get("/api/health")]
async fn health() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(BODY)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8090);
    let server = HttpServer::new(|| App::new().service(health));
    let server = match std::env::var("WORKERS").ok().and_then(|w| w.parse().ok()) {
        Some(n) => server.workers(n),
        None => server,
    };
    server.bind(("127.0.0.1", port))?.run().await
}
