//! The task store's port: [`TaskStore`], which handlers speak to, and [`StoreError`], the one error
//! every backend's failures become, with its one HTTP mapping.

use actix_web::http::StatusCode;
use futures_util::future::BoxFuture;
use platform::error::{ApiError, ErrorCode};
use serde::Serialize;
use uuid::Uuid;

use super::migrate::MigrationError;

use crate::tasks::idempotency::{
    Created, IDEMPOTENCY_KEY_IN_USE, IDEMPOTENCY_KEY_REUSED, KeyedCreate,
};
use crate::tasks::model::{NewTask, Task, TaskPatch};
use crate::tasks::page::{Page, PageRequest};
use crate::tasks::precondition::Conditions;

/// Seconds a client is told to wait (`Retry-After`) when the store is unavailable.
pub const RETRY_AFTER_SECS: u32 = 1;

/// The code of a create refused because the store is full.
pub const CAPACITY_EXCEEDED: ErrorCode = ErrorCode::new(
    "capacity_exceeded",
    StatusCode::CONFLICT,
    "`MAX_TASKS` tasks are stored already; nothing stored is touched.",
);
/// The code of a conditional write whose `If-Match` no longer names the task's version.
pub const PRECONDITION_FAILED: ErrorCode = ErrorCode::new(
    "precondition_failed",
    StatusCode::PRECONDITION_FAILED,
    "`If-Match` does not name the task's current version (someone changed it first), or `If-None-Match` names it (`*`: the task exists); nothing was written.",
);
/// The code of an operation the store could not answer in time.
pub const STORE_UNAVAILABLE: ErrorCode = ErrorCode::new(
    "store_unavailable",
    StatusCode::SERVICE_UNAVAILABLE,
    "PostgreSQL did not answer within the acquire and statement timeouts; `Retry-After` says when to try again.",
);

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("no task with this id")]
    NotFound,
    #[error("the store is full: at most {max} {} can be stored", tasks(*.max))]
    Full { max: usize },
    #[error("the task's current version fails the request's If-Match or If-None-Match")]
    PreconditionFailed,
    /// A keyed create whose key was used for a create with another body.
    #[error("this Idempotency-Key was used for a create with another body")]
    KeyReused,
    /// A keyed create whose key another request is creating with right now.
    #[error("a create with this Idempotency-Key is still in flight")]
    KeyInFlight,
    /// The store is still opening (api-app binds its port first; PostgreSQL may not answer yet).
    #[error("the task store is not open yet")]
    Opening,
    /// The database cannot be reached, or refused the connection.
    #[error("the task store is unavailable")]
    Unavailable,
    /// The database refused the app's credentials (SQLSTATE class 28, e.g. 28P01 after a rotation race).
    #[error("the task store is unavailable")]
    Unauthenticated,
    /// No connection within the acquire timeout, or no answer within the statement timeout.
    #[error("the task store did not answer in time")]
    Timeout,
    /// The database gave up on a transaction that conflicted with another (deadlock, serialization).
    #[error("the task store hit a conflict")]
    Conflict,
    /// Anything else: a bug or a broken invariant. The cause is logged where it happened.
    #[error("the task store failed")]
    Other,
}

fn tasks(n: usize) -> &'static str {
    if n == 1 { "task" } else { "tasks" }
}

impl StoreError {
    /// The `kind` label of `store_errors_total`, for the failures that are the store's, not the caller's.
    pub fn metric_kind(&self) -> Option<&'static str> {
        match self {
            // The caller's answers: a 412 is its stale `If-Match`, not the database's conflict.
            Self::NotFound
            | Self::Full { .. }
            | Self::KeyReused
            | Self::KeyInFlight
            | Self::PreconditionFailed => None,
            Self::Conflict => Some("conflict"),
            Self::Opening | Self::Unavailable => Some("unavailable"),
            Self::Unauthenticated => Some("auth"),
            Self::Timeout => Some("timeout"),
            Self::Other => Some("other"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found(e.to_string()),
            StoreError::Full { .. } => ApiError::new(CAPACITY_EXCEEDED, e.to_string()),
            StoreError::PreconditionFailed => ApiError::new(PRECONDITION_FAILED, e.to_string()),
            StoreError::KeyReused => ApiError::new(IDEMPOTENCY_KEY_REUSED, e.to_string()),
            StoreError::KeyInFlight => ApiError::new(IDEMPOTENCY_KEY_IN_USE, e.to_string())
                .with_retry_after(RETRY_AFTER_SECS),
            // The server is up but cannot take the request yet: readiness is 503 too.
            StoreError::Opening => ApiError::new(ErrorCode::UNAVAILABLE, e.to_string())
                .with_retry_after(RETRY_AFTER_SECS),
            // Transient: the client may retry the same request; a conflict that PostgreSQL broke
            // by aborting one transaction is retryable too.
            StoreError::Unavailable
            | StoreError::Unauthenticated
            | StoreError::Timeout
            | StoreError::Conflict => {
                ApiError::new(STORE_UNAVAILABLE, e.to_string()).with_retry_after(RETRY_AFTER_SECS)
            }
            StoreError::Other => ApiError::internal(),
        }
    }
}

/// Task totals for the stats endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskCounts {
    pub total: usize,
    pub completed: usize,
}

/// Which backend holds the tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// This process's memory: lost on restart, not shared between replicas.
    Memory,
    /// PostgreSQL, shared by every replica.
    Postgres,
}

/// What every store operation returns: a boxed future of its outcome.
pub type StoreFuture<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

/// Where tasks live. Writes are atomic: a method that returns `Ok` has committed.
pub trait TaskStore: Send + Sync + std::fmt::Debug {
    fn kind(&self) -> StoreKind;
    fn list(&self, page: PageRequest) -> StoreFuture<'_, Page>;
    fn get(&self, id: Uuid) -> StoreFuture<'_, Task>;
    fn create(&self, new: NewTask) -> StoreFuture<'_, Task>;
    /// Creates `new` once per key (`tasks::idempotency`): the key is stored with the task, in the
    /// same transaction, so a create that committed is found by its key however its answer was
    /// lost. The same key and body again replay the first task; another body is `KeyReused`; a
    /// retry while the first is in flight is `KeyInFlight`. An expired key is as good as new.
    fn create_once(&self, new: NewTask, once: KeyedCreate) -> StoreFuture<'_, Created>;
    /// Applies `patch` if the stored version satisfies `expected`; the version then grows by one.
    fn update(&self, id: Uuid, patch: TaskPatch, expected: Conditions) -> StoreFuture<'_, Task>;
    fn delete(&self, id: Uuid, expected: Conditions) -> StoreFuture<'_, ()>;
    fn counts(&self) -> StoreFuture<'_, TaskCounts>;
    /// Whether the store answers right now (bounded by the store's own timeouts).
    fn check(&self) -> StoreFuture<'_, ()>;
}

/// Why the store could not be opened, for good (a broken migration, not an unreachable database,
/// which is retried): the process exits non-zero rather than serve without it.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("registering the store metrics failed: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Migration(#[from] MigrationError),
    #[error("building the connection pool failed: {0}")]
    Pool(String),
}
