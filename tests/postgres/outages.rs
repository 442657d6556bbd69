//! The database going away is an answer, not a hang: a bounded 503 `store_unavailable` with
//! `Retry-After`, liveness and readiness untouched, and recovery without a restart.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use integration_tests::{Http, RealBinary, pg};
use serde_json::Value;

use crate::proxy::Proxy;
use crate::shards::{create_in_background, take_both_lanes};
use integration_tests::api::{API_KEY, TestApp, spawn_app_with};
use integration_tests::{assert_error, read_until_closed, sample};

/// The throwaway server's address, and a fresh database's name on it.
async fn server_and_database() -> (SocketAddr, String) {
    let db = pg::fresh_database().await;
    let url: tokio_postgres::Config = db.parse().unwrap();
    let host = match &url.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        other @ tokio_postgres::config::Host::Unix(_) => panic!("a TCP host, not {other:?}"),
    };
    let addr = format!("{host}:{}", url.get_ports()[0]).parse().unwrap();
    (addr, url.get_dbname().unwrap().to_owned())
}

/// Tight timeouts, so the bounds are quick to check.
const TIMEOUTS: [(&str, &str); 3] = [
    ("DATABASE_ACQUIRE_TIMEOUT_MS", "500"),
    ("DATABASE_STATEMENT_TIMEOUT_MS", "500"),
    ("DATABASE_POOL_MAX", "4"),
];

async fn app_through(proxy: &Proxy, dbname: &str) -> TestApp {
    let url = proxy.url("postgres", dbname);
    let mut vars = vec![("DATABASE_URL", url.as_str())];
    vars.extend(TIMEOUTS);
    spawn_app_with(&vars).await
}

/// Asserts a store request answers 503 `store_unavailable` with `Retry-After`, within `bound`.
async fn assert_unavailable_within(app: &TestApp, path: &str, bound: Duration) {
    let started = Instant::now();
    let res = app.get(path).await;
    let took = started.elapsed();
    assert!(took < bound, "{path} took {took:?}, over {bound:?}");
    assert_eq!(res.headers()["retry-after"], "1");
    assert_error(res, 503, "store_unavailable").await;
}

