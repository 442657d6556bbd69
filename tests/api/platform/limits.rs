//! What one connection may cost, against the real binary: its request heads are capped (431 in the
//! JSON envelope), a large one closes the connection after its answer, and a client that pipelines
//! requests without reading the answers holds about one answer, not one per request.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use demo_app::proxy::MAX_REQUEST_BODY_BYTES;
use integration_tests::{RealBinary, counter, raw_exchange};
use platform::extractors::JSON_LIMIT_BYTES;
use platform::protocol_framing::{LARGE_HEAD_BYTES, MAX_HEAD_BYTES};

/// A GET of `/api/health` whose head is exactly `len` bytes.
fn head_of(len: usize) -> Vec<u8> {
    let mut head = b"GET /api/health HTTP/1.1\r\nHost: x\r\nx-pad: ".to_vec();
    head.resize(len - 4, b'a');
    head.extend_from_slice(b"\r\n\r\n");
    head
}

#[tokio::test]
async fn a_head_over_16_kib_gets_a_json_431_after_the_answers_before_it_and_the_connection_closes()
{
    let app = RealBinary::spawn("api-app", &[]);
    let at_cap = raw_exchange(
        &app.address,
        &[
            &head_of(MAX_HEAD_BYTES)[..],
            b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ]
        .concat(),
        Duration::from_secs(5),
    );
    assert!(at_cap.starts_with("HTTP/1.1 200"), "{at_cap}");
    // A request, then one whose head is a byte over the cap, on one connection.
    let request = [
        &b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &head_of(MAX_HEAD_BYTES + 1),
    ]
    .concat();
    let answer = raw_exchange(&app.address, &request, Duration::from_secs(5));
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the first is answered: {answer}"
    );
    let (_, refused) = answer.split_once("HTTP/1.1 431").expect("then a 431");
    assert!(refused.contains("connection: close"), "{refused}");
    assert!(refused.contains("application/json"), "{refused}");
    assert!(
        refused.ends_with(r#"{"error":{"code":"headers_too_large","message":"the request head is larger than 16384 bytes"}}"#),
        "the JSON envelope, and the connection closed after it: {refused}"
    );
    // A 125 KB head, as in the issue: refused the same way, without reading it all.
    let answer = raw_exchange(&app.address, &head_of(125_000), Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    let text = app.metrics().await;
    assert!(
        counter(&text, "http_protocol_errors_total{kind=\"head_too_large\"}") >= 2,
        "{text}"
    );
    // Writing the 431 at the close went without a hitch (the client sees the same bytes either way).
    let log = app.stop();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn a_head_with_more_than_96_fields_gets_the_json_431_not_a_bare_one() {
    let app = RealBinary::spawn("api-app", &[]);
    let head = |fields: usize| {
        let mut head = b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".to_vec();
        for n in 2..fields {
            head.extend_from_slice(format!("x-h{n}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        head
    };
    let most = raw_exchange(&app.address, &head(96), Duration::from_secs(5));
    assert!(
        most.starts_with("HTTP/1.1 200"),
        "96 fields are served: {most}"
    );
    let over = raw_exchange(&app.address, &head(97), Duration::from_secs(5));
    assert!(over.starts_with("HTTP/1.1 431"), "{over}");
    assert!(over.contains("application/json"), "{over}");
    assert!(
        over.ends_with(r#"{"error":{"code":"headers_too_large","message":"the request head has more than 96 header fields"}}"#),
        "the JSON envelope: {over}"
    );
    let log = app.stop();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn after_a_large_head_the_answer_closes_the_connection_and_a_small_one_keeps_it() {
    let app = RealBinary::spawn("api-app", &[]);
    let address = app.address.trim_start_matches("http://");
    let ask = |head: &[u8]| {
        let mut s = TcpStream::connect(address).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.write_all(head).unwrap();
        let mut answer = Vec::new();
        // Until the server closes, or the keep-alive connection stays open past the timeout.
        let _ = s.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    };
    let large = ask(&head_of(LARGE_HEAD_BYTES));
    assert!(large.starts_with("HTTP/1.1 200"), "{large}");
    assert!(
        large.contains("connection: close"),
        "a large head's connection closes, and its read buffer with it: {large}"
    );
    let small = ask(&head_of(LARGE_HEAD_BYTES - 1));
    assert!(small.starts_with("HTTP/1.1 200"), "{small}");
    assert!(!small.contains("connection: close"), "{small}");
}

/// Seeds `n` tasks with titles of 200 characters, so a page of them is large.
async fn seed(app: &RealBinary, n: usize) {
    for _ in 0..n {
        app.create_task(&"t".repeat(200)).await;
    }
}

#[tokio::test]
async fn a_client_pipelining_requests_it_never_reads_holds_one_answer_and_then_gets_them_all() {
    let app = RealBinary::spawn("api-app", &[("REQUEST_DEADLINE_SECS", "30")]);
    seed(&app, 500).await;
    let page = app
        .get("/api/tasks?limit=1000")
        .await
        .bytes()
        .await
        .unwrap();
    assert!(page.len() > 170_000, "{}", page.len());
    let address = app.address.trim_start_matches("http://").to_owned();
    let pipelined = 40;
    let mut stream = {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        // A small receive window, as in the issue.
        s.set_recv_buffer_size(4096).unwrap();
        let addr: std::net::SocketAddr = address.parse().unwrap();
        s.connect(&addr.into()).unwrap();
        TcpStream::from(s)
    };
    let one = b"GET /api/tasks?limit=1000 HTTP/1.1\r\nHost: x\r\n\r\n";
    stream.write_all(&one.repeat(pipelined)).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let served = |text: &str| {
        counter(
            text,
            r#"http_requests_total{method="GET",route="/api/tasks",status="200"}"#,
        )
    };
    let text = app.metrics().await;
    // The page read above, and the first pipelined answer: the rest wait until it is read.
    assert!(
        served(&text) <= 2,
        "answers were made for a client that reads none: {}",
        served(&text)
    );
    // Now read: every answer arrives, whole and in order.
    let mut all = Vec::new();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = vec![0_u8; 256 * 1024];
    let complete = |all: &[u8]| {
        let text = String::from_utf8_lossy(all);
        text.matches("HTTP/1.1 200").count() == pipelined
            && text
                .rsplit_once("\r\n\r\n")
                .is_some_and(|(_, body)| body.len() == page.len())
    };
    while !complete(&all) {
        let n = stream.read(&mut buf).expect("the answers keep coming");
        assert!(n > 0, "closed early");
        all.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(all).unwrap();
    assert_eq!(
        text.matches(&*String::from_utf8_lossy(&page)).count(),
        pipelined
    );
    assert_eq!(served(&app.metrics().await), 1 + pipelined as u64);
}

#[test]
fn more_small_requests_pipelined_than_a_connection_queues_are_all_answered_in_order() {
    let app = RealBinary::spawn("api-app", &[]);
    let address = app.address.trim_start_matches("http://");
    // Three times the requests a connection parses ahead, in one write, each answered at once: the
    // rest wait in the connection wrapper, and a request that starts must let them in.
    let pipelined = 3 * platform::connection_state::QUEUED_REQUESTS;
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let ids: Vec<String> = (0..pipelined).map(|i| format!("pipelined-{i}")).collect();
    let requests: Vec<u8> = ids
        .iter()
        .flat_map(|id| {
            format!("GET /api/health HTTP/1.1\r\nHost: x\r\nx-request-id: {id}\r\n\r\n")
                .into_bytes()
        })
        .collect();
    stream.write_all(&requests).unwrap();
    let mut answers = String::new();
    let mut buf = [0_u8; 16 * 1024];
    while answers.matches("HTTP/1.1 200").count() < pipelined {
        let n = stream
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("{e}; answered so far: {answers}"));
        assert!(n > 0, "closed early: {answers}");
        answers.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let order: Vec<&str> = answers
        .lines()
        .filter_map(|line| line.strip_prefix("x-request-id: "))
        .collect();
    assert_eq!(order, ids, "every answer, in the order asked");
}

/// A POST of `/api/tasks` that announces `length` bytes and asks before sending them.
fn expecting(length: usize) -> String {
    format!(
        "POST /api/tasks HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\
         content-length: {length}\r\nexpect: 100-continue\r\n\r\n"
    )
}

/// Asks `address` whether it takes a body of `length` bytes, and expects to be invited: the
/// connection, with the `100 Continue` read, for the body.
fn invited(address: &str, length: usize) -> TcpStream {
    let mut stream = TcpStream::connect(address.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(expecting(length).as_bytes()).unwrap();
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream
}

#[tokio::test]
async fn a_body_too_large_is_refused_before_it_is_sent_and_one_that_fits_is_invited() {
    let app = RealBinary::spawn("api-app", &[]);
    // Over the limit: the JSON 413 instead of the 100, and the connection closes (the body it
    // announced never comes).
    let refused = raw_exchange(
        &app.address,
        expecting(JSON_LIMIT_BYTES + 1).as_bytes(),
        Duration::from_secs(5),
    );
    assert!(refused.starts_with("HTTP/1.1 413"), "{refused}");
    assert!(!refused.contains("100 Continue"), "{refused}");
    assert!(refused.contains("connection: close"), "{refused}");
    assert!(
        refused.ends_with(r#"{"error":{"code":"payload_too_large","message":"the request body must be at most 16384 bytes"}}"#),
        "the JSON envelope, then the close: {refused}"
    );
    let text = app.metrics().await;
    assert!(
        counter(&text, "http_protocol_errors_total{kind=\"body_too_large\"}") >= 1,
        "{text}"
    );

    // Within it: the 100, then the body, then the task.
    let body = br#"{"title":"asked first"}"#;
    let mut stream = invited(&app.address, body.len());
    stream.write_all(body).unwrap();
    let mut answer = [0u8; 12];
    stream.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 201");
}

#[tokio::test]
async fn demo_apps_proxy_invites_the_bodies_it_forwards() {
    // Its limit is its own, larger than api-app's.
    let app = RealBinary::spawn("demo-app", &[]);
    invited(&app.address, JSON_LIMIT_BYTES + 1);
    let refused = raw_exchange(
        &app.address,
        expecting(MAX_REQUEST_BODY_BYTES + 1).as_bytes(),
        Duration::from_secs(5),
    );
    assert!(refused.starts_with("HTTP/1.1 413"), "{refused}");
}
