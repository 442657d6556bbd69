//! The tasks room (`api-app/src/tasks/`).

mod capacity;
mod crud;
mod idempotency;
mod paging;
mod preconditions;
mod titles;
