//! `Idempotency-Key` on `POST /api/tasks` (IETF httpapi draft "The Idempotency-Key HTTP Header
//! Field"; Stripe's API is the long-standing model): a retry with the same key and body gets the
//! first create's answer again instead of a second task. The key's syntax, the request's
//! fingerprint, the expiry setting, the error codes and the header's place in the OpenAPI document
//! live here; each store keeps the keys in the transaction that creates the task.

use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use platform::config::{ConfigError, parse_bounded};
use platform::error::{ApiError, ErrorCode};
use sha2::{Digest as _, Sha256};
use utoipa::openapi::OpenApi;
use utoipa::openapi::schema::{ObjectBuilder, Type};

use super::model::{NewTask, Task};

pub use platform::headers::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED};
/// The longest key, in characters (Stripe's bound).
pub const MAX_KEY_CHARS: usize = 255;
/// One character of a key: visible ASCII but `"` and `\`, as a regex class.
macro_rules! key_char {
    () => {
        r"[!#-\[\]-~]"
    };
}
/// The key's syntax as the OpenAPI document publishes it: exactly what [`IdempotencyKey::parse`]
/// accepts, bare or quoted.
pub const KEY_PATTERN: &str = concat!("^(", key_char!(), "{1,255}|\"", key_char!(), "{1,255}\")$");
/// How long a key is remembered by default (`IDEMPOTENCY_KEY_TTL_SECS`): a day, as Stripe does.
pub const DEFAULT_TTL_SECS: u64 = 86_400;
/// The longest a key may be remembered: a week.
pub const MAX_TTL_SECS: u64 = 7 * 86_400;

/// The code of an `Idempotency-Key` that breaks the syntax.
pub const INVALID_IDEMPOTENCY_KEY: ErrorCode = ErrorCode::new(
    "invalid_idempotency_key",
    StatusCode::BAD_REQUEST,
    "An `Idempotency-Key` that is empty, longer than 255 characters, sent twice, or has characters other than visible ASCII (quotes and backslashes excluded; the key may be sent in quotes).",
);
/// The code of a key already used for a create with another body.
pub const IDEMPOTENCY_KEY_REUSED: ErrorCode = ErrorCode::new(
    "idempotency_key_reused",
    StatusCode::UNPROCESSABLE_ENTITY,
    "The `Idempotency-Key` was used, within `IDEMPOTENCY_KEY_TTL_SECS`, for a create with another body; nothing was created.",
);
/// The code of a retry that arrives while the first request with its key is still being handled.
pub const IDEMPOTENCY_KEY_IN_USE: ErrorCode = ErrorCode::new(
    "idempotency_key_in_use",
    StatusCode::CONFLICT,
    "A create with the same `Idempotency-Key` is still in flight; `Retry-After` says when to try again.",
);

/// How the OpenAPI document describes the header.
pub(crate) const KEY_DESCRIPTION: &str = "A key of your choosing (a random UUID is best), 1-255 \
    visible ASCII characters, optionally as a quoted string (\"...\"). A retry with the same key and \
    body gets the first answer again (201, same task, Location and ETag, and Idempotent-Replayed: \
    true), never a second task; the same key with another body is 422; a retry while the first is \
    still in flight is 409. Keys are remembered for IDEMPOTENCY_KEY_TTL_SECS (a day by default).";

/// A client's idempotency key: 1-255 visible ASCII characters other than `"` and `\`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses the header's value: the draft's quoted string (`"abc"`) or, as most clients send it,
    /// the bare key (`abc`); both name the same key.
    pub fn parse(raw: &[u8]) -> Result<Self, String> {
        let inner = match raw {
            [b'"', inner @ .., b'"'] => inner,
            _ => raw,
        };
        if inner.is_empty() || inner.len() > MAX_KEY_CHARS {
            return Err(format!(
                "{IDEMPOTENCY_KEY} must be 1-{MAX_KEY_CHARS} characters"
            ));
        }
        if !inner
            .iter()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\'))
        {
            return Err(format!(
                "{IDEMPOTENCY_KEY} may hold only visible ASCII characters other than quotes and backslashes"
            ));
        }
        // Visible ASCII is UTF-8.
        Ok(Self(String::from_utf8_lossy(inner).into_owned()))
    }
}

impl AsRef<str> for IdempotencyKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The `Idempotency-Key` of a request, if it sent one; a malformed key (or two of them) is a 400
/// before the handler runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHeader(pub Option<IdempotencyKey>);

impl KeyHeader {
    pub fn from_request(req: &HttpRequest) -> Result<Self, ApiError> {
        let mut values = req.headers().get_all(IDEMPOTENCY_KEY);
        let Some(first) = values.next() else {
            return Ok(Self(None));
        };
        if values.next().is_some() {
            return Err(ApiError::new(
                INVALID_IDEMPOTENCY_KEY,
                format!("send one {IDEMPOTENCY_KEY}, not several"),
            ));
        }
        IdempotencyKey::parse(first.as_bytes())
            .map(|key| Self(Some(key)))
            .map_err(|reason| ApiError::new(INVALID_IDEMPOTENCY_KEY, reason))
    }
}

read_from_head!(KeyHeader);

