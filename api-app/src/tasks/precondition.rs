//! Conditional requests (RFC 9110 section 13): every task response carries its version as a strong
//! `ETag`. A write applies only while the stored task is at a version its `If-Match` names and its
//! `If-None-Match` does not (`*`: at no version, so never to a task that exists); otherwise 412 and
//! nothing changes. A read whose `If-Match` fails is a 412, and one whose `If-None-Match` names the
//! current version is a 304.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, EntityTag, Header as _, HeaderName, IfMatch, IfNoneMatch};
use platform::error::{ApiError, ErrorCode};
use platform::headers::list_elements;
use utoipa::openapi::OpenApi;
use utoipa::openapi::schema::{ObjectBuilder, Type};

use super::model::Task;

/// Most entity-tags one `If-Match` or `If-None-Match` may list (over all its lines). A client
/// names the one version it read, a few at most; a longer list is refused rather than compared.
pub const MAX_ENTITY_TAGS: usize = 16;

/// The code of a precondition that lists more than [`MAX_ENTITY_TAGS`] entity-tags.
pub const TOO_MANY_ETAGS: ErrorCode = ErrorCode::new(
    "too_many_etags",
    StatusCode::BAD_REQUEST,
    "An `If-Match` or `If-None-Match` that lists more than 16 entity-tags; nothing was read or written.",
);

/// How the OpenAPI document describes `If-Match` on `PATCH`.
pub(crate) const IF_MATCH_ON_UPDATE: &str = "The ETag last read (e.g. \"3\"), or *. When it no longer \
    matches, nothing changes and the answer is 412. Without it, the last write wins. At most 16 tags; \
    weak tags (W/\"3\") never match a write.";
/// How the OpenAPI document describes `If-Match` on `DELETE`.
pub(crate) const IF_MATCH_ON_DELETE: &str = "The ETag last read (e.g. \"3\"), or *. When it no longer \
    matches, nothing is deleted and the answer is 412. Without it, the delete always applies. At \
    most 16 tags; weak tags never match a write.";
/// How the OpenAPI document describes `If-None-Match` on `PATCH` and `DELETE`.
pub(crate) const IF_NONE_MATCH_ON_WRITE: &str = "ETags (e.g. \"3\" or W/\"3\"), or *. When one names the \
    task's current version (or * is sent, and the task exists), nothing changes and the answer is 412. \
    At most 16 tags.";
/// How the OpenAPI document describes `If-Match` on `GET`.
pub(crate) const IF_MATCH_ON_GET: &str = "ETags (e.g. \"3\"), or *. When none names the task's \
    current version, the answer is 412 and no body. At most 16 tags; weak tags never match.";
/// How the OpenAPI document describes `If-None-Match` on `GET`.
pub(crate) const IF_NONE_MATCH_ON_GET: &str = "ETags already held (e.g. \"3\" or W/\"3\"), or *. \
    When one names the task's current version, the answer is 304 with the ETag and no body. At most \
    16 tags.";

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
    /// version must match one of the strong tags listed, by RFC 9110's strong comparison (13.1.1
    /// and 8.8.3.2): weak tags never match a write, and tags compare byte for byte, so `"05"` is
    /// not version 5. A value that is not a list of entity tags matches nothing, so a condition is
    /// never dropped; a list longer than [`MAX_ENTITY_TAGS`] is a 400.
    pub fn from_request(req: &HttpRequest) -> Result<Self, ApiError> {
        if !req.headers().contains_key(header::IF_MATCH) {
            return Ok(Self::None);
        }
        match bounded_star(req, &header::IF_MATCH)? {
            Star::Alone => return Ok(Self::None),
            // `*` beside tags is no list of entity tags (actix would read only the first line).
            Star::AmongTags => return Ok(Self::VersionIn(Vec::new())),
            Star::Absent => {}
        }
        Ok(match IfMatch::parse(req) {
            Ok(IfMatch::Any) => Self::None,
            Ok(IfMatch::Items(tags)) => Self::VersionIn(
                tags.iter()
                    .filter(|t| !t.weak)
                    .filter_map(|t| version_named(t.tag()))
                    .collect(),
            ),
            Err(_) => Self::VersionIn(Vec::new()),
        })
    }

    /// Whether a task at `version` may be written.
    pub fn admits(&self, version: i64) -> bool {
        match self {
            Self::None => true,
            Self::VersionIn(versions) => versions.contains(&version),
        }
    }
}

