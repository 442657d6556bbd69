//! How tasks are written and read back: the columns every task query returns, the create statement
//! (shared by plain and keyed creates), and a task from a row.

use tokio_postgres::Row;

use crate::tasks::model::Task;
use crate::tasks::store::port::StoreError;
use crate::tasks::title::TaskTitle;

/// The columns every task query returns, in the order [`task`] reads them.
pub(super) const TASK_COLUMNS: &str = "id, title, completed, created_at, updated_at, version";

/// A create as two CTEs: `counted` takes the counter row's lock first and holds it to the commit,
/// so the cap holds and `seq` follows commit order; `created` inserts the task and returns its
/// columns (as [`TASK_COLUMNS`]). One clock reading, taken after that lock (a volatile subquery is
/// never flattened), is both timestamps: a new task's `updated_at` equals `created_at`. `$gate` is one
/// more condition for counting (and so for creating) at all. Parameters: `$1` id, `$2` title,
/// `$3` completed, `$4` `MAX_TASKS`.
macro_rules! create_ctes {
    ($gate:literal) => {
        concat!(
            "counted AS (UPDATE task_counts \
               SET total = total + 1, completed = completed + CASE WHEN $3 THEN 1 ELSE 0 END \
               WHERE total < $4",
            $gate,
            " RETURNING total), \
             created AS (INSERT INTO tasks (id, title, completed, created_at, updated_at) \
               SELECT $1, $2, $3, clock.at, clock.at \
               FROM (SELECT clock_timestamp() AS at FROM counted) clock \
               RETURNING id, title, completed, created_at, updated_at, version)"
        )
    };
}
pub(super) use create_ctes;

/// A create in one statement, so one transaction: the task's columns, then the stored total; no
/// row when `MAX_TASKS` are stored.
pub(super) const CREATE: &str = concat!(
    "WITH ",
    create_ctes!(""),
    " SELECT created.*, (SELECT total FROM counted) FROM created"
);

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
