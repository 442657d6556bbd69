//! Prometheus metrics: RED metrics per route template, process metrics, and whatever gauges an app
//! adds to the same registry.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

/// The route label for a request that matched no route, so random paths never become series.
pub const UNMATCHED_ROUTE: &str = "unmatched";
/// Where the admin port serves the Prometheus text; the `ServiceMonitor`s in `k8s/` scrape it.
pub const METRICS_PATH: &str = "/metrics";

/// The app's metric registry and the HTTP metrics every request updates.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    dropped_log_lines: IntCounter,
}

impl HttpMetrics {
    /// A fresh registry (not the global one, so tests can build many apps) with the HTTP metrics and,
    /// on Linux, the process collector (CPU, RSS, open file descriptors).
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let labels = ["method", "route", "status"];
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests served, by method, route template and status",
            ),
            &labels,
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency, by method, route template and status",
            ),
            &labels,
        )?;
        let dropped_log_lines = IntCounter::new(
            "log_lines_dropped_total",
            "Log lines dropped because stdout did not keep up",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(dropped_log_lines.clone()))?;
        registry.register(Box::new(crate::protocol_errors::PROTOCOL_ERRORS.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Self {
            registry,
            requests,
            duration,
            dropped_log_lines,
        })
    }

    /// The registry, for app-specific collectors such as a task-count gauge.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Records one finished request. `route` must be a route template, never a raw path.
    pub fn observe(&self, method: &str, route: &str, status: StatusCode, seconds: f64) {
        let status = status.as_str();
        let labels = [method_label(method), route, status];
        self.requests.with_label_values(&labels).inc();
        self.duration.with_label_values(&labels).observe(seconds);
    }

    /// The requests served so far with these labels, as [`Self::observe`] writes them.
    #[cfg(test)]
    pub(crate) fn requests_with(&self, method: &str, route: &str, status: StatusCode) -> u64 {
        self.requests
            .with_label_values(&[method_label(method), route, status.as_str()])
            .get()
    }

    /// The number of requests served so far, over every label.
    pub fn requests_served(&self) -> u64 {
        self.requests
            .collect()
            .iter()
            .flat_map(prometheus::proto::MetricFamily::get_metric)
            .map(|m| {
                // Counter values are whole numbers well below 2^53.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let v = m.get_counter().get_value() as u64;
                v
            })
            .sum()
    }

    fn render(&self) -> Result<String, prometheus::Error> {
        // The log writer keeps its own tally; bring the counter up to it at each scrape.
        let dropped = crate::telemetry::dropped_lines();
        self.dropped_log_lines
            .inc_by(dropped.saturating_sub(self.dropped_log_lines.get()));
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        String::from_utf8(buf).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// Methods are a closed set in the label; anything exotic is folded into `other`.
fn method_label(method: &str) -> &str {
    match method {
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
        _ => "other",
    }
}

/// The app's registry as the admin port's `/metrics` renders it. A type of its own, so the admin
/// app has no `Data<HttpMetrics>` and its own requests (probes, scrapes) are not counted as the
/// app's traffic.
#[derive(Debug, Clone)]
pub struct MetricsPage(HttpMetrics);

impl MetricsPage {
    pub fn new(registry: HttpMetrics) -> Self {
        Self(registry)
    }
}

/// Prometheus text exposition of the app's registry, on the admin port.
#[utoipa::path(
    tag = "probes",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain; version=0.0.4", body = String))
)]
// Must be METRICS_PATH (a test checks it).
#[get("/metrics")]
pub async fn metrics(page: web::Data<MetricsPage>) -> actix_web::Result<HttpResponse> {
    let body = page.0.render().map_err(|e| {
        tracing::error!(error = %e, "encoding metrics failed");
        crate::error::ApiError::internal()
    })?;
    Ok(HttpResponse::Ok()
        .content_type(prometheus::TEXT_FORMAT)
        .body(body))
}

use prometheus::core::Collector as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn the_metrics_handler_serves_metrics_path() {
        use actix_web::{App, test};
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(MetricsPage::new(
                    HttpMetrics::new().unwrap(),
                )))
                .service(metrics),
        )
        .await;
        let req = test::TestRequest::get().uri(METRICS_PATH).to_request();
        assert_eq!(test::call_service(&app, req).await.status(), 200);
    }

    #[test]
    fn exotic_methods_do_not_create_series() {
        let m = HttpMetrics::new().unwrap();
        m.observe("BREW", UNMATCHED_ROUTE, StatusCode::NOT_FOUND, 0.001);
        m.observe("GET", "/api/tasks/{id}", StatusCode::OK, 0.001);
        let text = m.render().unwrap();
        assert!(text.contains(r#"method="other""#), "{text}");
        assert!(!text.contains("BREW"));
        assert_eq!(m.requests_served(), 2);
    }
}
