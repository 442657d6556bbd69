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
use subtle::ConstantTimeEq;

/// Shortest accepted API key.
pub const MIN_KEY_LEN: usize = 16;
/// Longest accepted API key, so a hostile header cannot make comparison expensive.
pub const MAX_KEY_LEN: usize = 512;

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
}

/// Lets a request through only with a valid [`API_KEY_HEADER`]. Fails closed: with no key
/// configured the endpoint answers 503, never 200.
pub async fn require_api_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
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
        KeyCheck::Rejected => ApiError::new(
            ErrorCode::Unauthorized,
            format!("a valid {API_KEY_HEADER} header is required"),
        ),
        KeyCheck::NotConfigured => ApiError::new(
            ErrorCode::NotConfigured,
            "this endpoint is not configured: the server has no API key",
        ),
    };
    // A response rather than an `Err`, so the request keeps its route for metrics and logs.
    Ok(req
        .into_response(refusal.error_response())
        .map_into_right_body())
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
    fn debug_output_never_contains_a_key() {
        let keys = ApiKeys::new(key(KEY), None).unwrap();
        assert!(!format!("{keys:?}").contains(KEY));
    }
}
