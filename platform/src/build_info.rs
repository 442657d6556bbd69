//! What build is running: the crate's version plus the git commit and build time injected at build time.

use serde::Serialize;

/// Version information, filled in by [`build_info!`](crate::build_info!) in the app's own crate.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct BuildInfo {
    /// The service name.
    #[schema(example = "api-app")]
    pub name: &'static str,
    /// The semantic version of the crate.
    #[schema(example = "0.1.0")]
    pub version: &'static str,
    /// The git commit the binary was built from: `GIT_SHA` at build time, else the checkout's own
    /// commit when built from a Git checkout, else `unknown`.
    #[schema(example = "4f2c1a9")]
    pub commit: &'static str,
    /// When the binary was built (`BUILD_TIME` at build time), or `unknown`.
    #[schema(example = "2026-11-26T04:00:00Z")]
    pub build_time: &'static str,
    /// Present only when `commit` or `build_time` is `unknown`: says where they come from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_note: Option<&'static str>,
}

/// Why a locally built binary shows `unknown`, for whoever reads `GET /api` or the page.
pub const BUILD_NOTE: &str = "commit and build_time come from GIT_SHA and BUILD_TIME at build \
     time (the Dockerfile's build args); without GIT_SHA the commit is read from the Git checkout, \
     and locally BUILD_TIME=$(date -u +%FT%TZ) cargo build sets the time";

/// The commit of the Git checkout this crate was built from (`build.rs`), if it was built from one.
pub const CHECKOUT_COMMIT: Option<&str> = option_env!("PLATFORM_GIT_COMMIT");

/// Captures [`BuildInfo`] for the crate that invokes it. `GIT_SHA` and `BUILD_TIME` are read from the
/// build environment (the Dockerfile passes them as build args).
#[macro_export]
macro_rules! build_info {
    () => {
        $crate::build_info::BuildInfo {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            commit: match (option_env!("GIT_SHA"), $crate::build_info::CHECKOUT_COMMIT) {
                (Some(sha), _) | (None, Some(sha)) => sha,
                (None, None) => "unknown",
            },
            build_time: match option_env!("BUILD_TIME") {
                Some(t) => t,
                None => "unknown",
            },
            build_note: match (
                option_env!("GIT_SHA").or($crate::build_info::CHECKOUT_COMMIT),
                option_env!("BUILD_TIME"),
            ) {
                (Some(_), Some(_)) => None,
                _ => Some($crate::build_info::BUILD_NOTE),
            },
        }
    };
}