/// What a read's `If-None-Match` says the client already holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// No `If-None-Match`, or one that cannot be read (ignored: the full answer).
    Nothing,
    /// `If-None-Match: *`: any current version.
    Any,
    /// These versions, by RFC 9110's weak comparison (13.1.2): `W/"3"` holds version 3 too.
    Versions(Vec<i64>),
}

impl Held {
    /// Reads `If-None-Match`; a list longer than [`MAX_ENTITY_TAGS`] is a 400.
    pub fn from_request(req: &HttpRequest) -> Result<Self, ApiError> {
        if !req.headers().contains_key(header::IF_NONE_MATCH) {
            return Ok(Self::Nothing);
        }
        match bounded_star(req, &header::IF_NONE_MATCH)? {
            Star::Alone => return Ok(Self::Any),
            Star::AmongTags => return Ok(Self::Nothing),
            Star::Absent => {}
        }
        Ok(match IfNoneMatch::parse(req) {
            Ok(IfNoneMatch::Any) => Self::Any,
            Ok(IfNoneMatch::Items(tags)) => {
                Self::Versions(tags.iter().filter_map(|t| version_named(t.tag())).collect())
            }
            Err(_) => Self::Nothing,
        })
    }

    /// Whether the client already holds a task at `version`: then the answer is 304.
    pub fn has(&self, version: i64) -> bool {
        match self {
            Self::Nothing => false,
            Self::Any => true,
            Self::Versions(versions) => versions.contains(&version),
        }
    }
}

/// Both preconditions of a request, which RFC 9110 (13.2.2) evaluates in this order: `If-Match`,
/// then `If-None-Match`. The stores check [`Conditions::admits`] against the version they lock, so
/// a write and its conditions are one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conditions {
    /// `If-Match`: the versions the request may find.
    pub matching: Precondition,
    /// `If-None-Match`: the versions it must not find.
    pub held: Held,
}

impl Conditions {
    /// No condition: the last write wins.
    pub const NONE: Self = Self {
        matching: Precondition::None,
        held: Held::Nothing,
    };

    /// Reads `If-Match` and `If-None-Match`; either listing more than [`MAX_ENTITY_TAGS`] is a 400.
    pub fn from_request(req: &HttpRequest) -> Result<Self, ApiError> {
        Ok(Self {
            matching: Precondition::from_request(req)?,
            held: Held::from_request(req)?,
        })
    }

    /// Whether a write may change a task at `version`: `If-Match` admits it (strong comparison)
    /// and `If-None-Match` does not name it (weak comparison, RFC 9110 13.1.2; `*` names every
    /// version a task that exists can have).
    pub fn admits(&self, version: i64) -> bool {
        self.matching.admits(version) && !self.held.has(version)
    }
}

// A handler takes the conditions as it takes its body: parsed before it runs. An unreadable
// `If-Match` matches nothing, an unreadable `If-None-Match` holds nothing; only an over-long list is
// refused.
read_from_head!(Conditions);

/// Publishes `If-Match` and `If-None-Match` as plain strings: `Option<String>` makes each row
/// optional, but an absent header is not a `null` one (a fuzzer would send the text "null").
pub(crate) fn document_headers(doc: &mut OpenApi) {
    let conditional = [header::IF_MATCH, header::IF_NONE_MATCH];
    for param in platform::openapi::parameters_mut(doc).filter(|p| {
        conditional
            .iter()
            .any(|h| p.name.eq_ignore_ascii_case(h.as_str()))
    }) {
        param.schema = Some(ObjectBuilder::new().schema_type(Type::String).into());
    }
}

