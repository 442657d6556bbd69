//! The store while it opens: api-app binds its ports first and opens the store in the background,
//! so liveness answers at once; until the store is open, readiness is 503 and every store
//! operation a 503 `unavailable` with `Retry-After`.

use std::sync::{Arc, OnceLock};

use futures_util::FutureExt as _;
use uuid::Uuid;

use super::port::{StoreError, StoreFuture, StoreKind, TaskCounts, TaskStore};
use crate::tasks::idempotency::{Created, KeyedCreate};
use crate::tasks::model::{NewTask, Task, TaskPatch};
use crate::tasks::page::{Page, PageRequest};
use crate::tasks::precondition::Conditions;

/// The task store handlers speak to from the first request on: [`StoreError::Opening`] until the
/// store behind it is open, then that store.
#[derive(Debug)]
pub struct OpeningStore {
    kind: StoreKind,
    opened: OnceLock<Arc<dyn TaskStore>>,
}

impl OpeningStore {
    /// A store of `kind` that is not open yet.
    pub fn new(kind: StoreKind) -> Self {
        Self {
            kind,
            opened: OnceLock::new(),
        }
    }

    /// The store is open: every operation goes to `store` from now on.
    pub fn opened(&self, store: Arc<dyn TaskStore>) {
        let _ = self.opened.set(store);
    }

    fn store(&self) -> Result<&dyn TaskStore, StoreError> {
        self.opened
            .get()
            .map(AsRef::as_ref)
            .ok_or(StoreError::Opening)
    }
}

fn not_open<'a, T: Send + 'a>(e: StoreError) -> StoreFuture<'a, T> {
    std::future::ready(Err(e)).boxed()
}

impl TaskStore for OpeningStore {
    fn kind(&self) -> StoreKind {
        self.kind
    }

    fn list(&self, page: PageRequest) -> StoreFuture<'_, Page> {
        self.store().map_or_else(not_open, |s| s.list(page))
    }

    fn get(&self, id: Uuid) -> StoreFuture<'_, Task> {
        self.store().map_or_else(not_open, |s| s.get(id))
    }

    fn create(&self, new: NewTask) -> StoreFuture<'_, Task> {
        self.store().map_or_else(not_open, |s| s.create(new))
    }

    fn create_once(&self, new: NewTask, once: KeyedCreate) -> StoreFuture<'_, Created> {
        self.store()
            .map_or_else(not_open, |s| s.create_once(new, once))
    }

    fn update(&self, id: Uuid, patch: TaskPatch, expected: Conditions) -> StoreFuture<'_, Task> {
        self.store()
            .map_or_else(not_open, |s| s.update(id, patch, expected))
    }

    fn delete(&self, id: Uuid, expected: Conditions) -> StoreFuture<'_, ()> {
        self.store()
            .map_or_else(not_open, |s| s.delete(id, expected))
    }

    fn counts(&self) -> StoreFuture<'_, TaskCounts> {
        self.store().map_or_else(not_open, TaskStore::counts)
    }

    fn check(&self) -> StoreFuture<'_, ()> {
        self.store().map_or_else(not_open, TaskStore::check)
    }
}
