//! Counter shards (migration 0003): creates do not queue behind one counter row, and `MAX_TASKS`
//! stays exact, also while the release before the shards still writes to the same database.

use std::time::Duration;

use integration_tests::{Http, RealBinary, pg, sample, test_client};
use serde_json::{Value, json};

/// Creates `n` tasks on `app` at once, each bounded by `within`, every other one with an
/// `Idempotency-Key`; returns their statuses.
async fn create_all(app: &RealBinary, n: usize, within: Duration) -> Vec<u16> {
    let client = reqwest::Client::builder().timeout(within).build().unwrap();
    let creates = (0..n).map(|i| {
        let client = client.clone();
        let url = app.url("/api/tasks");
        tokio::spawn(async move {
            let mut req = client
                .post(url)
                .json(&json!({ "title": format!("task {i}") }));
            if i % 2 == 1 {
                req = req.header("idempotency-key", uuid::Uuid::new_v4().to_string());
            }
            req.send().await.map_or(0, |res| res.status().as_u16())
        })
    });
    futures_util::future::join_all(creates)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_do_not_wait_for_another_transaction_on_the_counters() {
    let db = pg::fresh_database().await;
    let app = RealBinary::spawn("api-app", &[("DATABASE_URL", db.as_str())]);
    assert_eq!(create_all(&app, 1, Duration::from_secs(10)).await, [201]);
    // Another transaction holds the ledger row, as a create of the previous release would until its
    // commit, and half the shard rows, as creates in flight on other replicas would.
    let holder = pg::hold(
        &db,
        "SELECT 1 FROM task_counts FOR UPDATE; \
         SELECT 1 FROM task_count_shards WHERE shard < 16 FOR UPDATE;",
    )
    .await;
    let statuses = create_all(&app, 20, Duration::from_secs(5)).await;
    assert!(
        statuses.iter().all(|s| *s == 201),
        "every create, keyed or not, answered while the counters were held: {statuses:?}"
    );
    holder.batch_execute("ROLLBACK").await.unwrap();
    let page: Value = app.get("/api/tasks?limit=1").await.json().await.unwrap();
    assert_eq!(page["total"], 21);
}

/// The previous release's writes: its create statement, verbatim (the ledger row's lock and its cap
/// check, then the insert), and its delete with the count it takes off, in one statement.
const OLD_CREATE: &str = "WITH counted AS (UPDATE task_counts \
    SET total = total + 1, completed = completed + CASE WHEN $3 THEN 1 ELSE 0 END \
    WHERE total < $4 RETURNING total) \
    INSERT INTO tasks (id, title, completed, created_at, updated_at) \
    SELECT $1, $2, $3, clock.at, clock.at FROM (SELECT clock_timestamp() AS at FROM counted) clock \
    RETURNING id";
const OLD_DELETE: &str = "WITH gone AS (DELETE FROM tasks WHERE id = $1 RETURNING completed) \
    UPDATE task_counts SET total = total - 1, completed = completed - \
    (SELECT CASE WHEN completed THEN 1 ELSE 0 END FROM gone) WHERE EXISTS (SELECT 1 FROM gone)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_holds_while_the_previous_release_writes_to_the_same_database() {
    const CAP: i64 = 40;
    let db = pg::fresh_database().await;
    let cap = CAP.to_string();
    let app = RealBinary::spawn(
        "api-app",
        &[("DATABASE_URL", db.as_str()), ("MAX_TASKS", cap.as_str())],
    );
    let (old, connection) = tokio_postgres::connect(&db, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let old_create = old.prepare(OLD_CREATE).await.unwrap();
    let create_old = || async {
        let id = uuid::Uuid::new_v4();
        old.query_opt(&old_create, &[&id, &"old release", &false, &CAP])
            .await
            .unwrap()
            .is_some()
    };
    let stored = || async {
        pg::query_strings(&db, "SELECT count(*) FROM tasks").await[0]
            .parse::<i64>()
            .unwrap()
    };

    // Both releases create, this one first (it shares out budgets), then the old one.
    let new: Vec<u16> = create_all(&app, 15, Duration::from_secs(10)).await;
    assert!(new.iter().all(|s| *s == 201), "{new:?}");
    let mut old_created = 0;
    while create_old().await {
        old_created += 1;
    }
    assert!(
        old_created > 0,
        "the old release finds room beside the shards"
    );
    assert!(
        stored().await <= CAP,
        "the old release never passes the cap"
    );
    // This release takes back what the shards reserved but never used, up to the cap exactly.
    let rest = create_all(&app, 60, Duration::from_secs(10)).await;
    assert!(rest.iter().all(|s| [201, 409].contains(s)), "{rest:?}");
    assert_eq!(stored().await, CAP, "exactly the cap is stored");
    assert!(
        !create_old().await,
        "the old release sees the store full too"
    );

    // Both count every task, whichever release created it and whichever deletes it.
    let total = |page: Value| page["total"].as_i64().unwrap();
    assert_eq!(
        total(app.get("/api/tasks?limit=1").await.json().await.unwrap()),
        CAP
    );
    let ids = pg::query_strings(
        &db,
        "SELECT id::text FROM tasks WHERE shard IS NOT NULL LIMIT 3",
    )
    .await;
    let old_delete = old.prepare(OLD_DELETE).await.unwrap();
    for id in &ids {
        let id: uuid::Uuid = id.parse().unwrap();
        assert_eq!(old.execute(&old_delete, &[&id]).await.unwrap(), 1);
    }
    let client = test_client();
    let legacy = pg::query_strings(
        &db,
        "SELECT id::text FROM tasks WHERE shard IS NULL LIMIT 1",
    )
    .await;
    let res = client
        .delete(app.url(&format!("/api/tasks/{}", legacy[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(stored().await, CAP - 4);
    assert_eq!(
        total(app.get("/api/tasks?limit=1").await.json().await.unwrap()),
        CAP - 4
    );
    let refill = create_all(&app, 10, Duration::from_secs(10)).await;
    assert_eq!(
        refill.iter().filter(|s| **s == 201).count(),
        4,
        "{refill:?}"
    );
    assert_eq!(stored().await, CAP);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_that_arrive_together_commit_together_and_each_gets_its_own_task() {
    const N: usize = 300;
    const KEY: &str = "batch-test-key-4Hq8Vn2Xc6Tz1Lp9";
    let db = pg::fresh_database().await;
    let app = RealBinary::spawn(
        "api-app",
        &[("DATABASE_URL", db.as_str()), ("API_KEY", KEY)],
    );
    // The first create shares out the shards' budgets; until then a batch has no shard to go to.
    let first = app.create_task("first").await;
    let client = test_client();
    let creates = (0..N).map(|i| {
        let (client, url) = (client.clone(), app.url("/api/tasks"));
        tokio::spawn(async move {
            let title = format!("together {i}");
            let res = client
                .post(url)
                .json(&json!({ "title": title, "completed": i % 3 == 0 }))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
            let task: Value = res.json().await.unwrap();
            // Each request gets the task it sent, not a neighbour's from the same statement.
            assert_eq!(task["title"], title.as_str());
            assert_eq!(task["completed"], i % 3 == 0);
            task["id"].as_str().unwrap().to_owned()
        })
    });
    let mut ids: Vec<String> = futures_util::future::join_all(creates)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    ids.push(first["id"].as_str().unwrap().to_owned());
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), N + 1, "every create got a task of its own");

    let page = app.admin_get("/metrics").await.text().await.unwrap();
    // Less the first create, which went alone.
    let statements = sample(&page, "store_create_batch_size_count ").unwrap() - 1;
    let batched = sample(&page, "store_create_batch_size_sum ").unwrap() - 1;
    assert_eq!(batched, N as u64, "every create went through a batch");
    assert!(
        statements < N as u64,
        "{N} creates at once took {statements} statements: none went together"
    );
    // A statement reads the clock once for all its tasks: no more creation times than statements.
    let times = pg::query_strings(
        &db,
        "SELECT count(DISTINCT created_at)::text FROM tasks WHERE title <> 'first'",
    )
    .await;
    let times: u64 = times[0].parse().unwrap();
    assert!(
        times <= statements,
        "{times} creation times from {statements} statements: creates that waited together went one by one"
    );

    // The counts agree with the table, completed ones included, and every task reads back.
    let stored = pg::query_strings(
        &db,
        "SELECT count(*)::text || ' ' || count(*) FILTER (WHERE completed)::text FROM tasks",
    )
    .await;
    assert_eq!(stored, [format!("{} {}", N + 1, N.div_ceil(3))]);
    let stats: Value = app.stats_with_key(Some(KEY)).await.json().await.unwrap();
    assert_eq!(
        stats["tasks"],
        json!({"total": N + 1, "completed": N.div_ceil(3)})
    );
    let listed: Value = app.get("/api/tasks?limit=1000").await.json().await.unwrap();
    assert_eq!(listed["total"], N + 1);
    assert_eq!(listed["items"].as_array().unwrap().len(), N + 1);
}

/// Sends a create titled `title` from a task of its own, which ends with the answer's status.
pub fn create_in_background(app: &Http, title: &'static str) -> tokio::task::JoinHandle<u16> {
    let http = Http::clone(app);
    tokio::spawn(async move { http.post_task(title).await.status().as_u16() })
}

/// Sends two creates one after the other, so each goes alone into one of the batcher's two lanes;
/// creates sent after this returns wait in the queue while those two are in flight.
pub async fn take_both_lanes<T>(send: impl Fn() -> T) -> [T; 2] {
    let first = send();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let second = send();
    tokio::time::sleep(Duration::from_millis(150)).await;
    [first, second]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_takes_at_most_64_creates_and_the_rest_go_in_the_next() {
    const QUEUED: usize = 150;
    let db = pg::fresh_database().await;
    let app = RealBinary::spawn("api-app", &[("DATABASE_URL", db.as_str())]);
    app.create_task("first").await;
    // Another transaction keeps every insert waiting while the queue fills.
    let holder = pg::hold(&db, "LOCK TABLE tasks IN SHARE MODE").await;
    let send = || create_in_background(&app, "queued");
    // One create in each lane, then the queue behind them.
    let mut creates = Vec::from(take_both_lanes(send).await);
    creates.extend((0..QUEUED).map(|_| send()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    holder.batch_execute("ROLLBACK").await.unwrap();
    for create in creates {
        assert_eq!(create.await.unwrap(), 201);
    }

    let page = app.admin_get("/metrics").await.text().await.unwrap();
    let batches = |le: &str| {
        sample(
            &page,
            &format!("store_create_batch_size_bucket{{le=\"{le}\"}} "),
        )
        .unwrap()
    };
    assert_eq!(batches("64"), batches("+Inf"), "no batch over 64: {page}");
    assert!(
        batches("64") > batches("32"),
        "{QUEUED} queued creates went in batches of 64 at most, and some of 64: {page}"
    );
    assert_eq!(
        sample(&page, "store_create_batch_size_sum ").unwrap(),
        3 + QUEUED as u64
    );
}