/// What a create asked for, as a SHA-256 digest of its parsed body: the same key with the same
/// fingerprint is a retry, with another one a different request. The parsed body, not the bytes,
/// so a retry that spells the same JSON differently (spacing, key order) is still the same request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of(new: &NewTask) -> Self {
        let mut hash = Sha256::new();
        hash.update([u8::from(new.completed)]);
        hash.update(new.title.as_ref().as_bytes());
        Self(hash.finalize().into())
    }
}

/// A create that is to happen once per key: the key, the body's fingerprint, and how long the
/// key is remembered after the create commits.
#[derive(Debug, Clone)]
pub struct KeyedCreate {
    pub key: IdempotencyKey,
    pub fingerprint: Fingerprint,
    pub ttl: Duration,
}

/// What a keyed create produced: the task as the first create answered it, and whether this
/// answer replays that one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub task: Task,
    pub replayed: bool,
}

/// `IDEMPOTENCY_KEY_TTL_SECS`, parsed once at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencySettings {
    /// How long after a keyed create its key is remembered.
    pub ttl: Duration,
}

impl IdempotencySettings {
    pub fn parse(ttl_secs: Option<&str>) -> Result<Self, ConfigError> {
        let secs = parse_bounded(
            "IDEMPOTENCY_KEY_TTL_SECS",
            ttl_secs,
            DEFAULT_TTL_SECS,
            1..=MAX_TTL_SECS,
        )?;
        Ok(Self {
            ttl: Duration::from_secs(secs),
        })
    }

    /// The store's instructions for a create with `key` and body `new`.
    pub fn keyed(&self, key: IdempotencyKey, new: &NewTask) -> KeyedCreate {
        KeyedCreate {
            key,
            fingerprint: Fingerprint::of(new),
            ttl: self.ttl,
        }
    }
}

/// Publishes the key's syntax on the `Idempotency-Key` parameter: its pattern and length, which
/// the `params(...)` row of the handler cannot state.
pub(crate) fn document_key(doc: &mut OpenApi) {
    // No other parameter of the API has this name, and this one is the header.
    let params = platform::openapi::parameters_mut(doc)
        .filter(|p| p.name.eq_ignore_ascii_case(IDEMPOTENCY_KEY.as_str()));
    for param in params {
        // A plain string: `Option<String>` makes the row optional, but an absent header is not a
        // `null` one (a fuzzer would send the text "null").
        param.schema = Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(KEY_PATTERN))
                .into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_task(title: &str, completed: bool) -> NewTask {
        NewTask::for_tests(title, completed)
    }

    #[test]
    fn a_key_is_visible_ascii_bare_or_quoted_and_bounded() {
        let bare = IdempotencyKey::parse(b"8e03978e-40d5-43e8-bc93-6894a57f9324").unwrap();
        let quoted = IdempotencyKey::parse(b"\"8e03978e-40d5-43e8-bc93-6894a57f9324\"").unwrap();
        assert_eq!(bare, quoted, "the draft's quoted form names the same key");
        assert!(IdempotencyKey::parse(&[b'k'; MAX_KEY_CHARS]).is_ok());
        for bad in [
            &b""[..],
            b"\"\"",
            &[b'k'; MAX_KEY_CHARS + 1],
            b"with space",
            b"tab\there",
            b"caf\xc3\xa9",
            b"a\"b",
            b"back\\slash",
            b"\"unclosed",
        ] {
            assert!(
                IdempotencyKey::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn the_published_pattern_accepts_exactly_the_bytes_parse_accepts() {
        // The pattern's class, `!` and `#`-`[` and `]`-`~`, spelled out.
        let in_class =
            |b: u8| b == b'!' || (b'#'..=b'[').contains(&b) || (b']'..=b'~').contains(&b);
        for b in 0..=u8::MAX {
            assert_eq!(
                IdempotencyKey::parse(&[b]).is_ok(),
                in_class(b),
                "byte {b:#04x}"
            );
        }
        assert_eq!(key_char!(), r"[!#-\[\]-~]");
        assert_eq!(
            KEY_PATTERN
                .matches(&format!("{}{{1,{MAX_KEY_CHARS}}}", key_char!()))
                .count(),
            2,
            "bare and quoted: {KEY_PATTERN}"
        );
    }

    #[test]
    fn the_fingerprint_is_the_parsed_body() {
        let a = Fingerprint::of(&new_task("ship it", false));
        assert_eq!(a, Fingerprint::of(&new_task("  ship it ", false)));
        assert_ne!(a, Fingerprint::of(&new_task("ship it", true)));
        assert_ne!(a, Fingerprint::of(&new_task("ship it!", false)));
    }

    #[test]
    fn the_ttl_defaults_to_a_day_and_is_bounded() {
        assert_eq!(
            IdempotencySettings::parse(None).unwrap().ttl,
            Duration::from_hours(24)
        );
        assert_eq!(
            IdempotencySettings::parse(Some("60")).unwrap().ttl,
            Duration::from_mins(1)
        );
        for bad in ["0", "604801", "a day"] {
            let err = IdempotencySettings::parse(Some(bad)).unwrap_err();
            assert!(
                err.to_string().contains("IDEMPOTENCY_KEY_TTL_SECS"),
                "{err}"
            );
        }
    }
}
