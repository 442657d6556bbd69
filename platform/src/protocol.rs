//! Request-level protocol rules, inside the platform middleware: no protocol upgrades or tunnels,
//! one spelling per path, and `HEAD` answered by the `GET` routes.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage as _, ResponseError as _};

use crate::error::{ApiError, ErrorCode};
use crate::protocol_errors::count;

/// Request-level protocol rules, inside the platform middleware:
/// - an `Upgrade` header or `CONNECT` gets a JSON 400 and `Connection: close`: neither app speaks
///   WebSocket, h2c or tunnels, and actix would otherwise read an upgrade's body until the client
///   closes, ignoring `Content-Length`;
/// - a path that percent-encodes a character it could have sent as it is gets a JSON 400
///   `invalid_path`: actix's router decodes such escapes, so `/%61pi/tasks` would be served as
///   `/api/tasks` while the ALB, the WAF and the logs see another path ([`aliased_path`]);
/// - a query string whose percent-escapes decode to bytes that are not UTF-8 gets a JSON 400
///   `invalid_query`: the query parser would replace them with U+FFFD, so `/api/echo?message=%ff`
///   would answer with text the client never sent ([`query_not_utf8`]);
/// - `HEAD` is served by the `GET` route; actix's encoder sends the headers (with the GET body's
///   length) and no body, because it remembers the request was HEAD.
pub async fn rules(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, actix_web::Error> {
    if req.method() == Method::CONNECT || req.headers().contains_key(header::UPGRADE) {
        count("upgrade");
        let mut res = ApiError::new(
            ErrorCode::UPGRADE_NOT_SUPPORTED,
            "protocol upgrades and CONNECT are not supported",
        )
        .error_response();
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        res.head_mut()
            .set_connection_type(actix_http::ConnectionType::Close);
        return Ok(req.into_response(res).map_into_right_body());
    }
    if aliased_path(req.uri().path()) {
        let res = ApiError::new(
            ErrorCode::INVALID_PATH,
            "the path percent-encodes a character that must be sent as it is (a letter, a digit or one of -._~!$&'()*,;=:@)",
        )
        .error_response();
        return Ok(req.into_response(res).map_into_right_body());
    }
    if query_not_utf8(req.query_string()) {
        let res = ApiError::new(
            ErrorCode::INVALID_QUERY,
            "the query string percent-encodes bytes that are not UTF-8",
        )
        .error_response();
        return Ok(req.into_response(res).map_into_right_body());
    }
    if req.method() == Method::HEAD {
        // The access log and metrics already took the method: they still say HEAD.
        req.head_mut().method = Method::GET;
        req.extensions_mut().insert(HeadAsGet);
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// Whether `path` (as sent) spells a character with a percent-escape where it could have been sent
/// as it is, so that the router, which decodes it, would route it like another path: an escaped
/// letter, digit or one of `-._~!$&'()*,;=:@` (RFC 3986's `pchar`; actix keeps `%2B`, `+`, encoded).
/// A character a path cannot hold as it is (a space, `{`, non-ASCII) has only its escaped
/// spelling, so it aliases nothing and is left to the routes (an id with one is `invalid_id`).
pub fn aliased_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .is_some_and(|decoded| {
                    decoded.is_ascii_alphanumeric() || b"-._~!$&'()*,;=:@".contains(&decoded)
                })
    })
}

/// Whether `query` (as sent) percent-encodes bytes that do not decode to UTF-8 (a lone `%ff`, an
/// encoded surrogate, a sequence cut short). A `%` without two hex digits is a `%`, as the query
/// parser reads it. Nothing is decoded unless the query has a `%`.
pub fn query_not_utf8(query: &str) -> bool {
    query.contains('%')
        && percent_encoding::percent_decode_str(query)
            .decode_utf8()
            .is_err()
}

/// Marks a HEAD request that is being routed as GET.
#[derive(Debug, Clone, Copy)]
struct HeadAsGet;

/// The method the client sent: HEAD for a HEAD request routed as GET. A proxy relays this one.
pub fn client_method(req: &actix_web::HttpRequest) -> Method {
    if req.extensions().get::<HeadAsGet>().is_some() {
        Method::HEAD
    } else {
        req.method().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_escapes_the_router_would_decode_alias_a_path() {
        for aliased in [
            "/%61pi/tasks",
            "/healt%68z",
            "/%6detrics",
            "/api/%2e%2e/metrics",
            "/api/tasks/%30",
            "/a%7E",
            "/a%3A",
        ] {
            assert!(aliased_path(aliased), "{aliased}");
        }
        for plain in [
            "/api/tasks",
            "/api/tasks%2F",
            "/a%2fb",
            "/a%25",
            "/a%2B",
            "/a%zz",
            "/a%4",
            "/%",
            "/api/tasks/%7Bid%7D",
            "/caf%C3%A9",
            "/a%20b",
        ] {
            assert!(!aliased_path(plain), "{plain}");
        }
    }

    #[test]
    fn only_escapes_that_decode_to_bytes_other_than_utf8_are_refused() {
        for bad in [
            "message=%ff",
            "message=%ED%A0%80",
            "message=%e2%82",
            "a=1&message=%C3",
            "%80=x",
        ] {
            assert!(query_not_utf8(bad), "{bad}");
        }
        for good in [
            "",
            "message=hello",
            "message=%e2%82%ac",
            "message=caf%C3%A9&limit=5",
            "message=100%",
            "message=%zz%4",
            "message=%25ff",
            "message=a+b",
        ] {
            assert!(!query_not_utf8(good), "{good}");
        }
    }
}
