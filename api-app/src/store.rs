//! Task storage behind the small [`TaskStore`] trait. The in-memory store keeps tasks in creation
//! order in an `IndexMap`, so a page is a slice (O(page)) and a lookup is a hash probe. A shared
//! database backend can implement the same trait later; its methods are already futures.

use futures_util::future::{BoxFuture, FutureExt as _, ready};
use indexmap::IndexMap;
use parking_lot::RwLock;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{NewTask, PageRequest, Task, TaskPatch};

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("no task with this id")]
    NotFound,
    #[error("the store is full: at most {max} {} can be stored", tasks(*.max))]
    Full { max: usize },
}

fn tasks(n: usize) -> &'static str {
    if n == 1 { "task" } else { "tasks" }
}

/// Task totals for the stats endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskCounts {
    pub total: usize,
    pub completed: usize,
}

/// A page of tasks in creation order plus the total.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Task>,
    pub total: usize,
}

/// Where tasks live.
pub trait TaskStore: Send + Sync + std::fmt::Debug {
    fn list(&self, page: PageRequest) -> BoxFuture<'_, Result<Page, StoreError>>;
    fn get(&self, id: Uuid) -> BoxFuture<'_, Result<Task, StoreError>>;
    fn create(&self, new: NewTask) -> BoxFuture<'_, Result<Task, StoreError>>;
    fn update(&self, id: Uuid, patch: TaskPatch) -> BoxFuture<'_, Result<Task, StoreError>>;
    fn delete(&self, id: Uuid) -> BoxFuture<'_, Result<(), StoreError>>;
    fn counts(&self) -> BoxFuture<'_, Result<TaskCounts, StoreError>>;
}

/// The in-memory store, bounded by `max_tasks`. Every method takes the lock, does O(1) or O(page)
/// work, and releases it before returning a ready future: no lock is ever held across an `.await`.
#[derive(Debug)]
pub struct InMemoryTaskStore {
    inner: RwLock<Inner>,
    max_tasks: usize,
}

#[derive(Debug, Default)]
struct Inner {
    tasks: IndexMap<Uuid, Task>,
    completed: usize,
}

impl InMemoryTaskStore {
    pub fn new(max_tasks: usize) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            max_tasks,
        }
    }

    fn list_now(&self, page: PageRequest) -> Page {
        let inner = self.inner.read();
        let total = inner.tasks.len();
        let start = page.offset.min(total);
        let end = start.saturating_add(page.limit).min(total);
        let items = inner
            .tasks
            .get_range(start..end)
            .map(|slice| slice.values().cloned().collect())
            .unwrap_or_default();
        Page { items, total }
    }

    fn create_now(&self, new: NewTask) -> Result<Task, StoreError> {
        let now = OffsetDateTime::now_utc();
        let task = Task {
            id: Uuid::new_v4(),
            title: new.title,
            completed: new.completed,
            created_at: now,
            updated_at: now,
        };
        let mut inner = self.inner.write();
        if inner.tasks.len() >= self.max_tasks {
            return Err(StoreError::Full {
                max: self.max_tasks,
            });
        }
        inner.completed += usize::from(task.completed);
        inner.tasks.insert(task.id, task.clone());
        Ok(task)
    }

    fn update_now(&self, id: Uuid, patch: TaskPatch) -> Result<Task, StoreError> {
        let mut inner = self.inner.write();
        let task = inner.tasks.get_mut(&id).ok_or(StoreError::NotFound)?;
        let was_completed = task.completed;
        if let Some(title) = patch.title {
            task.title = title;
        }
        if let Some(completed) = patch.completed {
            task.completed = completed;
        }
        task.updated_at = OffsetDateTime::now_utc();
        let task = task.clone();
        match (was_completed, task.completed) {
            (false, true) => inner.completed += 1,
            (true, false) => inner.completed -= 1,
            _ => {}
        }
        Ok(task)
    }

    fn delete_now(&self, id: Uuid) -> Result<(), StoreError> {
        let mut inner = self.inner.write();
        // shift_remove keeps creation order; it moves the later entries down by one, a memmove.
        let task = inner.tasks.shift_remove(&id).ok_or(StoreError::NotFound)?;
        inner.completed -= usize::from(task.completed);
        Ok(())
    }
}

impl TaskStore for InMemoryTaskStore {
    fn list(&self, page: PageRequest) -> BoxFuture<'_, Result<Page, StoreError>> {
        ready(Ok(self.list_now(page))).boxed()
    }

    fn get(&self, id: Uuid) -> BoxFuture<'_, Result<Task, StoreError>> {
        let found = self.inner.read().tasks.get(&id).cloned();
        ready(found.ok_or(StoreError::NotFound)).boxed()
    }

    fn create(&self, new: NewTask) -> BoxFuture<'_, Result<Task, StoreError>> {
        ready(self.create_now(new)).boxed()
    }

    fn update(&self, id: Uuid, patch: TaskPatch) -> BoxFuture<'_, Result<Task, StoreError>> {
        ready(self.update_now(id, patch)).boxed()
    }

    fn delete(&self, id: Uuid) -> BoxFuture<'_, Result<(), StoreError>> {
        ready(self.delete_now(id)).boxed()
    }

    fn counts(&self) -> BoxFuture<'_, Result<TaskCounts, StoreError>> {
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
    use crate::domain::TaskTitle;

    fn new_task(title: &str, completed: bool) -> NewTask {
        NewTask {
            title: TaskTitle::parse(title).unwrap(),
            completed,
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
                offset: 4,
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
                offset: 50,
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
        let patch = TaskPatch {
            title: None,
            completed: Some(true),
        };
        let updated = store.update(t.id, patch).await.unwrap();
        assert!(updated.completed && updated.updated_at > t.updated_at);
        assert_eq!(updated.created_at, t.created_at);
        assert_eq!(store.counts().await.unwrap().completed, 1);
        store.delete(t.id).await.unwrap();
        assert_eq!(
            store.counts().await.unwrap(),
            TaskCounts {
                total: 0,
                completed: 0
            }
        );
        assert_eq!(store.delete(t.id).await, Err(StoreError::NotFound));
    }
}
