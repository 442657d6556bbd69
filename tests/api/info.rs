//! `GET /api`: what is running, where, and every endpoint it serves.

use std::collections::HashSet;
use std::process::Command;

use serde_json::Value;

#[tokio::test]
async fn api_info_names_the_service_and_lists_every_endpoint() {
    let app = spawn_app_with_env().await;
    let info: Value = app.get("/api").await.json().await.unwrap();
    assert_eq!(info["name"], "api-app");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["commit"], expected_commit().as_str());
    assert_eq!(
        info["build_time"],
        option_env!("BUILD_TIME").unwrap_or("unknown")
    );
    // A binary built without GIT_SHA/BUILD_TIME says where they come from; one built with them doesn't.
    let unknown = info["commit"] == "unknown" || info["build_time"] == "unknown";
    assert_eq!(
        info["build_note"]
            .as_str()
            .is_some_and(|n| n.contains("GIT_SHA")),
        unknown,
        "{info}"
    );
    assert_eq!(info["environment"], cluster_env());
    assert_eq!(info["hostname"], "api-app-7d9f-abcde");
    assert_eq!(info["store"]["kind"], integration_tests::api::store_kind());
    let listed: HashSet<(String, String)> = info["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(!e["description"].as_str().unwrap().is_empty(), "{e}");
            (
                e["method"].as_str().unwrap().to_owned(),
                e["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (method, path) in [
        ("GET", "/api"),
        ("GET", "/api/health"),
        ("GET", "/api/tasks"),
        ("POST", "/api/tasks"),
        ("GET", "/api/tasks/{id}"),
        ("PATCH", "/api/tasks/{id}"),
        ("DELETE", "/api/tasks/{id}"),
        ("GET", "/api/echo"),
        ("GET", "/api/protected/stats"),
        ("GET", "/api/openapi.json"),
        ("GET", "/api/docs/"),
    ] {
        assert!(
            listed.contains(&(method.to_owned(), path.to_owned())),
            "{method} {path} in {listed:?}"
        );
    }
}

/// A cluster environment needs a database; the memory pass stays `local`.
fn cluster_env() -> &'static str {
    if integration_tests::api::store_kind() == "postgres" {
        "dev"
    } else {
        "local"
    }
}

async fn spawn_app_with_env() -> integration_tests::api::TestApp {
    integration_tests::api::spawn_app_with(&[
        ("APP_ENV", cluster_env()),
        ("HOSTNAME", "api-app-7d9f-abcde"),
        ("API_KEY", integration_tests::api::API_KEY),
    ])
    .await
}

/// The commit `GET /api` should show: `GIT_SHA` when the build was given one, else the checkout's
/// own (a local build, `make demo`), else `unknown` (no Git, as in the image build's context).
fn expected_commit() -> String {
    if let Some(sha) = option_env!("GIT_SHA") {
        return sha.to_owned();
    }
    Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(integration_tests::repo_root())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |out| String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        )
}
