//! The extractor configurations that answer bad input with the JSON envelope: JSON bodies (size,
//! content type, shape), query strings and path segments; and [`PlainJson`], the check that a
//! JSON body is sent as it is.

use std::future::{Ready, ready};

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::{self, HeaderMap};
use actix_web::{FromRequest, HttpRequest, dev, web};

use crate::error::{ApiError, ErrorCode};
use crate::headers::list_elements;

/// Largest JSON body either app accepts, in bytes.
pub const JSON_LIMIT_BYTES: usize = 16 * 1024;

/// Registers the extractor configurations that answer bad input with the envelope: JSON bodies of
/// at most [`JSON_LIMIT_BYTES`], query strings and path segments. `App::configure(extractors::configure)`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config(JSON_LIMIT_BYTES))
        .app_data(query_config())
        .app_data(path_config());
}

/// JSON bodies: at most `limit` bytes, a JSON type required, errors in the envelope. actix takes
/// any type whose subtype or suffix is `json` (a `content_type` predicate can only add to that);
/// [`PlainJson`] narrows it to `application/json` and `application/…+json`.
fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .content_type_required(true)
        .error_handler(|err, _req| json_payload_error(&err).into())
}

/// The 415 for a body whose type is not JSON's, from actix's check or [`PlainJson`]'s.
fn not_json() -> ApiError {
    ApiError::new(
        ErrorCode::UNSUPPORTED_MEDIA_TYPE,
        "the request body must be JSON with content-type: application/json",
    )
}

fn json_payload_error(err: &JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => ApiError::new(
            ErrorCode::PAYLOAD_TOO_LARGE,
            format!("the request body must be at most {limit} bytes"),
        ),
        JsonPayloadError::ContentType => not_json(),
        // Well-formed JSON of the wrong shape, or a value our domain types reject.
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            // serde_json appends " at line 1 column 12"; the sentence reads better without it.
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or_default();
            ApiError::validation(message)
        }
        JsonPayloadError::Deserialize(e) => ApiError::new(
            ErrorCode::MALFORMED_JSON,
            format!("the request body is not valid JSON: {e}"),
        ),
        _ => ApiError::new(ErrorCode::BAD_REQUEST, "the request body could not be read"),
    }
}

/// A JSON body sent as it is: one `Content-Type` line, an `application` type, no `charset` but
/// UTF-8, not a JSON Patch document, and no content coding, else a JSON 415.
/// actix's JSON extractor reads only the first `Content-Type` line and ignores `Content-Encoding`,
/// so gzip bytes would be parsed as JSON (a misleading `malformed_json`), a `br` label would be
/// ignored, and a second, different type would pass: a proxy or WAF in front may read such a
/// request otherwise. A handler takes it before its `web::Json<T>` argument.
#[derive(Debug, Clone, Copy)]
pub struct PlainJson;

impl FromRequest for PlainJson {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut dev::Payload) -> Self::Future {
        ready(plain_json(req.headers()).map(|()| Self))
    }
}

