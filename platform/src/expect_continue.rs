//! `Expect: 100-continue` (RFC 9110 10.1.1): a client that asks before it sends a body is told
//! "go on" only if the body it announces is one the app would read. actix-http answers every such
//! request with `100 Continue` before the router runs, so a client announcing megabytes was
//! invited to send them all, only to get a 413 once they were on the wire. [`continue_or_refuse`]
//! is the HTTP service's expect step: a `Content-Length` over the app's largest body gets the JSON
//! 413 instead of the 100, and the body is never sent (the dispatcher closes the connection after
//! an answer that leaves a body unread).

use std::future::{Ready, ready};

use actix_http::body::BoxBody;
use actix_http::header::{self, HeaderValue};
use actix_http::{HttpMessage as _, Request, Response};
use actix_web::ResponseError as _;

use crate::error::{ApiError, ErrorCode};
use crate::headers::content_length;
use crate::protocol_errors::count;

/// The expect step of a server whose routes read bodies of at most `max_body_bytes`: the request
/// goes on (and actix writes the 100) unless it announces a longer body.
pub(crate) fn continue_or_refuse(
    req: Request,
    max_body_bytes: usize,
) -> Ready<Result<Request, Response<BoxBody>>> {
    ready(match content_length(req.headers()) {
        Some(length) if length > max_body_bytes as u64 => {
            count("body_too_large");
            Err(too_large(max_body_bytes))
        }
        _ => Ok(req),
    })
}

/// The JSON 413 the app's own extractors answer, with the headers a response below the router
/// carries (the 431 of `deadline_io` has the same).
fn too_large(max_body_bytes: usize) -> Response<BoxBody> {
    let mut res: Response<BoxBody> = ApiError::new(
        ErrorCode::PAYLOAD_TOO_LARGE,
        format!("the request body must be at most {max_body_bytes} bytes"),
    )
    .error_response()
    .into();
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[cfg(test)]
mod tests {
    use actix_http::test::TestRequest;

    use super::*;

    fn with_length(length: &str) -> Request {
        TestRequest::default()
            .insert_header((header::CONTENT_LENGTH, length))
            .insert_header((header::EXPECT, "100-continue"))
            .finish()
    }

    #[test]
    fn a_body_up_to_the_limit_goes_on_and_a_longer_one_is_refused_413() {
        for fine in ["0", "16384", " 16384 "] {
            assert!(
                continue_or_refuse(with_length(fine), 16_384)
                    .into_inner()
                    .is_ok(),
                "{fine}"
            );
        }
        // No length (a chunked body): nothing to judge before it arrives.
        assert!(
            continue_or_refuse(TestRequest::default().finish(), 16_384)
                .into_inner()
                .is_ok()
        );
        let refused = continue_or_refuse(with_length("16385"), 16_384)
            .into_inner()
            .unwrap_err();
        assert_eq!(refused.status().as_u16(), 413);
        assert_eq!(
            refused.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/json"
        );
        assert_eq!(
            refused
                .headers()
                .get(header::X_CONTENT_TYPE_OPTIONS)
                .unwrap(),
            "nosniff"
        );
    }
}
