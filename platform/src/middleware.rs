//! The middleware every request passes through: request id, security headers, panic safety,
//! metrics and one access-log line.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use futures_util::FutureExt as _;
use tracing::Instrument as _;

use crate::connection_state::ConnectionState;
use crate::error::{ApiError, ErrorCode};
use crate::headers::REQUEST_ID_HEADER;
use crate::metrics::{HttpMetrics, UNMATCHED_ROUTE};

/// The id that ties a request's logs, its response and any upstream call together. Kept as the
/// header value it is answered with, so answering with it (or passing it on) copies nothing.
#[derive(Debug, Clone)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// A caller's id is kept when it is short and printable; anything else is replaced, so a client
    /// cannot inject log lines or huge values.
    fn from_request(req: &ServiceRequest) -> Self {
        req.headers()
            .get(&REQUEST_ID_HEADER)
            .filter(|v| {
                let id = v.as_bytes();
                !id.is_empty()
                    && id.len() <= 128
                    && id
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
            })
            .map_or_else(|| Self(new_request_id()), |v| Self(v.clone()))
    }

    /// The id as text (letters, digits and `-_.:` only).
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }

    /// The id as the `x-request-id` header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

/// A fresh version-7 (time-ordered) UUID as the request id. uuid's `fast-rng` feature draws the
/// random bits from a per-thread generator, so minting one costs no syscall; it is encoded into a
/// stack buffer rather than through `Display`, and that buffer becomes the header value's one
/// shared allocation (a value made from a `String` would allocate again when first cloned).
fn new_request_id() -> HeaderValue {
    // No shared context: ids of the same millisecond differ by their random bits, not by a counter
    // behind a lock that every worker would take.
    let id = uuid::Uuid::new_v7(uuid::Timestamp::now(uuid::NoContext));
    let mut text = uuid::Uuid::encode_buffer();
    let len = id.hyphenated().encode_lower(&mut text).len();
    // Hex digits and hyphens: always a valid header value.
    HeaderValue::from_maybe_shared(web::Bytes::from_owner(text).slice(..len))
        .unwrap_or(HeaderValue::from_static("invalid-request-id"))
}

/// The request deadline where the connection did not set one (in-process test services).
const DEFAULT_DEADLINE: std::time::Duration =
    std::time::Duration::from_secs(crate::config::DEFAULT_REQUEST_DEADLINE_SECS);

