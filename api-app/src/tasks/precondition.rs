//! Conditional writes: every task response carries its version as a strong `ETag`, and a write
//! with `If-Match` applies only while the stored task is still at one of the versions named.

use std::convert::Infallible;
use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header::{self, EntityTag, Header as _, IfMatch};
use actix_web::{FromRequest, HttpRequest};

use super::model::Task;

/// How the OpenAPI document describes `If-Match` on `PATCH`.
pub(crate) const IF_MATCH_ON_UPDATE: &str = "The ETag last read (e.g. \"3\"), or *. When it no longer \
    matches, nothing changes and the answer is 412. Without it, the last write wins.";
/// How the OpenAPI document describes `If-Match` on `DELETE`.
pub(crate) const IF_MATCH_ON_DELETE: &str = "The ETag last read (e.g. \"3\"), or *. When it no longer \
    matches, nothing is deleted and the answer is 412. Without it, the delete always applies.";

/// What a conditional write (`If-Match`) requires of the stored task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// No `If-Match`, or `If-Match: *`: the last write wins.
    None,
    /// The stored version must be one of these; anything else is 412.
    VersionIn(Vec<i64>),
}

impl Precondition {
    /// Reads `If-Match`. Absent or `*`: no condition, the last write wins. Otherwise the stored
    /// version must match one of the strong tags listed (weak tags never match a write, RFC 9110
    /// 13.1.1); a value that is not a list of entity tags matches nothing, so a condition is never
    /// dropped.
    pub fn from_request(req: &HttpRequest) -> Self {
        if !req.headers().contains_key(header::IF_MATCH) {
            return Self::None;
        }
        match IfMatch::parse(req) {
            Ok(IfMatch::Any) => Self::None,
            Ok(IfMatch::Items(tags)) => Self::VersionIn(
                tags.iter()
                    .filter(|t| !t.weak)
                    .filter_map(|t| t.tag().parse().ok())
                    .collect(),
            ),
            Err(_) => Self::VersionIn(Vec::new()),
        }
    }

    /// Whether a task at `version` may be written.
    pub fn admits(&self, version: i64) -> bool {
        match self {
            Self::None => true,
            Self::VersionIn(versions) => versions.contains(&version),
        }
    }
}

/// A handler takes the precondition as it takes its body: parsed before it runs. Reading it
/// never fails (an unreadable `If-Match` matches nothing).
impl FromRequest for Precondition {
    type Error = Infallible;
    type Future = Ready<Result<Self, Infallible>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::from_request(req)))
    }
}

/// The task's `ETag` value: its version, as a strong entity tag.
pub fn etag(task: &Task) -> EntityTag {
    EntityTag::new_strong(task.version.to_string())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn read(if_match: &str) -> Precondition {
        Precondition::from_request(
            &TestRequest::default()
                .insert_header((header::IF_MATCH, if_match))
                .to_http_request(),
        )
    }

    #[test]
    fn strong_tags_are_versions_and_weak_or_malformed_ones_match_nothing() {
        assert_eq!(
            Precondition::from_request(&TestRequest::default().to_http_request()),
            Precondition::None
        );
        assert_eq!(read("*"), Precondition::None);
        assert_eq!(read(r#""3", "5""#), Precondition::VersionIn(vec![3, 5]));
        assert_eq!(read(r#"W/"3""#), Precondition::VersionIn(vec![]));
        assert_eq!(read("3"), Precondition::VersionIn(vec![]));
        assert!(!read("3").admits(3));
        assert!(Precondition::None.admits(7));
    }
}
