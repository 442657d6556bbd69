//! Injected failures for release drills: with `INJECT_ERROR_PERCENT=n`, n of every 100 requests under
//! `/api` answer 500, so a canary can be shown failing its analysis on purpose (the anchor is
//! podinfo's `--random-error`). Off by default, and refused when `APP_ENV=prod`.
//!
//! The failures are spread evenly rather than drawn at random: any 100 consecutive requests hold
//! exactly n of them, so a drill's verdict never depends on luck. Probes and `/metrics` are served on
//! the admin port, outside `/api`, and never fail, so a faulty canary still becomes ready and is
//! still measured.

use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{ResponseError as _, web};
use platform::config::{AppEnv, ConfigError, parse_bounded};
use platform::error::{ApiError, ErrorCode};

/// The variable that turns the injection on.
pub const INJECT_ERROR_PERCENT: &str = "INJECT_ERROR_PERCENT";

/// The injection as configured: 0 (the default) is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultSettings {
    pub error_percent: u8,
}

impl FaultSettings {
    /// Parses `INJECT_ERROR_PERCENT` (0-100); any value above 0 is refused when `APP_ENV=prod`.
    pub fn parse(app_env: AppEnv, raw: Option<&str>) -> Result<Self, ConfigError> {
        let error_percent = parse_bounded(INJECT_ERROR_PERCENT, raw, 0, 0..=100)?;
        if error_percent > 0 && app_env == AppEnv::Prod {
            return Err(ConfigError::Invalid {
                var: INJECT_ERROR_PERCENT,
                reason: "injects failures for drills and is refused when APP_ENV=prod".into(),
            });
        }
        Ok(Self { error_percent })
    }
}

/// Decides which requests fail, shared by every worker.
#[derive(Debug)]
pub struct ErrorInjector {
    percent: u64,
    seen: AtomicU64,
}

impl ErrorInjector {
    /// The injector `settings` ask for; it says so in the log when it is on.
    pub fn new(settings: FaultSettings) -> Self {
        if settings.error_percent > 0 {
            tracing::warn!(
                inject_error_percent = settings.error_percent,
                "failure injection is on: this share of /api requests answers 500"
            );
        }
        Self {
            percent: u64::from(settings.error_percent),
            seen: AtomicU64::new(0),
        }
    }

    /// Whether the next request fails: the n-th fails when ⌊n·p/100⌋ steps up.
    pub fn next_fails(&self) -> bool {
        if self.percent == 0 {
            return false;
        }
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        (n + 1) * self.percent / 100 > n * self.percent / 100
    }
}

/// Middleware for the `/api` scope: answers the chosen requests with the JSON 500 before any handler
/// runs. Without an [`ErrorInjector`] in the app data (the throwaway app the OpenAPI document is built
/// from) every request passes.
pub async fn inject(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let fails = req
        .app_data::<web::Data<ErrorInjector>>()
        .is_some_and(|injector| injector.next_fails());
    if fails {
        let error = ApiError::new(
            ErrorCode::INTERNAL,
            format!("injected failure ({INJECT_ERROR_PERCENT})"),
        );
        return Ok(req.into_response(error.error_response()));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_unless_set_and_bounded_to_a_percentage() {
        assert_eq!(
            FaultSettings::parse(AppEnv::Dev, None)
                .unwrap()
                .error_percent,
            0
        );
        assert_eq!(
            FaultSettings::parse(AppEnv::Local, Some(" "))
                .unwrap()
                .error_percent,
            0
        );
        assert_eq!(
            FaultSettings::parse(AppEnv::Dev, Some("30"))
                .unwrap()
                .error_percent,
            30
        );
        for bad in ["101", "-1", "half", "12.5"] {
            let msg = FaultSettings::parse(AppEnv::Dev, Some(bad))
                .unwrap_err()
                .to_string();
            assert!(
                msg.contains(INJECT_ERROR_PERCENT) && !msg.contains(bad),
                "{msg}"
            );
        }
    }

    #[test]
    fn prod_refuses_the_injection_in_one_line_naming_the_variable() {
        let msg = FaultSettings::parse(AppEnv::Prod, Some("5"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains(INJECT_ERROR_PERCENT) && !msg.contains('\n'),
            "{msg}"
        );
        // Off is off everywhere, prod included.
        assert_eq!(
            FaultSettings::parse(AppEnv::Prod, Some("0"))
                .unwrap()
                .error_percent,
            0
        );
    }

    #[test]
    fn every_hundred_requests_hold_exactly_the_configured_failures() {
        for percent in [0_u8, 1, 7, 30, 50, 99, 100] {
            let injector = ErrorInjector::new(FaultSettings {
                error_percent: percent,
            });
            // Any window of 100 consecutive requests, not only the first.
            let fails: Vec<bool> = (0..300).map(|_| injector.next_fails()).collect();
            for start in [0, 13, 100, 200] {
                let n = fails[start..start + 100].iter().filter(|f| **f).count();
                assert_eq!(n, usize::from(percent), "{percent} % from request {start}");
            }
        }
    }
}
