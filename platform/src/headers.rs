//! Header names both apps (and their tests) agree on, spelled once, and how a list-valued header
//! is read.

use actix_web::http::header::{HeaderMap, HeaderName};

/// The request-id header, read from the request when present and always returned.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The header that carries api-app's API key. Only this header counts; a query parameter never
/// does. demo-app's proxy forwards it verbatim and never logs it.
pub const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");

/// The request header that makes a create happen at most once per key (RFC 9110 field names are
/// case-insensitive; this is the IETF draft's spelling). demo-app's proxy forwards it.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Set to `true` on a response that replays a create made earlier with the same key (as Stripe
/// does). demo-app's proxy relays it.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// A message's `Content-Length`, when it has a readable one (a request's or an answer's).
pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(actix_web::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The elements of `name`'s lines as RFC 9110's list syntax (5.6.1) reads them: split at commas
/// outside quoted strings (an entity tag may hold one), trimmed, empty ones left out. actix's
/// typed headers read `*` in the first line only, so checks that must see every element use this.
pub fn list_elements<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Vec<&'h [u8]> {
    let mut out = Vec::new();
    for value in headers.get_all(name) {
        let bytes = value.as_bytes();
        let (mut quoted, mut start) = (false, 0);
        for (i, b) in bytes.iter().enumerate() {
            match b {
                b'"' => quoted = !quoted,
                b',' if !quoted => {
                    out.push(bytes[start..i].trim_ascii());
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.push(bytes[start..].trim_ascii());
    }
    out.retain(|e| !e.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderValue, IF_MATCH};

    use super::*;

    #[test]
    fn list_elements_split_every_line_outside_quotes_and_drop_empty_ones() {
        let mut headers = HeaderMap::new();
        for line in [r#" "a,b" , W/"c""#, "", "*,, d ,"] {
            headers.append(IF_MATCH, HeaderValue::from_static(line));
        }
        let elements: Vec<&[u8]> = list_elements(&headers, &IF_MATCH);
        assert_eq!(
            elements,
            [&br#""a,b""#[..], br#"W/"c""#, b"*", b"d"],
            "{:?}",
            elements
                .iter()
                .map(|e| String::from_utf8_lossy(e))
                .collect::<Vec<_>>()
        );
        assert!(list_elements(&HeaderMap::new(), &IF_MATCH).is_empty());
    }
}
