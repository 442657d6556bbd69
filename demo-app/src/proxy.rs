//! The same-origin proxy for local runs: `/api/*` goes to `API_URL` and nowhere else.
//!
//! Only the path and query of the incoming request are used to build the upstream URL, so an
//! absolute-form request line, a `Host` or `Forwarded` header cannot point the proxy elsewhere.
//! Headers cross in both directions only from an allow-list (hop-by-hop headers are never on it),
//! redirects are passed back to the browser instead of followed, and every call is bounded by a
//! connect timeout and a total timeout. Failures answer in platform's JSON error shape.

use std::time::Duration;

use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError as _};
use futures_util::StreamExt as _;
use platform::connection_state::WriteUnderway;
use platform::error::{ApiError, ErrorCode};
use platform::headers::{
    API_KEY_HEADER, IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, REQUEST_ID_HEADER, content_length,
};
use platform::middleware::RequestId;

/// The largest request body the proxy forwards; bigger ones get a JSON 413.
pub const MAX_REQUEST_BODY_BYTES: usize = 64 * 1024;
/// The largest response body it relays (the API docs' Swagger UI bundle is the biggest one).
pub const MAX_RESPONSE_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Request headers the browser may send on to the API. `x-request-id` is set separately. The
/// preconditions and the idempotency key are part of the API's write semantics: without them a
/// stale update would win and a retried create would create twice. `content-encoding` describes
/// the body: dropped, compressed bytes would reach the API as if they were JSON.
const REQUEST_HEADERS: [HeaderName; 8] = [
    header::CONTENT_TYPE,
    header::CONTENT_ENCODING,
    header::ACCEPT,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_MATCH,
    IDEMPOTENCY_KEY,
    API_KEY_HEADER,
];

/// Response headers the API may send back. `location` is filtered further by [`same_origin_location`].
const RESPONSE_HEADERS: [HeaderName; 13] = [
    header::CONTENT_TYPE,
    header::CONTENT_ENCODING,
    header::CONTENT_LANGUAGE,
    header::CACHE_CONTROL,
    header::ETAG,
    header::LAST_MODIFIED,
    header::VARY,
    header::ALLOW,
    header::WWW_AUTHENTICATE,
    header::RETRY_AFTER,
    // api-app's own policy for its pages (Swagger UI), exactly as the ALB serves them in clusters.
    header::CONTENT_SECURITY_POLICY,
    header::LOCATION,
    IDEMPOTENT_REPLAYED,
];

/// Methods worth forwarding; anything else (TRACE, CONNECT, inventions) stops here.
const METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// The upstream API: one HTTP client per worker (awc's client is not `Send`) and the base URL.
pub struct Upstream {
    client: awc::Client,
    base: String,
    timeout: Duration,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// `base` is the normalised `API_URL` (no trailing slash).
    pub fn new(base: String, connect_timeout: Duration, timeout: Duration) -> Self {
        let client = awc::Client::builder()
            .connector(awc::Connector::new().timeout(connect_timeout))
            .timeout(timeout)
            .disable_redirects()
            .finish();
        Self {
            client,
            base,
            timeout,
        }
    }
}

/// The code of an upstream the proxy could not reach.
pub const UPSTREAM_UNAVAILABLE: ErrorCode = ErrorCode::new(
    "upstream_unavailable",
    StatusCode::BAD_GATEWAY,
    "demo-app's proxy could not reach `API_URL`.",
);
/// The code of an upstream that did not answer in time.
pub const UPSTREAM_TIMEOUT: ErrorCode = ErrorCode::new(
    "upstream_timeout",
    StatusCode::GATEWAY_TIMEOUT,
    "`API_URL` did not answer within demo-app's proxy timeout; a create, update or delete it forwarded may still have been written (retry a create with its `Idempotency-Key`).",
);

/// Why the upstream call failed, as the client sees it.
fn upstream_unavailable() -> ApiError {
    ApiError::new(
        UPSTREAM_UNAVAILABLE,
        "the API is unreachable; is api-app running at API_URL?",
    )
}

fn upstream_timeout() -> ApiError {
    ApiError::new(UPSTREAM_TIMEOUT, "the API did not answer in time")
}

