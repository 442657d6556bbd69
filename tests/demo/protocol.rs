//! demo-app speaks plain HTTP/1.1 only: no upgrades or tunnels, HEAD wherever GET is served.

use std::time::Duration;

use integration_tests::raw_exchange;

use crate::helpers::spawn_demo;

#[tokio::test]
async fn an_upgrade_or_connect_gets_a_json_400_and_the_connection_closes() {
    let demo = spawn_demo(None).await;
    for request in [
        &b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"[..],
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    ] {
        let address = demo.address.clone();
        let answer = tokio::task::spawn_blocking(move || {
            raw_exchange(&address, request, Duration::from_secs(5))
        })
        .await
        .unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains("connection: close"), "{answer}");
        assert!(answer.contains("upgrade_not_supported"), "{answer}");
    }
}

#[tokio::test]
async fn head_on_the_page_has_headers_and_no_body() {
    let demo = spawn_demo(None).await;
    let res = demo
        .client
        .head(format!("{}/", demo.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(res.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_path_spelled_with_percent_escapes_is_refused_before_the_proxy() {
    let demo = spawn_demo(Some("http://127.0.0.1:9")).await;
    for path in ["/%61pi/tasks", "/st%61tic/app.css", "/%6detrics"] {
        let address = demo.address.clone();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let answer = tokio::task::spawn_blocking(move || {
            raw_exchange(&address, request.as_bytes(), Duration::from_secs(5))
        })
        .await
        .unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
        assert!(answer.contains("invalid_path"), "{path}: {answer}");
    }
}
