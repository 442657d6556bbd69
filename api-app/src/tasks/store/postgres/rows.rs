//! How tasks are read back: the columns every task query returns, and a task from a row. Creates,
//! plain and keyed, are counted in a shard (`store/shards.rs`).

use tokio_postgres::Row;

use crate::tasks::model::Task;
use crate::tasks::store::port::StoreError;
use crate::tasks::title::TaskTitle;

/// The columns every task query returns, in the order [`task`] reads them.
pub(super) const TASK_COLUMNS: &str = "id, title, completed, created_at, updated_at, version";

pub(super) fn count(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

/// A task from a row whose first columns are [`TASK_COLUMNS`].
pub(super) fn task(row: &Row) -> Result<Task, StoreError> {
    task_at(row, 0)
}

/// A task from the columns of a row that are [`TASK_COLUMNS`] from column `at` on.
pub(super) fn task_at(row: &Row, at: usize) -> Result<Task, StoreError> {
    Ok(Task {
        id: row.try_get(at)?,
        title: TaskTitle::from_store(row.try_get(at + 1)?),
        completed: row.try_get(at + 2)?,
        created_at: row.try_get(at + 3)?,
        updated_at: row.try_get(at + 4)?,
        version: row.try_get(at + 5)?,
    })
}
