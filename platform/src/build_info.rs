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
    /// The git commit the binary was built from (`GIT_SHA` at build time), or `unknown`.
    #[schema(example = "4f2c1a9")]
    pub commit: &'static str,
    /// When the binary was built (`BUILD_TIME` at build time), or `unknown`.
    #[schema(example = "2026-11-26T04:00:00Z")]
    pub build_time: &'static str,
}

/// Captures [`BuildInfo`] for the crate that invokes it. `GIT_SHA` and `BUILD_TIME` are read from the
/// build environment (the Dockerfile passes them as build args).
#[macro_export]
macro_rules! build_info {
    () => {
        $crate::build_info::BuildInfo {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            commit: match option_env!("GIT_SHA") {
                Some(sha) => sha,
                None => "unknown",
            },
            build_time: match option_env!("BUILD_TIME") {
                Some(t) => t,
                None => "unknown",
            },
        }
    };
}
