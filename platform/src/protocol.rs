//! Request-level protocol rules, inside the platform middleware: no protocol upgrades or tunnels,
//! and `HEAD` answered by the `GET` routes.

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
    if req.method() == Method::HEAD {
        // The access log and metrics already took the method: they still say HEAD.
        req.head_mut().method = Method::GET;
        req.extensions_mut().insert(HeadAsGet);
    }
    Ok(next.call(req).await?.map_into_left_body())
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
