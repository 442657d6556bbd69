//! Black-box tests of api-app over real HTTP on port 0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]
