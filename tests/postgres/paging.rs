//! Paging on PostgreSQL, read from the plans of the statements the store sends: an offset at or
//! past the total never reads a task (issue 21, item 11), and a cursor page reads only its own rows
//! however deep it is.

use std::fmt::Write as _;

use api_app::tasks::store::{LIST_AFTER, LIST_BY_OFFSET, SESSION_SETTINGS};
use integration_tests::pg;
use serde_json::Value;

/// Tasks stored straight into the table, as tasks from before any shard are counted.
const STORED: i64 = 5_000;

async fn seeded() -> String {
    let db = pg::fresh_database().await;
    pg::execute(
        &db,
        &format!(
            "INSERT INTO tasks (id, title) SELECT gen_random_uuid(), 'seed ' || g \
             FROM generate_series(1, {STORED}) g; UPDATE task_counts SET total = {STORED};"
        ),
    )
    .await
    .unwrap();
    db
}

/// The rows of `tasks` that `node` of an actual plan and the nodes below it read.
fn tasks_read(node: &Value) -> u64 {
    let own = if node["Relation Name"] == "tasks" {
        node["Actual Rows"].as_u64().unwrap() * node["Actual Loops"].as_u64().unwrap()
    } else {
        0
    };
    own + node["Plans"]
        .as_array()
        .map_or(0, |plans| plans.iter().map(tasks_read).sum())
}

/// How many rows of `tasks` the statement read, run with `(limit, from)` in a session set up as
/// api-app's are ([`SESSION_SETTINGS`]: the generic plan, which does not know the values it runs
/// with), from its actual plan. No plan is compiled: JIT at every execution cost a page tens of
/// milliseconds.
async fn task_rows_read(db: &str, statement: &str, limit: i64, from: i64) -> u64 {
    let mut session = String::new();
    for (name, value) in SESSION_SETTINGS {
        let _ = write!(session, "SET {name} = {value}; ");
    }
    let plan = pg::query_strings(
        db,
        &format!(
            "{session}PREPARE page(bigint, bigint) AS {statement}; \
             EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE page({limit}, {from});"
        ),
    )
    .await;
    let plan: Value = serde_json::from_str(&plan[0]).unwrap();
    assert!(
        plan[0].get("JIT").is_none(),
        "the plan was compiled: {plan}"
    );
    tasks_read(&plan[0]["Plan"])
}

#[tokio::test]
async fn an_offset_at_or_past_the_total_reads_no_task() {
    let db = seeded().await;
    for offset in [STORED, STORED + 1, 10_000_000] {
        assert_eq!(
            task_rows_read(&db, LIST_BY_OFFSET, 51, offset).await,
            0,
            "offset {offset}"
        );
    }
    // Below the total, the offset's documented cost: every skipped task is read.
    assert_eq!(
        task_rows_read(&db, LIST_BY_OFFSET, 51, STORED - 10).await,
        u64::try_from(STORED).unwrap()
    );
}

#[tokio::test]
async fn a_cursor_page_reads_its_own_rows_at_any_depth() {
    let db = seeded().await;
    for after in [0, 2_500, STORED - 51, STORED] {
        let read = task_rows_read(&db, LIST_AFTER, 51, after).await;
        assert_eq!(
            read,
            u64::try_from((STORED - after).min(51)).unwrap(),
            "after {after}"
        );
    }
}
