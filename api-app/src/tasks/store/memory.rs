//! The in-memory store: tasks in a hash map and their creation order in a [`CreationOrder`], so a
//! lookup is a hash probe and neither a page nor a delete costs O(n) at any `MAX_TASKS`. One
//! process's memory: the zero-setup default for `make demo`.

use std::collections::HashMap;
use std::time::Instant;

use futures_util::future::{FutureExt as _, ready};
use parking_lot::{Mutex, RwLock};
use time::OffsetDateTime;
use uuid::Uuid;

use super::creation_order::CreationOrder;
use super::metrics::StoreMetrics;
use super::port::{StoreError, StoreFuture, StoreKind, TaskCounts, TaskStore};
use super::remembered_keys::RememberedKeys;
use crate::tasks::idempotency::{Created, KeyedCreate};
use crate::tasks::model::{NewTask, Task, TaskPatch};
use crate::tasks::page::{Page, PageRequest, PageStart};
use crate::tasks::precondition::Conditions;

/// The in-memory store, bounded by `max_tasks`. Every method takes the lock, does O(page), or at
/// most O(√n), work, and releases it before returning a ready future: no lock is ever held across an `.await`.
#[derive(Debug)]
pub struct InMemoryTaskStore {
    inner: RwLock<Inner>,
    /// Idempotency keys; taken before `inner` (never after), so a key and its task go in together.
    keys: Mutex<RememberedKeys>,
    max_tasks: usize,
    metrics: Option<StoreMetrics>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Each task with its creation sequence number, its key in `order`.
    tasks: HashMap<Uuid, (u64, Task)>,
    order: CreationOrder,
    next_seq: u64,
    completed: usize,
}

impl InMemoryTaskStore {
    pub fn new(max_tasks: usize) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            keys: Mutex::new(RememberedKeys::default()),
            max_tasks,
            metrics: None,
        }
    }

    /// As [`InMemoryTaskStore::new`], keeping `tasks_stored` up to date.
    pub fn with_metrics(max_tasks: usize, metrics: StoreMetrics) -> Self {
        Self {
            metrics: Some(metrics),
            ..Self::new(max_tasks)
        }
    }

    fn stored(&self, total: usize) {
        if let Some(m) = &self.metrics {
            m.set_tasks_stored(total);
        }
    }

    fn list_now(&self, page: PageRequest) -> Page {
        let inner = self.inner.read();
        let read = page.entries_to_read();
        let mut entries: Vec<(u64, Uuid)> = match page.start {
            PageStart::Offset(offset) => inner.order.page(offset, read).collect(),
            PageStart::After(cursor) => inner.order.page_after(cursor.0, read).collect(),
        };
        let next = page.keep_page(&mut entries, |(seq, _)| *seq);
        let items = entries
            .iter()
            .filter_map(|(_, id)| inner.tasks.get(id).map(|(_, task)| task.clone()))
            .collect();
        Page {
            items,
            total: inner.tasks.len(),
            next,
        }
    }

    fn create_now(&self, new: NewTask) -> Result<Task, StoreError> {
        let now = OffsetDateTime::now_utc();
        let task = Task {
            id: Uuid::new_v4(),
            title: new.title,
            completed: new.completed,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let mut inner = self.inner.write();
        if inner.tasks.len() >= self.max_tasks {
            return Err(StoreError::Full {
                max: self.max_tasks,
            });
        }
        inner.completed += usize::from(task.completed);
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.order.push(seq, task.id);
        inner.tasks.insert(task.id, (seq, task.clone()));
        let total = inner.tasks.len();
        drop(inner);
        self.stored(total);
        Ok(task)
    }

    fn create_once_now(&self, new: NewTask, once: KeyedCreate) -> Result<Created, StoreError> {
        let mut keys = self.keys.lock();
        let now = Instant::now();
        if let Some(task) = keys.look_up(&once, now)? {
            return Ok(Created {
                task,
                replayed: true,
            });
        }
        let task = self.create_now(new)?;
        keys.remember(once, task.clone(), now);
        Ok(Created {
            task,
            replayed: false,
        })
    }

    fn update_now(
        &self,
        id: Uuid,
        patch: &TaskPatch,
        expected: &Conditions,
    ) -> Result<Task, StoreError> {
        let mut inner = self.inner.write();
        let (_, task) = inner.tasks.get_mut(&id).ok_or(StoreError::NotFound)?;
        if !expected.admits(task.version) {
            return Err(StoreError::PreconditionFailed);
        }
        let was_completed = task.completed;
        if let Some(title) = patch.title() {
            task.title = title.clone();
        }
        if let Some(completed) = patch.completed() {
            task.completed = completed;
        }
        task.updated_at = OffsetDateTime::now_utc();
        task.version += 1;
        let task = task.clone();
        match (was_completed, task.completed) {
            (false, true) => inner.completed += 1,
            (true, false) => inner.completed -= 1,
            _ => {}
        }
        Ok(task)
    }

    fn delete_now(&self, id: Uuid, expected: &Conditions) -> Result<(), StoreError> {
        let mut inner = self.inner.write();
        let version = inner.tasks.get(&id).ok_or(StoreError::NotFound)?.1.version;
        if !expected.admits(version) {
            return Err(StoreError::PreconditionFailed);
        }
        let (seq, task) = inner.tasks.remove(&id).ok_or(StoreError::NotFound)?;
        inner.order.remove(seq);
        inner.completed -= usize::from(task.completed);
        let total = inner.tasks.len();
        drop(inner);
        self.stored(total);
        Ok(())
    }
}