fn plain_json(headers: &HeaderMap) -> Result<(), ApiError> {
    if headers.get_all(header::CONTENT_TYPE).nth(1).is_some() {
        return Err(ApiError::new(
            ErrorCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type is sent more than once; send it once, as application/json",
        ));
    }
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok());
    if let Some(media_type) = media_type {
        // JSON's media types are application's (RFC 8259 11, RFC 6839 3.1); actix would also read
        // `text/json` or `text/x+json`, which a proxy or WAF in front may treat as text.
        if media_type.type_() != mime::APPLICATION {
            return Err(not_json());
        }
        // JSON is exchanged in UTF-8 (RFC 8259 8.1) and parsed as UTF-8 whatever the header says,
        // so a body said to be in another charset is refused rather than misread.
        let other_charset = media_type
            .get_param(mime::CHARSET)
            .is_some_and(|c| !c.as_str().eq_ignore_ascii_case("utf-8"));
        if other_charset {
            return Err(ApiError::new(
                ErrorCode::UNSUPPORTED_MEDIA_TYPE,
                "a JSON body is read as UTF-8: send it with no charset, or charset=utf-8",
            ));
        }
        // actix takes any `+json` type for JSON. A JSON Patch (RFC 6902) is a list of operations,
        // another language than the object the API reads: it would only fail as the wrong shape.
        let json_patch = media_type.type_() == mime::APPLICATION
            && media_type
                .subtype()
                .as_str()
                .eq_ignore_ascii_case("json-patch")
            && media_type.suffix() == Some(mime::JSON);
        if json_patch {
            return Err(ApiError::new(
                ErrorCode::UNSUPPORTED_MEDIA_TYPE,
                "JSON Patch is not supported: send the fields to change as an object, with \
                 content-type: application/json",
            ));
        }
    }
    let coded = list_elements(headers, &header::CONTENT_ENCODING)
        .iter()
        .any(|coding| !coding.eq_ignore_ascii_case(b"identity"));
    if coded {
        return Err(ApiError::new(
            ErrorCode::UNSUPPORTED_MEDIA_TYPE,
            "content-encoding is not supported; send the JSON body uncompressed",
        ));
    }
    Ok(())
}

/// Query strings: a bad or missing parameter is a JSON 400.
fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let message = match &err {
            QueryPayloadError::Deserialize(e) => format!("invalid query string: {e}"),
            _ => "invalid query string".to_owned(),
        };
        ApiError::new(ErrorCode::INVALID_QUERY, message).into()
    })
}

/// Path segments: a malformed id is a JSON 400.
fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| {
        let message = match &err {
            PathError::Deserialize(e) => format!("invalid path parameter: {e}"),
            _ => "invalid path parameter".to_owned(),
        };
        ApiError::new(ErrorCode::INVALID_PATH, message).into()
    })
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(lines: &[(HeaderName, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in lines {
            map.append(name.clone(), HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn one_content_type_and_no_coding_is_plain_json() {
        let json = (header::CONTENT_TYPE, "application/json");
        assert!(plain_json(&headers(std::slice::from_ref(&json))).is_ok());
        // A merge patch (RFC 7396) is the object PATCH reads; other `+json` types are JSON too.
        for other in [
            "application/merge-patch+json",
            "application/vnd.example+json",
        ] {
            let json = (header::CONTENT_TYPE, other);
            assert!(plain_json(&headers(&[json])).is_ok(), "{other}");
        }
        assert!(
            plain_json(&headers(&[])).is_ok(),
            "no type: the JSON extractor's 415"
        );
        for identity in [
            "identity",
            " Identity ",
            "identity, identity",
            "identity,",
            "",
        ] {
            let coding = (header::CONTENT_ENCODING, identity);
            assert!(
                plain_json(&headers(&[json.clone(), coding])).is_ok(),
                "{identity}"
            );
        }
    }

    #[test]
    fn a_second_content_type_or_any_coding_is_refused_415() {
        let json = (header::CONTENT_TYPE, "application/json");
        let refused = [
            vec![json.clone(), (header::CONTENT_TYPE, "text/plain")],
            vec![json.clone(), json.clone()],
            vec![json.clone(), (header::CONTENT_ENCODING, "gzip")],
            vec![json.clone(), (header::CONTENT_ENCODING, "identity, br")],
            vec![
                json.clone(),
                (header::CONTENT_ENCODING, "identity"),
                (header::CONTENT_ENCODING, "deflate"),
            ],
            vec![(header::CONTENT_TYPE, "application/json-patch+json")],
            vec![(
                header::CONTENT_TYPE,
                "Application/JSON-Patch+JSON; charset=utf-8",
            )],
        ];
        for lines in refused {
            let err = plain_json(&headers(&lines)).expect_err(&format!("{lines:?}"));
            assert!(
                err.to_string().starts_with("unsupported_media_type (415)"),
                "{lines:?}: {err}"
            );
        }
    }
}
