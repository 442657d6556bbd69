//! What an earlier release stored stays readable after a rule tightens: the title rule guards
//! writes, not reads.

use integration_tests::api::spawn_app_with;
use integration_tests::pg;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_title_an_earlier_release_accepted_is_still_served_though_no_longer_accepted() {
    let db = pg::fresh_database().await;
    // A heart with its emoji presentation selector (U+FE0F), as a phone keyboard types it: accepted
    // before default-ignorable characters were refused.
    let title = "ship it \u{2764}\u{FE0F}";
    pg::execute(
        &db,
        &format!(
            "WITH counted AS (UPDATE task_counts SET total = total + 1) \
             INSERT INTO tasks (id, title) VALUES ('0b356a4c-10eb-4da4-8e07-4708c3101826', '{title}')"
        ),
    )
    .await
    .unwrap();
    let app = spawn_app_with(&[("DATABASE_URL", db.as_str())]).await;
    let task: Value = app.task("0b356a4c-10eb-4da4-8e07-4708c3101826").await;
    assert_eq!(task["title"], title);
    let page: Value = app.get_json("/api/tasks").await;
    assert_eq!(page["items"][0]["title"], title, "{page}");
    let res = app
        .post_json("/api/tasks", &json!({ "title": title }))
        .await;
    assert_eq!(res.status(), 422, "but no new one is accepted");
}
