//! Authentication for the protected endpoints: the accepted keys, their constant-time check, and
//! the guard that fails closed.

use std::fmt;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{ResponseError as _, web};
use platform::config::ConfigError;
use platform::error::{ApiError, ErrorCode};
pub use platform::headers::API_KEY_HEADER;
use secrecy::{ExposeSecret, SecretString};

use crate::throttle::Throttle;
use subtle::ConstantTimeEq;

/// Shortest accepted API key.
pub const MIN_KEY_LEN: usize = 16;
/// Longest accepted API key, so a hostile header cannot make comparison expensive.
pub const MAX_KEY_LEN: usize = 512;
/// Shortest key accepted outside `APP_ENV=local`, where keys are generated
/// (`openssl rand -base64 48` gives 64 characters; terraform/README.md).
pub const MIN_GENERATED_KEY_LEN: usize = 32;
/// Least Shannon entropy per character, measured over the key's own characters, that a key outside
/// `local` must show. A random base64 or hex key of 32+ characters measures 3.5-5 bits; a repeated
/// or patterned one (`aaaa…`, `abab…`, `passwordpassword…`) measures far less.
const MIN_BITS_PER_CHAR: f64 = 3.0;

/// One API key. Its `Debug` is redacted, and it is compared in constant time.
#[derive(Clone)]
pub struct ApiKey(SecretString);

impl ApiKey {
    /// Reads the key in variable `var`; unset or empty means no key.
    pub fn parse(var: &'static str, raw: Option<String>) -> Result<Option<Self>, ConfigError> {
        let Some(raw) = raw.filter(|k| !k.is_empty()) else {
            return Ok(None);
        };
        if raw.trim() != raw || !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&raw.len()) || !raw.is_ascii()
        {
            return Err(ConfigError::Invalid {
                var,
                reason: format!(
                    "must be {MIN_KEY_LEN}-{MAX_KEY_LEN} ASCII characters with no surrounding spaces"
                ),
            });
        }
        Ok(Some(Self(SecretString::from(raw))))
    }

    /// Refuses a key that does not look generated: shorter than [`MIN_GENERATED_KEY_LEN`], or with
    /// less than [`MIN_BITS_PER_CHAR`] bits of entropy per character. Applied outside `local`.
    fn require_generated(&self, var: &'static str) -> Result<(), ConfigError> {
        let key = self.0.expose_secret();
        if key.len() < MIN_GENERATED_KEY_LEN || bits_per_char(key) < MIN_BITS_PER_CHAR {
            return Err(ConfigError::Invalid {
                var,
                reason: format!(
                    "must be a generated key of at least {MIN_GENERATED_KEY_LEN} random characters outside APP_ENV=local (openssl rand -base64 48)"
                ),
            });
        }
        Ok(())
    }

    /// True when `presented` equals this key. The time taken depends only on the lengths.
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0.expose_secret().as_bytes().ct_eq(presented).into()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// The keys the protected endpoints accept: the current one and, during a rotation, the previous one.
#[derive(Debug, Clone)]
pub struct ApiKeys {
    current: Option<ApiKey>,
    previous: Option<ApiKey>,
}

/// What an authentication attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    Accepted,
    Rejected,
    /// No key is configured: the protected endpoints answer 503 and are never open.
    NotConfigured,
}

impl ApiKeys {
    /// The key set from `API_KEY` and `API_KEY_PREVIOUS`. A previous key alone would be a rotation
    /// with nothing to rotate to, so it is a configuration error.
    pub fn new(current: Option<ApiKey>, previous: Option<ApiKey>) -> Result<Self, ConfigError> {
        if current.is_none() && previous.is_some() {
            return Err(ConfigError::Missing {
                var: "API_KEY",
                why: "when API_KEY_PREVIOUS is set",
            });
        }
        Ok(Self { current, previous })
    }

    /// Checks a presented key against both configured keys. Both comparisons always run, so timing
    /// does not reveal which key matched.
    pub fn check(&self, presented: Option<&[u8]>) -> KeyCheck {
        let Some(current) = &self.current else {
            return KeyCheck::NotConfigured;
        };
        let Some(presented) = presented else {
            return KeyCheck::Rejected;
        };
        let matches_current = current.matches(presented);
        let matches_previous = self.previous.as_ref().is_some_and(|k| k.matches(presented));
        if matches_current | matches_previous {
            KeyCheck::Accepted
        } else {
            KeyCheck::Rejected
        }
    }

    pub fn is_configured(&self) -> bool {
        self.current.is_some()
    }

    /// Refuses keys that do not look generated (see `ApiKey::require_generated`); `Config` calls
    /// this outside `APP_ENV=local`.
    pub fn require_generated(&self) -> Result<(), ConfigError> {
        for (var, key) in [
            ("API_KEY", &self.current),
            ("API_KEY_PREVIOUS", &self.previous),
        ] {
            if let Some(key) = key {
                key.require_generated(var)?;
            }
        }
        Ok(())
    }
}