impl TaskStore for InMemoryTaskStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Memory
    }

    fn check(&self) -> StoreFuture<'_, ()> {
        ready(Ok(())).boxed()
    }

    fn list(&self, page: PageRequest) -> StoreFuture<'_, Page> {
        ready(Ok(self.list_now(page))).boxed()
    }

    fn get(&self, id: Uuid) -> StoreFuture<'_, Task> {
        let found = self
            .inner
            .read()
            .tasks
            .get(&id)
            .map(|(_, task)| task.clone());
        ready(found.ok_or(StoreError::NotFound)).boxed()
    }

    fn create(&self, new: NewTask) -> StoreFuture<'_, Task> {
        ready(self.create_now(new)).boxed()
    }

    fn create_once(&self, new: NewTask, once: KeyedCreate) -> StoreFuture<'_, Created> {
        ready(self.create_once_now(new, once)).boxed()
    }

    fn update(&self, id: Uuid, patch: TaskPatch, expected: Conditions) -> StoreFuture<'_, Task> {
        ready(self.update_now(id, &patch, &expected)).boxed()
    }

    fn delete(&self, id: Uuid, expected: Conditions) -> StoreFuture<'_, ()> {
        ready(self.delete_now(id, &expected)).boxed()
    }

    fn counts(&self) -> StoreFuture<'_, TaskCounts> {
        let inner = self.inner.read();
        let counts = TaskCounts {
            total: inner.tasks.len(),
            completed: inner.completed,
        };
        drop(inner);
        ready(Ok(counts)).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::title::TaskTitle;

    fn new_task(title: &str, completed: bool) -> NewTask {
        NewTask::for_tests(title, completed)
    }

    /// `If-Match` naming `version`, and no `If-None-Match`.
    fn if_match(version: i64) -> Conditions {
        Conditions {
            matching: crate::tasks::precondition::Precondition::VersionIn(vec![version]),
            held: crate::tasks::precondition::Held::Nothing,
        }
    }

    #[tokio::test]
    async fn pages_follow_creation_order() {
        let store = InMemoryTaskStore::new(100);
        for i in 0..10 {
            store
                .create(new_task(&format!("t{i}"), false))
                .await
                .unwrap();
        }
        let page = store
            .list(PageRequest {
                limit: 3,
                start: PageStart::Offset(4),
            })
            .await
            .unwrap();
        let titles: Vec<_> = page
            .items
            .iter()
            .map(|t| t.title.as_ref().to_owned())
            .collect();
        assert_eq!(titles, ["t4", "t5", "t6"]);
        assert_eq!(page.total, 10);
        let past_end = store
            .list(PageRequest {
                limit: 3,
                start: PageStart::Offset(50),
            })
            .await
            .unwrap();
        assert!(past_end.items.is_empty());
    }

    #[tokio::test]
    async fn a_full_store_rejects_creates_and_keeps_what_it_has() {
        let store = InMemoryTaskStore::new(2);
        let a = store.create(new_task("a", false)).await.unwrap();
        store.create(new_task("b", true)).await.unwrap();
        assert_eq!(
            store.create(new_task("c", false)).await,
            Err(StoreError::Full { max: 2 })
        );
        assert_eq!(store.get(a.id).await.unwrap(), a);
        assert_eq!(
            store.counts().await.unwrap(),
            TaskCounts {
                total: 2,
                completed: 1
            }
        );
    }

    #[tokio::test]
    async fn completed_count_tracks_updates_and_deletes() {
        let store = InMemoryTaskStore::new(10);
        let t = store.create(new_task("a", false)).await.unwrap();
        // The clock must move for `updated_at` to; a millisecond is far more than its resolution.
        std::thread::sleep(std::time::Duration::from_millis(1));
        let patch = TaskPatch::new(None, Some(true)).unwrap();
        let updated = store.update(t.id, patch, Conditions::NONE).await.unwrap();
        assert!(updated.completed && updated.updated_at > t.updated_at);
        assert_eq!(updated.created_at, t.created_at);
        assert_eq!(store.counts().await.unwrap().completed, 1);
        store.delete(t.id, Conditions::NONE).await.unwrap();
        assert_eq!(
            store.counts().await.unwrap(),
            TaskCounts {
                total: 0,
                completed: 0
            }
        );
        assert_eq!(
            store.delete(t.id, Conditions::NONE).await,
            Err(StoreError::NotFound)
        );
    }

    #[tokio::test]
    async fn a_stale_version_is_refused_and_changes_nothing() {
        let store = InMemoryTaskStore::new(10);
        let t = store.create(new_task("a", false)).await.unwrap();
        let rename =
            |title: &str| TaskPatch::new(Some(TaskTitle::parse(title).unwrap()), None).unwrap();
        let v2 = store
            .update(t.id, rename("b"), if_match(t.version))
            .await
            .unwrap();
        assert_eq!(v2.version, t.version + 1);
        let stale = if_match(t.version);
        assert_eq!(
            store.update(t.id, rename("c"), stale.clone()).await,
            Err(StoreError::PreconditionFailed)
        );
        assert_eq!(
            store.delete(t.id, stale).await,
            Err(StoreError::PreconditionFailed)
        );
        assert_eq!(store.get(t.id).await.unwrap(), v2);
        store.delete(t.id, if_match(v2.version)).await.unwrap();
    }
}