/// The task's `ETag` value: its version, as a strong entity tag.
pub fn etag(task: &Task) -> EntityTag {
    EntityTag::new_strong(task.version.to_string())
}

/// The version an opaque tag names: only the exact text [`etag`] writes for it (decimal, no sign,
/// no leading zero), so comparing versions is comparing the tags byte for byte.
fn version_named(tag: &str) -> Option<i64> {
    tag.parse::<i64>()
        .ok()
        .filter(|version| version.to_string() == tag)
}

/// Where `*` stands among a precondition header's elements.
enum Star {
    /// Not there.
    Absent,
    /// The one element: any current version.
    Alone,
    /// Beside tags: not a valid value (RFC 9110: `*` or a list of tags, never both).
    AmongTags,
}

/// Reads `name`'s elements over every line, before any parsing: refuses more than
/// [`MAX_ENTITY_TAGS`] of them, and says where `*` stands among them. Read here because actix's
/// parser looks for `*` in the first line only and then ignores the rest (`If-Match: *` then a
/// stale tag dropped the condition), and within a line drops a `*` beside tags.
fn bounded_star(req: &HttpRequest, name: &HeaderName) -> Result<Star, ApiError> {
    let elements = list_elements(req.headers(), name);
    let entries = elements.len();
    if entries > MAX_ENTITY_TAGS {
        return Err(ApiError::new(
            TOO_MANY_ETAGS,
            format!("{name} lists {entries} entity-tags; at most {MAX_ENTITY_TAGS} are compared"),
        ));
    }
    let stars = elements.iter().filter(|e| **e == b"*").count();
    Ok(match (stars, entries) {
        (0, _) => Star::Absent,
        (1, 1) => Star::Alone,
        _ => Star::AmongTags,
    })
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
        .unwrap()
    }

    fn held(if_none_match: &str) -> Result<Held, ApiError> {
        Held::from_request(
            &TestRequest::default()
                .insert_header((header::IF_NONE_MATCH, if_none_match))
                .to_http_request(),
        )
    }

    #[test]
    fn strong_tags_are_versions_and_weak_or_malformed_ones_match_nothing() {
        assert_eq!(
            Precondition::from_request(&TestRequest::default().to_http_request()).unwrap(),
            Precondition::None
        );
        assert_eq!(read("*"), Precondition::None);
        assert_eq!(read(r#""3", "5""#), Precondition::VersionIn(vec![3, 5]));
        assert_eq!(read(r#"W/"3""#), Precondition::VersionIn(vec![]));
        assert_eq!(read("3"), Precondition::VersionIn(vec![]));
        assert!(!read("3").admits(3));
        assert!(Precondition::None.admits(7));
    }

    #[test]
    fn a_star_beside_other_lines_keeps_the_condition_in_either_order() {
        let two_lines = |name: HeaderName, first: &str, second: &str| {
            TestRequest::default()
                .append_header((name.clone(), first.to_owned()))
                .append_header((name, second.to_owned()))
                .to_http_request()
        };
        for (first, second) in [("*", r#""1""#), (r#""1""#, "*"), ("*", "*")] {
            let req = two_lines(header::IF_MATCH, first, second);
            let condition = Precondition::from_request(&req).unwrap();
            assert_eq!(
                condition,
                Precondition::VersionIn(vec![]),
                "{first} then {second}"
            );
            assert!(
                !condition.admits(2),
                "a stale write with {first} then {second}"
            );
            let req = two_lines(header::IF_NONE_MATCH, first, second);
            assert_eq!(
                Held::from_request(&req).unwrap(),
                Held::Nothing,
                "{first} then {second}"
            );
        }
        assert_eq!(
            read(" * "),
            Precondition::None,
            "one line, spaces around it"
        );
        assert_eq!(held("*").unwrap(), Held::Any);
        // Within one line too, and empty elements do not count (RFC 9110 5.6.1).
        assert_eq!(read(r#"*, "1""#), Precondition::VersionIn(vec![]));
        assert_eq!(read("*, ,"), Precondition::None);
        assert_eq!(held(r#""1", *"#).unwrap(), Held::Nothing);
        let star_then_empty = two_lines(header::IF_MATCH, "*", " ");
        assert_eq!(
            Precondition::from_request(&star_then_empty).unwrap(),
            Precondition::None
        );
    }

    #[test]
    fn tags_compare_byte_for_byte_so_another_spelling_of_a_number_is_another_tag() {
        for other in [r#""05""#, r#""+5""#, r#""5 ""#, r#""5.0""#, r#""0x5""#] {
            assert!(!read(other).admits(5), "{other}");
            assert!(!held(other).unwrap().has(5), "{other}");
        }
        assert!(read(r#""5""#).admits(5));
    }

    #[test]
    fn if_none_match_compares_weakly_and_star_holds_any_version() {
        assert!(held(r#"W/"4""#).unwrap().has(4), "weak comparison");
        assert!(held(r#""1", "4""#).unwrap().has(4));
        assert!(!held(r#""3""#).unwrap().has(4));
        assert!(held("*").unwrap().has(9));
        assert!(
            !held("not a tag").unwrap().has(1),
            "ignored: the full answer"
        );
    }

    #[test]
    fn a_write_is_admitted_only_where_if_match_admits_and_if_none_match_does_not_name_the_version()
    {
        let conditions = |if_match: Option<&str>, if_none_match: Option<&str>| {
            let mut req = TestRequest::default();
            if let Some(v) = if_match {
                req = req.insert_header((header::IF_MATCH, v.to_owned()));
            }
            if let Some(v) = if_none_match {
                req = req.insert_header((header::IF_NONE_MATCH, v.to_owned()));
            }
            Conditions::from_request(&req.to_http_request()).unwrap()
        };
        assert_eq!(conditions(None, None), Conditions::NONE);
        assert!(Conditions::NONE.admits(1));
        // `*`: never a task that exists, whatever its version.
        assert!(!conditions(None, Some("*")).admits(1));
        // A held version, strong or weak, is refused; another one is not.
        assert!(!conditions(None, Some(r#""4""#)).admits(4));
        assert!(!conditions(None, Some(r#"W/"4""#)).admits(4));
        assert!(conditions(None, Some(r#""3""#)).admits(4));
        // Both must hold.
        assert!(conditions(Some(r#""4""#), Some(r#""3""#)).admits(4));
        assert!(!conditions(Some(r#""4""#), Some(r#""4""#)).admits(4));
        assert!(!conditions(Some(r#""3""#), Some(r#""2""#)).admits(4));
        // Unreadable: If-Match matches nothing, If-None-Match holds nothing.
        assert!(!conditions(Some("3"), None).admits(3));
        assert!(conditions(None, Some("not a tag")).admits(3));
    }

    #[test]
    fn lists_longer_than_the_bound_are_refused_counting_quoted_commas_as_text() {
        let list = |n: usize| {
            (1..=n)
                .map(|v| format!("\"{v}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        assert_eq!(
            read(&list(MAX_ENTITY_TAGS)),
            Precondition::VersionIn((1..=16).collect())
        );
        let req = |value: &str| {
            TestRequest::default()
                .insert_header((header::IF_MATCH, value.to_owned()))
                .insert_header((header::IF_NONE_MATCH, value.to_owned()))
                .to_http_request()
        };
        let long = req(&list(MAX_ENTITY_TAGS + 1));
        for err in [
            Precondition::from_request(&long).unwrap_err(),
            Held::from_request(&long).unwrap_err(),
        ] {
            assert!(err.to_string().contains("17 entity-tags"), "{err}");
        }
        let commas = format!("\"{}\"", ",".repeat(40));
        assert!(Precondition::from_request(&req(&commas)).is_ok(), "one tag");
    }
}
