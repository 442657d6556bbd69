//! Black-box tests of api-app over real HTTP on port 0. The folders mirror api-app's rooms: `tasks/`
//! and `auth/`, the small routes, `throttle` and `docs`; `platform/` checks the shared plumbing as
//! api-app serves it (errors, headers, metrics, protocol, deadlines, logs, start-up and shutdown).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

mod auth;
mod docs;
mod echo;
mod info;
mod platform;
mod readme;
mod rooms;
mod stats;
mod tasks;
mod throttle;
