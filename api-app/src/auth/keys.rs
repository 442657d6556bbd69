//! The API keys: `API_KEY` and, during a rotation, `API_KEY_PREVIOUS`, parsed once at start-up with
//! every rule a key must meet, redacted in `Debug`, and checked in constant time.

use std::fmt;

use platform::config::{AppEnv, ConfigError};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// The variables that carry secrets; they reach the pod from a Kubernetes Secret through `envFrom`.
pub const SECRET_VARS: [&str; 2] = ["API_KEY", "API_KEY_PREVIOUS"];

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
    /// The key set from the raw `API_KEY` and `API_KEY_PREVIOUS` of a process running in
    /// `app_env`: each must parse; outside `local` each must look generated; `prod` must have one.
    pub fn from_vars(
        app_env: AppEnv,
        current: Option<String>,
        previous: Option<String>,
    ) -> Result<Self, ConfigError> {
        let keys = Self::new(
            ApiKey::parse("API_KEY", current)?,
            ApiKey::parse("API_KEY_PREVIOUS", previous)?,
        )?;
        if app_env != AppEnv::Local {
            keys.require_generated()?;
        }
        if !keys.is_configured() && app_env == AppEnv::Prod {
            return Err(ConfigError::Missing {
                var: "API_KEY",
                why: "when APP_ENV=prod",
            });
        }
        Ok(keys)
    }

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

    /// Refuses keys that do not look generated (see `ApiKey::require_generated`); applied outside
    /// `APP_ENV=local`.
    fn require_generated(&self) -> Result<(), ConfigError> {
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

    /// A key as `openssl rand -base64 48` makes one, as dev and prod require.
    const GENERATED: &str = "q1VhJ0m+8tZ4cXr2Lw9Ypb6N/3sKdAe5GfUoTzHiRjE=";

    fn from_vars(env: AppEnv, current: &str, previous: &str) -> Result<ApiKeys, ConfigError> {
        let var = |raw: &str| Some(raw.to_owned()).filter(|r| !r.is_empty());
        ApiKeys::from_vars(env, var(current), var(previous))
    }

    #[test]
    fn outside_local_a_key_must_be_long_and_random() {
        for env in [AppEnv::Dev, AppEnv::Prod] {
            for weak in [
                KEY,                                    // 22 characters
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", // long but one character
                "abababababababababababababababababab", // two characters
                "passwordpasswordpasswordpassword",     // a repeated word
            ] {
                let err = from_vars(env, weak, "").unwrap_err().to_string();
                assert!(
                    err.contains("API_KEY") && err.contains("32"),
                    "{env}: {err}"
                );
                assert!(!err.contains(weak), "the key is never echoed: {err}");
            }
            let err =
                from_vars(env, GENERATED, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").unwrap_err();
            assert!(err.to_string().contains("API_KEY_PREVIOUS"), "{err}");
            let hex = "9f86d081884c7d659a2feaa0c55ad015";
            for good in [GENERATED, hex] {
                assert!(
                    from_vars(env, good, "").is_ok(),
                    "{env}: a generated key is accepted"
                );
            }
        }
        assert!(
            from_vars(AppEnv::Local, KEY, "").is_ok(),
            "local keeps its short demo keys"
        );
    }

    #[test]
    fn prod_refuses_to_start_without_a_key_and_local_reports_not_configured() {
        let err = from_vars(AppEnv::Prod, "", "").unwrap_err();
        assert!(err.to_string().contains("API_KEY"), "{err}");
        let local = from_vars(AppEnv::Local, "", "").unwrap();
        assert_eq!(
            local.check(Some(b"anything-at-all")),
            KeyCheck::NotConfigured
        );
    }

    #[test]
    fn both_rotation_keys_reach_the_key_set() {
        let keys = from_vars(AppEnv::Local, KEY, OLD).unwrap();
        assert_eq!(keys.check(Some(OLD.as_bytes())), KeyCheck::Accepted);
        let err = from_vars(AppEnv::Local, "", OLD).unwrap_err();
        assert!(err.to_string().contains("API_KEY "), "{err}");
    }
}
