//! Created means committed: a 201 is sent only after the commit, so SIGKILL loses no acknowledged task.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use integration_tests::{RealBinary, pg, test_client};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_create_survives_a_sigkill_mid_stream() {
    let db = pg::fresh_database().await;
    let env = [("DATABASE_URL", db.as_str())];
    let mut app = RealBinary::spawn("api-app", &env);
    let base = app.url("");
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (client, base, stop) = (test_client(), base.clone(), stop.clone());
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let sent = client
                        .post(format!("{base}/api/tasks"))
                        .json(&json!({ "title": format!("writer {w} task {i}") }))
                        .send()
                        .await;
                    // After the kill, requests fail at the connection: that is the end of the stream.
                    let Ok(res) = sent else { break };
                    if res.status() != 201 {
                        break;
                    }
                    let Ok(task) = res.json::<Value>().await else {
                        break;
                    };
                    acked.push(task["id"].as_str().unwrap().to_owned());
                }
                acked
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // SIGKILL: no drain, no chance to finish or flush anything.
    app.signal("KILL");
    app.wait();
    stop.store(true, Ordering::SeqCst);
    let mut acked = HashSet::new();
    for writer in writers {
        acked.extend(writer.await.unwrap());
    }
    assert!(
        acked.len() > 50,
        "the stream was running: {} creates",
        acked.len()
    );

    let restarted = RealBinary::spawn("api-app", &env);
    let stored: HashSet<String> = restarted
        .all_tasks(1000)
        .await
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    let lost: Vec<&String> = acked.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged tasks lost: {lost:?}",
        lost.len()
    );
    // A create in flight at the kill may or may not have committed; nothing else may appear.
    assert!(
        stored.len() - acked.len() <= 8,
        "{} stored, {} acknowledged",
        stored.len(),
        acked.len()
    );
}