/// Creates `title` until it is answered 201: the store takes creates again within 10 s.
async fn created_again(app: &Http, title: &str) {
    let started = Instant::now();
    while app.post_task(title).await.status() != 201 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "creates work again on their own"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A sample's value, read as a whole number (every series checked here counts or is 0/1).
fn metric(text: &str, series: &str) -> u64 {
    sample(text, series).unwrap_or_else(|| panic!("{series} in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_is_a_fast_503_and_the_app_recovers_when_it_returns() {
    let (server, dbname) = server_and_database().await;
    let mut proxy = Proxy::start(server).await;
    let app = app_through(&proxy, &dbname).await;
    let kept = app.create_task("before the outage").await;
    let metrics = app.admin_get("/metrics").await.text().await.unwrap();
    assert_eq!(metric(&metrics, "store_up "), 1);
    assert_eq!(metric(&metrics, "store_pool_max_connections "), 4);
    assert!(metric(&metrics, "store_acquire_duration_seconds_count ") >= 1);
    assert!(
        metrics.contains(r#"store_pool_connections{state="idle"}"#),
        "{metrics}"
    );

    proxy.down();
    for path in ["/api/tasks", "/api/protected/stats"] {
        let res = app
            .client
            .get(app.url(path))
            .header("x-api-key", API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 503, "{path}");
    }
    assert_unavailable_within(&app, "/api/tasks", Duration::from_secs(2)).await;
    assert_eq!(
        app.admin_get("/healthz").await.status(),
        200,
        "liveness never asks the database"
    );
    assert_eq!(
        app.admin_get("/readyz").await.status(),
        200,
        "readiness stays: see api-app/README.md"
    );
    let health = app.get("/api/health").await;
    assert_eq!(health.status(), 503);
    let health: Value = health.json().await.unwrap();
    assert_eq!(
        health["store"],
        serde_json::json!({"kind": "postgres", "reachable": false})
    );
    let metrics = app.admin_get("/metrics").await.text().await.unwrap();
    assert_eq!(metric(&metrics, "store_up "), 0);
    assert!(metric(&metrics, r#"store_errors_total{kind="unavailable"} "#) >= 1);

    proxy.up().await;
    let started = Instant::now();
    loop {
        let res = app
            .get(&format!("/api/tasks/{}", kept["id"].as_str().unwrap()))
            .await;
        if res.status() == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "recovers on its own"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.create_task("after the outage").await;
    let health: Value = app.get("/api/health").await.json().await.unwrap();
    assert_eq!(health["store"]["reachable"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_database_is_bounded_by_the_acquire_and_statement_timeouts() {
    let (server, dbname) = server_and_database().await;
    let proxy = Proxy::start(server).await;
    let app = app_through(&proxy, &dbname).await;
    app.create_task("warm the pool").await;

    proxy.freeze();
    // Open connections stop answering: the statement bound (500 ms + margin) ends the request.
    // New connections get no handshake: the acquire bound (500 ms) ends those.
    for _ in 0..3 {
        assert_unavailable_within(&app, "/api/tasks", Duration::from_millis(2500)).await;
    }
    let metrics = app.admin_get("/metrics").await.text().await.unwrap();
    assert!(
        metric(&metrics, r#"store_errors_total{kind="timeout"} "#) >= 1,
        "{metrics}"
    );
}

/// Creates that queue while the database hangs go to it together, and the batch's failure is every
/// one of its creates' answer: a bounded 503, never a 201, and the queue works again once the
/// database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_that_wait_together_on_a_hung_database_all_get_a_bounded_503() {
    // More than the two lanes and two full batches take: most creates queue behind several batches.
    const N: usize = 800;
    let (server, dbname) = server_and_database().await;
    let mut proxy = Proxy::start(server).await;
    let app = app_through(&proxy, &dbname).await;
    app.create_task("warm the pool").await;

    proxy.freeze();
    let creates = (0..N).map(|i| {
        let http = Http::clone(&app);
        tokio::spawn(async move {
            let started = Instant::now();
            let res = http.post_task(&format!("while hung {i}")).await;
            (
                started.elapsed(),
                res.status().as_u16(),
                res.json::<Value>().await.unwrap(),
            )
        })
    });
    for outcome in futures_util::future::join_all(creates).await {
        let (took, status, body) = outcome.unwrap();
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"]["code"], "store_unavailable");
        // At most one operation's bound (500 ms to connect, 1 s for the statement) waiting for a
        // lane, and one for the batch that takes it, however many batches are queued ahead: each
        // holds its lane up to that bound on a hung database, and a create that waited for them
        // in turn took 3.5 s and more here, growing with the queue.
        assert!(
            took < Duration::from_millis(3500),
            "answered after {took:?}"
        );
    }
    let metrics = app.admin_get("/metrics").await.text().await.unwrap();
    let batches = metric(&metrics, "store_create_batch_size_count ");
    let creates = metric(&metrics, "store_create_batch_size_sum ");
    // Creates that gave up while they waited for a lane never joined a batch.
    assert!(creates <= 1 + N as u64, "{creates} creates batched");
    assert!(batches < creates, "some creates waited together: {metrics}");

    proxy.up().await;
    created_again(&app, "after the hang").await;
}

/// A fresh database with one task, api-app on it with a 1 s request deadline and an 8 s statement
/// bound, and another transaction holding the tasks table so every insert waits past the deadline
/// and the connection's cut, until the returned client rolls back.
async fn inserts_held_past_the_deadline() -> (String, TestApp, tokio_postgres::Client) {
    let db = pg::fresh_database().await;
    let app = spawn_app_with(&[
        ("DATABASE_URL", db.as_str()),
        ("DATABASE_STATEMENT_TIMEOUT_MS", "8000"),
        ("REQUEST_DEADLINE_SECS", "1"),
    ])
    .await;
    app.create_task("before").await;
    let holder = pg::hold(&db, "LOCK TABLE tasks IN SHARE MODE").await;
    (db, app, holder)
}

/// A create whose request deadline passes while the store works on it, in a lane or queued for
/// one, is answered by the store: 201 once it commits. Never a 408 for a task that then exists (a
/// plain create has no key, and a client that retries a 408 would add it twice); the store's own
/// timeouts bound the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_past_its_request_deadline_is_answered_by_the_store_never_408_then_created() {
    let (db, app, holder) = inserts_held_past_the_deadline().await;
    let send = |title| create_in_background(&app, title);
    // Two creates take the two lanes and wait for the lock; the rest wait in the queue.
    let in_lanes = take_both_lanes(|| send("in a lane")).await;
    let queued: Vec<_> = (0..6).map(|_| send("queued")).collect();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    holder.batch_execute("ROLLBACK").await.unwrap();
    for request in in_lanes.into_iter().chain(queued) {
        assert_eq!(request.await.unwrap(), 201, "answered by the store");
    }
    let titles = pg::query_strings(&db, "SELECT title FROM tasks ORDER BY title").await;
    assert_eq!(titles.len(), 9, "{titles:?}");
}

/// A write that ended past the deadline has its answer written, and no more: a request pipelined
/// behind it that stalls is cut about a second later (`ANSWER_GRACE`), not left holding the
/// connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_write_past_its_deadline_a_stalled_pipelined_request_is_cut() {
    use std::io::Write as _;
    let (_db, app, holder) = inserts_held_past_the_deadline().await;
    let port = app.port;
    let client = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        // A whole create, then the start of the next request's head, which never ends.
        s.write_all(
            b"POST /api/tasks HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 14\r\n\r\n{\"title\":\"ok\"}GET /api/health HTTP/1.1\r\nHost: x\r\n",
        )
        .unwrap();
        read_until_closed(&mut s, Duration::from_secs(10))
    });
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // The create commits as soon as the lock goes, and is answered at once.
    let released = Instant::now();
    holder.batch_execute("ROLLBACK").await.unwrap();
    let (answer, closed) = client.await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "the write is answered: {answer}"
    );
    assert!(closed, "the stalled request behind it is cut: {answer}");
    let held = released.elapsed();
    assert!(
        held < Duration::from_secs(3),
        "cut {held:?} after the create could commit"
    );
}

/// A create a batch has taken is answered by that batch, even past the queue's bound: on a slow but
/// healthy database it commits, so it must be a 201, never a 503 for a task that then exists (a
/// plain create has no key, and a client that retries a 503 would add it twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_taken_by_a_slow_batch_waits_for_it_past_the_queue_bound() {
    let db = pg::fresh_database().await;
    // The queue's bound: 500 ms to connect and 3.5 s for the statement, 4 s.
    let app = spawn_app_with(&[
        ("DATABASE_URL", db.as_str()),
        ("DATABASE_ACQUIRE_TIMEOUT_MS", "500"),
        ("DATABASE_STATEMENT_TIMEOUT_MS", "3000"),
    ])
    .await;
    app.create_task("before").await;
    // Every insert statement takes 2.5 s: slow, inside the statement timeout.
    pg::execute(
        &db,
        "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN PERFORM pg_sleep(2.5); RETURN NULL; END $$;
         CREATE TRIGGER slow_insert BEFORE INSERT ON tasks
             FOR EACH STATEMENT EXECUTE FUNCTION slow_insert();",
    )
    .await
    .unwrap();
    let send = || create_in_background(&app, "slow");
    // Two creates take the lanes (2.5 s each); the rest are taken together when a lane frees and
    // committed at about 5 s, past the 4 s a create may wait for a lane.
    let mut creates = Vec::from(take_both_lanes(send).await);
    creates.extend((0..6).map(|_| send()));
    for create in creates {
        assert_eq!(
            create.await.unwrap(),
            201,
            "a taken create is answered by its batch"
        );
    }
    let count = pg::query_strings(&db, "SELECT count(*)::text FROM tasks").await;
    assert_eq!(count, ["9"]);
}

/// The start-up drill (issue 27.1): the real binary started while PostgreSQL is stopped binds its
/// ports at once, is live but not ready within a second (the clock starts at the spawn, after the
/// binary is built), answers store-backed routes with 503 `unavailable`, and is ready within 2 s of
/// the database starting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_against_a_stopped_database_it_is_live_at_once_and_ready_within_2_s_of_it() {
    let (server, dbname) = server_and_database().await;
    let mut proxy = Proxy::start_down(server).await;
    let url = proxy.url("postgres", &dbname);
    // `spawn_listening` builds the binary the first time (a cargo run of seconds when only this
    // test binary was built): that is not the start-up being timed.
    integration_tests::binary_path("api-app");
    let started = Instant::now();
    let app = tokio::task::spawn_blocking(move || {
        RealBinary::spawn_listening("api-app", &[("DATABASE_URL", url.as_str())])
    })
    .await
    .unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let status = |url: String| {
        let client = client.clone();
        async move { client.get(url).send().await.map(|r| r.status().as_u16()) }
    };
    assert_eq!(status(app.admin_url("/healthz")).await.unwrap(), 200);
    let ready = client.get(app.admin_url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "starting");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "live, and not ready, within a second of starting: {:?}",
        started.elapsed()
    );
    let res = client.get(app.url("/api/tasks")).send().await.unwrap();
    assert_eq!(res.headers()["retry-after"], "1");
    assert_error(res, 503, "unavailable").await;
    // It keeps trying, live and not ready, for as long as the database is down.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(status(app.admin_url("/healthz")).await.unwrap(), 200);
    assert_eq!(status(app.admin_url("/readyz")).await.unwrap(), 503);

    proxy.up().await;
    let up = Instant::now();
    integration_tests::eventually(
        Duration::from_secs(2),
        "ready within 2 s of the database starting",
        || async { (status(app.admin_url("/readyz")).await.ok()? == 200).then_some(()) },
    )
    .await;
    eprintln!("ready {:?} after the database started", up.elapsed());
    assert_eq!(
        app.create_task("after the start").await["title"],
        "after the start"
    );
    let _ = app.stop();
}

/// A database that takes the connection and then says nothing (frozen, or behind a proxy that lost
/// it) does not hold the start-up for good: the attempt gives up at the acquire timeout, and the
/// next one gets through once new connections are answered again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_against_a_silent_database_it_retries_and_is_ready_once_it_answers() {
    let (server, dbname) = server_and_database().await;
    let proxy = Proxy::start(server).await;
    proxy.freeze();
    let url = proxy.url("postgres", &dbname);
    integration_tests::binary_path("api-app");
    let app = tokio::task::spawn_blocking(move || {
        RealBinary::spawn_listening(
            "api-app",
            &[
                ("DATABASE_URL", url.as_str()),
                ("DATABASE_ACQUIRE_TIMEOUT_MS", "500"),
            ],
        )
    })
    .await
    .unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let ready = || {
        let client = client.clone();
        let url = app.admin_url("/readyz");
        async move {
            client
                .get(url)
                .send()
                .await
                .ok()
                .map(|r| r.status().as_u16())
        }
    };
    // The first attempt's connection is taken and never answered.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(ready().await, Some(503), "not ready while nothing answers");
    proxy.thaw();
    integration_tests::eventually(
        Duration::from_secs(5),
        "ready once new connections are answered",
        || async { (ready().await? == 200).then_some(()) },
    )
    .await;
    assert_eq!(
        app.create_task("after the silence").await["title"],
        "after the silence"
    );
    let _ = app.stop();
}

#[test]
fn the_start_up_retries_back_off_from_200_ms_doubling_to_1_s() {
    // Nothing listens on port 1: every attempt is refused at once, so only the backoff sets the pace.
    let url = "postgres://api_app@127.0.0.1:1/tasks";
    let waits: Vec<u64> =
        integration_tests::lines_containing("api-app", &[("DATABASE_URL", url)], "retrying", 6)
            .iter()
            .map(|line| {
                let log: Value = serde_json::from_str(line).expect("a JSON log line");
                // A u128 in the code, so the JSON layer writes it as a string.
                log["retry_in_ms"]
                    .as_str()
                    .and_then(|ms| ms.parse().ok())
                    .unwrap_or_else(|| panic!("retry_in_ms in {line}"))
            })
            .collect();
    assert_eq!(
        waits,
        [200, 400, 800, 1000, 1000, 1000],
        "doubling, then capped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_database_error_gets_its_answer_and_its_metric() {
    // A trigger makes every insert fail with the SQLSTATE under test, as PostgreSQL would.
    for (sqlstate, status, kind) in [
        ("57014", 503, "timeout"),     // query_canceled: the statement timeout
        ("40001", 503, "conflict"),    // serialization_failure
        ("40P01", 503, "conflict"),    // deadlock_detected
        ("53300", 503, "unavailable"), // too_many_connections
        ("57P01", 503, "unavailable"), // admin_shutdown
        ("28P01", 503, "auth"),        // invalid_password: a rotation race (DatabaseAuthFailing)
        ("22023", 500, "other"),       // invalid_parameter_value: a bug, not a retry
    ] {
        let db = pg::fresh_database().await;
        pg::execute(
            &db,
            &format!(
                "CREATE FUNCTION fail() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'planted' USING ERRCODE = '{sqlstate}'; END $$; \
                 CREATE TRIGGER fail BEFORE INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION fail();"
            ),
        )
        .await
        .unwrap();
        let app = spawn_app_with(&[("DATABASE_URL", db.as_str())]).await;
        let res = app
            .post_json("/api/tasks", &serde_json::json!({ "title": "refused" }))
            .await;
        if status == 503 {
            assert_eq!(res.headers()["retry-after"], "1", "{sqlstate}");
            assert_error(res, 503, "store_unavailable").await;
        } else {
            assert_error(res, 500, "internal_error").await;
        }
        let metrics = app.admin_get("/metrics").await.text().await.unwrap();
        for other in ["timeout", "conflict", "unavailable", "auth", "other"] {
            let series = format!("store_errors_total{{kind=\"{other}\"}} ");
            assert_eq!(
                metric(&metrics, &series),
                u64::from(other == kind),
                "{sqlstate} counts as {kind}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_up_follows_the_database_while_no_request_touches_the_store() {
    let (server, dbname) = server_and_database().await;
    let mut proxy = Proxy::start(server).await;
    let app = app_through(&proxy, &dbname).await;
    // Only /metrics from here on, which reads no table: the background check must notice.
    let store_up_becomes = |want: u64| {
        let app = &app;
        integration_tests::eventually(
            Duration::from_secs(10),
            "store_up follows the database (checked every 5 s)",
            move || async move {
                let text = app.admin_get("/metrics").await.text().await.unwrap();
                (metric(&text, "store_up ") == want).then_some(())
            },
        )
    };
    store_up_becomes(1).await;
    proxy.down();
    store_up_becomes(0).await;
    proxy.up().await;
    store_up_becomes(1).await;
}