/// Forwards one request to the upstream API and relays its answer.
pub async fn forward(
    req: HttpRequest,
    payload: web::Payload,
    upstream: web::Data<Upstream>,
) -> Result<HttpResponse, ApiError> {
    if !METHODS.contains(req.method()) {
        return Ok(not_forwarded(req.method()));
    }
    if has_dot_segment(req.path()) {
        return Err(ApiError::new(
            ErrorCode::INVALID_PATH,
            "the path must not contain . or .. segments",
        ));
    }
    let body = read_limited(&req, payload).await?;

    let url = match req.uri().query() {
        Some(query) => format!("{}{}?{query}", upstream.base, req.path()),
        None => format!("{}{}", upstream.base, req.path()),
    };
    let request_id = req.extensions().get::<RequestId>().cloned();
    let method = platform::protocol::client_method(&req);

    let mut outgoing = upstream.client.request(method.clone(), url);
    let hop_by_hop = connection_tokens(req.headers());
    for name in &REQUEST_HEADERS {
        if hop_by_hop.contains(name) {
            continue;
        }
        for value in req.headers().get_all(name) {
            outgoing = outgoing.append_header((name.clone(), value.clone()));
        }
    }
    if let Some(id) = request_id {
        outgoing = outgoing.insert_header((REQUEST_ID_HEADER, id.header_value().clone()));
    }

    let call = async {
        let mut res = if body.is_empty() {
            outgoing.send().await
        } else {
            outgoing.send_body(body).await
        }
        .map_err(|e| classify_send_error(&e))?;
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res
            .body()
            .limit(MAX_RESPONSE_BODY_BYTES)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "reading the upstream response failed");
                upstream_unavailable()
            })?;
        // awc ends the body without an error when the connection closes early, so a cut answer
        // would be relayed as a whole one: its length must be the one it announced. (A chunked
        // answer cut between chunks cannot be told from a whole one this way; api-app sizes every
        // answer it sends.)
        if let Some(announced) = announced_length(&method, status, &headers)
            && announced != bytes.len() as u64
        {
            tracing::warn!(
                announced,
                received = bytes.len(),
                "the upstream response ended before its content-length"
            );
            return Err(upstream_unavailable());
        }
        Ok::<_, ApiError>((status, headers, bytes))
    };
    // A write forwarded may commit in api-app whatever happens here, so the request deadline waits
    // for its answer (bounded by the upstream timeout, whose 504 promises nothing): a 408 means
    // nothing was written, here as in api-app.
    let _write = (!method.is_safe()).then(|| WriteUnderway::begin(&req));
    let (status, headers, bytes) = match tokio::time::timeout(upstream.timeout, call).await {
        Ok(result) => result?,
        Err(_elapsed) => return Err(upstream_timeout()),
    };

    let mut res = HttpResponse::build(status);
    let hop_by_hop = connection_tokens(&headers);
    for name in &RESPONSE_HEADERS {
        if hop_by_hop.contains(name) {
            continue;
        }
        for value in headers.get_all(name) {
            if *name == header::LOCATION {
                if let Some(location) = same_origin_location(value, &upstream.base) {
                    res.insert_header((header::LOCATION, location));
                }
            } else {
                res.append_header((name.clone(), value.clone()));
            }
        }
    }
    // A HEAD answer has no body, but its Content-Length says how long the GET's would be: the
    // relayed one must say the same, not the length of the empty body read here. actix writes the
    // length its body reports (and sends none of it, for HEAD).
    let head_length = (method == Method::HEAD)
        .then(|| content_length(&headers))
        .flatten();
    if let Some(length) = head_length {
        let nothing = futures_util::stream::empty::<Result<Bytes, std::convert::Infallible>>();
        return Ok(res.body(actix_web::body::SizedStream::new(length, nothing)));
    }
    Ok(res.body(bytes))
}

/// The 405 for a method the proxy does not forward, with the `Allow` RFC 9110 asks of a 405.
fn not_forwarded(method: &Method) -> HttpResponse {
    let allow = METHODS
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let mut res = ApiError::new(
        ErrorCode::METHOD_NOT_ALLOWED,
        format!("{method} is not forwarded to the API; use {allow}"),
    )
    .error_response();
    if let Ok(value) = HeaderValue::from_str(&allow) {
        res.headers_mut().insert(header::ALLOW, value);
    }
    res
}