/// The policy for responses whose app set none: load nothing, never be framed.
const DEFAULT_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Outermost middleware of both apps. A panicking handler becomes a JSON 500 (the worker survives);
/// every response, error or not, gets the request id and security headers; every request is
/// counted, timed by route template and logged once.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, Error> {
    let started = Instant::now();
    let request_id = RequestId::from_request(&req);
    req.extensions_mut().insert(request_id.clone());
    let method = req.method().clone();
    let metrics = req.app_data::<web::Data<HttpMetrics>>().cloned();

    let connection = req.conn_data::<Arc<ConnectionState>>().cloned();
    let deadline = connection
        .as_ref()
        .and_then(|c| c.request_deadline())
        .unwrap_or(DEFAULT_DEADLINE);
    // The route template, never the raw path, for the metrics, the span and the access line. Read
    // before the call (a walk of the route tree, about 600 instructions more than reading the
    // matched resource afterwards): a panic or a missed deadline drops the request, and must still
    // count against its own route, where the SLO alerts and the canary analysis look, not as
    // "unmatched" (bench/PROFILE.md).
    let route = req
        .match_pattern()
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
    // The request's tracing span, parent of every event its handler logs. Debug level: the
    // access-log line carries the same fields at info, and a span per request at info cost a tenth
    // of the health throughput.
    let span = tracing::debug_span!(
        "request",
        request_id = request_id.as_str(),
        method = method.as_str(),
        route = route.as_str(),
    );
    let call = AssertUnwindSafe(next.call(req).instrument(span)).catch_unwind();
    tokio::pin!(call);
    let finished = match tokio::time::timeout(deadline, &mut call).await {
        // A write the handler has begun is answered by the store, whose own timeouts bound it,
        // never by a 408 while it may still commit.
        Err(_) if connection.as_ref().is_some_and(|c| c.write_underway()) => Ok(call.await),
        finished => finished,
    };
    let outcome = match finished {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_panic)) => {
            tracing::error!(
                request_id = request_id.as_str(),
                "handler panicked; answered 500"
            );
            Err(ApiError::internal().into())
        }
        // A body that never finishes, or a handler that never returns: the request is dropped,
        // and the connection closes after the 408 (RFC 9110 15.5.9): whatever of the body is
        // still to come is not read.
        Err(_elapsed) => {
            let mut err: Error = ApiError::new(
                ErrorCode::REQUEST_TIMEOUT,
                format!(
                    "the request was not completed within {} s",
                    deadline.as_secs()
                ),
            )
            .into();
            err.add_response_mapper(|mut res| {
                res.head_mut().set_connection_type(ConnectionType::Close);
                res
            });
            Err(err)
        }
    };
    let status = match &outcome {
        Ok(res) => res.status(),
        Err(err) => err.as_response_error().status_code(),
    };
    let elapsed = started.elapsed();
    if let Some(metrics) = metrics {
        metrics.observe(method.as_str(), &route, status, elapsed.as_secs_f64());
    }
    // Plain strings, not `%` values: the JSON line writes them without the formatting machinery.
    tracing::info!(
        target: crate::telemetry::ACCESS_TARGET,
        request_id = request_id.as_str(),
        method = method.as_str(),
        route = route.as_str(),
        status = status.as_u16(),
        latency_ms = millis(elapsed),
        "request served"
    );
    match outcome {
        Ok(mut res) => {
            secure_headers(res.headers_mut(), &request_id);
            Ok(res)
        }
        // actix renders an error after we return it, so the headers ride along as a mapper.
        Err(mut err) => {
            err.add_response_mapper(move |mut res| {
                secure_headers(res.headers_mut(), &request_id);
                res
            });
            Err(err)
        }
    }
}

/// A duration in milliseconds, to the microsecond.
fn millis(d: std::time::Duration) -> f64 {
    // Microseconds of one request fit in an f64 exactly.
    #[allow(clippy::cast_precision_loss)]
    let micros = d.as_micros() as f64;
    micros / 1000.0
}