/// The Shannon entropy of `key`'s character distribution, in bits per character.
fn bits_per_char(key: &str) -> f64 {
    let mut counts = [0_u32; 256];
    for b in key.bytes() {
        counts[usize::from(b)] += 1;
    }
    let len = f64::from(u32::try_from(key.len()).unwrap_or(u32::MAX));
    counts
        .iter()
        .filter(|n| **n > 0)
        .map(|n| {
            let p = f64::from(*n) / len;
            -p * p.log2()
        })
        .sum()
}

/// Lets a request through only with a valid [`API_KEY_HEADER`]. Fails closed: with no key
/// configured the endpoint answers 503, never 200.
pub async fn require_api_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let throttle = req.app_data::<web::Data<Throttle>>();
    let client = throttle.and_then(|t| t.client(req.request()));
    // A client over its failed-key budget is refused before its key is looked at, so a right
    // guess cannot show among the refusals.
    if let Some(Err(throttled)) = throttle.map(|t| t.check_auth_allowed(client)) {
        return Ok(req
            .into_response(throttled.response("failed key attempts"))
            .map_into_right_body());
    }
    let verdict = match req.app_data::<web::Data<ApiKeys>>() {
        None => KeyCheck::NotConfigured,
        Some(keys) => {
            let presented = req
                .headers()
                .get(API_KEY_HEADER)
                .map(actix_web::http::header::HeaderValue::as_bytes)
                .filter(|k| k.len() <= MAX_KEY_LEN);
            keys.check(presented)
        }
    };
    let refusal = match verdict {
        KeyCheck::Accepted => return Ok(next.call(req).await?.map_into_left_body()),
        KeyCheck::Rejected => match throttle.map(|t| t.record_auth_failure(client)) {
            Some(Err(throttled)) => throttled.response("failed key attempts"),
            _ => ApiError::new(
                ErrorCode::Unauthorized,
                format!("a valid {API_KEY_HEADER} header is required"),
            )
            .error_response(),
        },
        KeyCheck::NotConfigured => ApiError::new(
            ErrorCode::NotConfigured,
            "this endpoint is not configured: the server has no API key",
        )
        .error_response(),
    };
    // A response rather than an `Err`, so the request keeps its route for metrics and logs.
    Ok(req.into_response(refusal).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "current-key-0123456789";
    const OLD: &str = "previous-key-0123456789";

    fn key(raw: &str) -> Option<ApiKey> {
        ApiKey::parse("API_KEY", Some(raw.to_owned())).unwrap()
    }

    #[test]
    fn no_key_configured_reports_not_configured() {
        let keys = ApiKeys::new(None, None).unwrap();
        assert_eq!(
            keys.check(Some(b"anything-at-all")),
            KeyCheck::NotConfigured
        );
    }

    #[test]
    fn current_and_previous_keys_are_both_accepted() {
        let keys = ApiKeys::new(key(KEY), key(OLD)).unwrap();
        assert_eq!(keys.check(Some(KEY.as_bytes())), KeyCheck::Accepted);
        assert_eq!(keys.check(Some(OLD.as_bytes())), KeyCheck::Accepted);
        assert_eq!(keys.check(Some(b"wrong")), KeyCheck::Rejected);
        assert_eq!(keys.check(None), KeyCheck::Rejected);
    }

    #[test]
    fn a_previous_key_alone_is_a_config_error() {
        let err = ApiKeys::new(None, key(OLD)).unwrap_err();
        assert!(err.to_string().contains("API_KEY "), "{err}");
    }

    #[test]
    fn a_short_key_is_rejected_without_echoing_it() {
        let err = ApiKey::parse("API_KEY", Some("short".into())).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("API_KEY") && !msg.contains("short"), "{msg}");
    }

    #[test]
    fn a_generated_key_needs_32_characters_and_3_bits_of_entropy_each_both_inclusive() {
        let generated = |raw: &str| key(raw).unwrap().require_generated("API_KEY");
        // Eight characters, each used equally often: exactly 3 bits per character.
        let eight_symbols = "abcdefgh".repeat(4);
        assert_eq!(eight_symbols.len(), MIN_GENERATED_KEY_LEN);
        assert!(
            generated(&eight_symbols).is_ok(),
            "both bounds are met exactly"
        );
        assert!(
            generated(&eight_symbols[1..]).is_err(),
            "31 characters are too few"
        );
        // Seven characters and one repeat: under 3 bits per character, however long.
        let seven_symbols = "abcdefga".repeat(8);
        assert!(generated(&seven_symbols).is_err(), "too little entropy");
    }

    #[test]
    fn debug_output_never_contains_a_key() {
        let keys = ApiKeys::new(key(KEY), None).unwrap();
        assert!(!format!("{keys:?}").contains(KEY));
    }
}