/// The body length an upstream answer announces with `Content-Length`, when it has a body at all
/// (not the answer to a HEAD, not 1xx, 204 or 304).
fn announced_length(method: &Method, status: StatusCode, headers: &HeaderMap) -> Option<u64> {
    let bodiless = *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if bodiless {
        return None;
    }
    content_length(headers)
}

/// Reads the request body, refusing anything over [`MAX_REQUEST_BODY_BYTES`] before buffering it.
async fn read_limited(req: &HttpRequest, mut payload: web::Payload) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::PAYLOAD_TOO_LARGE,
            format!("the request body must be at most {MAX_REQUEST_BODY_BYTES} bytes"),
        )
    };
    if content_length(req.headers()).is_some_and(|n| n > MAX_REQUEST_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::new(ErrorCode::BAD_REQUEST, "the request body could not be read")
        })?;
        if body.len() + chunk.len() > MAX_REQUEST_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Headers the sender declared hop-by-hop by naming them in `Connection` (RFC 9110 §7.6.1).
fn connection_tokens(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::try_from(token.trim()).ok())
        .collect()
}

/// True when a path segment is `.` or `..`, also percent-encoded: the upstream must only ever see
/// paths under `/api/`, never `/api/../metrics`.
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    })
}

/// A redirect is relayed only when it stays on this origin: a path, or an absolute URL on the
/// upstream itself (rewritten to its path). Anything else is dropped, so the API cannot send the
/// browser to another site through demo-app. So is a location holding a control character: a
/// browser deletes tabs and newlines from a URL before reading it (WHATWG URL), so `/\t/evil` would
/// become the off-origin `//evil`.
fn same_origin_location(value: &HeaderValue, base: &str) -> Option<HeaderValue> {
    let location = value.to_str().ok()?;
    if location.bytes().any(|b| b.is_ascii_control()) {
        return None;
    }
    let path = if let Some(rest) = location.strip_prefix(base) {
        if rest.is_empty() { "/" } else { rest }
    } else {
        location
    };
    let same_origin = path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\");
    same_origin.then(|| HeaderValue::from_str(path).ok())?
}

fn classify_send_error(err: &awc::error::SendRequestError) -> ApiError {
    use awc::error::{ConnectError, SendRequestError};
    match err {
        SendRequestError::Timeout | SendRequestError::Connect(ConnectError::Timeout) => {
            upstream_timeout()
        }
        other => {
            tracing::warn!(error = %other, "the upstream request failed");
            upstream_unavailable()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_are_detected_even_when_encoded() {
        assert!(has_dot_segment("/api/../metrics"));
        assert!(has_dot_segment("/api/%2E%2e/metrics"));
        assert!(has_dot_segment("/api/./tasks"));
        assert!(!has_dot_segment("/api/tasks/..."));
        assert!(!has_dot_segment("/api/tasks"));
    }

    #[test]
    fn only_same_origin_redirects_are_relayed() {
        let base = "http://127.0.0.1:8080";
        let loc = |s: &'static str| same_origin_location(&HeaderValue::from_static(s), base);
        assert_eq!(loc("/api/docs/").unwrap(), "/api/docs/");
        assert_eq!(
            loc("http://127.0.0.1:8080/api/docs/").unwrap(),
            "/api/docs/"
        );
        assert!(loc("http://evil.example/").is_none());
        assert!(loc("//evil.example/").is_none());
        assert!(loc("/\\evil.example/").is_none());
        assert!(loc("http://127.0.0.1:8080.evil.example/").is_none());
        // Browsers drop the tab and read //evil.example/ and /\\evil.example/: off-origin.
        assert!(loc("/\t/evil.example/").is_none());
        assert!(loc("/\t\\evil.example/").is_none());
        assert!(loc("http://127.0.0.1:8080/\t/evil.example/").is_none());
    }

    #[test]
    fn connection_named_headers_count_as_hop_by_hop() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, X-Api-Key"),
        );
        let tokens = connection_tokens(&headers);
        assert!(tokens.contains(&API_KEY_HEADER));
    }
}
