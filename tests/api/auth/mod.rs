//! The auth room (`api-app/src/auth/`).

mod guard;
mod keys;
mod secrets;
