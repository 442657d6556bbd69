//! The tasks room (`api-app/src/tasks/`).

mod capacity;
mod crud;
mod paging;
mod preconditions;
mod titles;