fn secure_headers(headers: &mut HeaderMap, request_id: &RequestId) {
    // Room for all of them at once, rather than growing the map while inserting.
    headers.reserve(6);
    headers.insert(REQUEST_ID_HEADER, request_id.0.clone());
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DEFAULT_CSP),
        );
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Wraps an actix `App` in the platform's middleware, in the one order that works: [`observe`]
/// outermost (it must see panics and every final status; it also opens the request span), then
/// the safety net that turns any non-JSON error response into the envelope (with `$codes`, the
/// app's own error codes), then the protocol rules (no upgrades, HEAD as GET). Both apps use this,
/// so neither can get the order wrong or miss a layer.
#[macro_export]
macro_rules! wrap_platform_middleware {
    ($app:expr, $codes:expr) => {
        $app.wrap(::actix_web::middleware::from_fn($crate::protocol::rules))
            .wrap($crate::error::json_error_bodies($codes))
            .wrap(::actix_web::middleware::from_fn(
                $crate::middleware::observe,
            ))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Held by each test that sends requests through [`observe`]. tracing caches a callsite's
    /// interest for every thread when the callsite first registers, and a test that registers the
    /// request span with no subscriber, while another sets its subscriber up, can leave the span
    /// off for both ("never"): they take turns instead.
    pub(super) static THROUGH_OBSERVE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    #[test]
    fn generated_request_ids_are_unique_time_ordered_uuids() {
        let text = |id: HeaderValue| id.to_str().unwrap().to_owned();
        let ids: Vec<String> = (0..10_000).map(|_| text(new_request_id())).collect();
        let other_thread: Vec<String> =
            std::thread::spawn(move || (0..10_000).map(|_| text(new_request_id())).collect())
                .join()
                .unwrap();
        let unique: std::collections::HashSet<&String> = ids.iter().chain(&other_thread).collect();
        assert_eq!(unique.len(), 20_000);
        for id in [&ids[0], &other_thread[0]] {
            let uuid = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(uuid.get_version_num(), 7, "{id}");
        }
    }
}

#[cfg(test)]
mod span_tests {
    use actix_web::{App, HttpResponse, get, test};
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::observe;
    use crate::telemetry::tests::Lines;

    #[get("/inside/{id}")]
    async fn inside() -> HttpResponse {
        tracing::debug!("handler at work");
        HttpResponse::Ok().finish()
    }

    #[actix_web::test]
    async fn events_of_a_handler_are_inside_a_request_span_with_the_response_request_id() {
        let _one_at_a_time = super::tests::THROUGH_OBSERVE.lock().await;
        let lines = Lines::default();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(lines.clone())
                .with_ansi(false)
                .with_filter(tracing_subscriber::filter::LevelFilter::DEBUG),
        );
        let _guard = tracing::subscriber::set_default(subscriber);
        // An earlier test may have registered the request span's callsite with no subscriber, and
        // tracing cached that ("never") for every thread: ask again now that this one exists.
        tracing::callsite::rebuild_interest_cache();
        let app = test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(observe))
                .service(inside),
        )
        .await;
        let req = test::TestRequest::get().uri("/inside/7").to_request();
        let res = test::call_service(&app, req).await;
        let id = res.headers().get("x-request-id").unwrap().to_str().unwrap();
        let logged = lines.text();
        let line = logged
            .lines()
            .find(|l| l.contains("handler at work"))
            .unwrap_or_else(|| panic!("the handler's event: {logged}"));
        assert!(
            line.contains(&format!(
                "request{{request_id=\"{id}\" method=\"GET\" route=\"/inside/{{id}}\"}}"
            )),
            "{line}"
        );
    }
}

#[cfg(test)]
mod panic_tests {
    use actix_web::{App, HttpResponse, get, test, web};

    use super::observe;
    use crate::metrics::HttpMetrics;

    #[get("/boom")]
    async fn boom() -> HttpResponse {
        panic!("a bug in a handler")
    }

    #[get("/fine")]
    async fn fine() -> HttpResponse {
        HttpResponse::Ok().json(serde_json::json!({"ok": true}))
    }

    #[actix_web::test]
    async fn a_panicking_handler_answers_a_json_500_and_the_service_keeps_serving() {
        let _one_at_a_time = super::tests::THROUGH_OBSERVE.lock().await;
        let metrics = web::Data::new(HttpMetrics::new().unwrap());
        let app = test::init_service(
            App::new()
                .app_data(metrics.clone())
                .wrap(actix_web::middleware::from_fn(observe))
                .service(boom)
                .service(fine),
        )
        .await;

        // actix's dispatcher renders an `Err` into the response a client sees; do the same here.
        let req = test::TestRequest::get().uri("/boom").to_request();
        let Err(err) = test::try_call_service(&app, req).await else {
            panic!("the panic surfaces as an error response");
        };
        let res = err.error_response();
        assert_eq!(res.status(), 500);
        assert_eq!(
            res.headers().get("x-content-type-options").unwrap(),
            "nosniff"
        );
        assert!(res.headers().contains_key("x-request-id"));
        let bytes = actix_web::body::to_bytes(res.into_body()).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"]["code"], "internal_error");
        assert!(
            !body.to_string().contains("a bug in a handler"),
            "the panic message stays in the log: {body}"
        );

        let res =
            test::call_service(&app, test::TestRequest::get().uri("/fine").to_request()).await;
        assert_eq!(
            res.status(),
            200,
            "the same service answers the next request"
        );
        assert_eq!(
            metrics.requests_served(),
            2,
            "the panicked request is counted too"
        );
        // Against its own route, as a 500: where the SLO alerts and the canary analysis look.
        let error = actix_web::http::StatusCode::INTERNAL_SERVER_ERROR;
        assert_eq!(metrics.requests_with("GET", "/boom", error), 1);
        assert_eq!(metrics.requests_with("GET", "unmatched", error), 0);
    }
}
