//! A deadline on every byte, against the real binary: slow clients of every kind are cut by the
//! request deadline, memory stays bounded while they are held, and a normal request is answered
//! meanwhile; the connection cap holds; protocol refusals are counted, not logged.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use integration_tests::{RealBinary, counter, read_until_closed};

/// `REQUEST_DEADLINE_SECS` for these tests, and the grace the connection-level cut adds to it.
const DEADLINE: Duration = Duration::from_secs(2);

const CUT_GRACE: Duration = Duration::from_secs(1);

/// Slow connections of each kind.
const PER_KIND: usize = 150;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slow {
    /// A first head that never ends.
    SilentHead,
    /// A second head on a keep-alive connection, one byte at a time.
    TricklingSecondHead,
    /// A body promised by `Content-Length` that never comes.
    StalledBody,
    /// A body sent one byte at a time.
    TricklingBody,
    /// A chunked body that stops inside its first chunk.
    StalledChunkedBody,
    /// A chunked body sent one byte at a time.
    TricklingChunkedBody,
}

struct SlowClient {
    kind: Slow,
    stream: TcpStream,
    opened: Instant,
    closed_after: Option<Duration>,
}

impl SlowClient {
    fn open(address: &str, kind: Slow) -> Self {
        let mut stream = TcpStream::connect(address).unwrap();
        if kind == Slow::TricklingSecondHead {
            stream
                .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut buf = [0_u8; 2048];
            let n = stream.read(&mut buf).unwrap();
            assert!(
                buf[..n].starts_with(b"HTTP/1.1 200"),
                "the first request is served"
            );
        }
        let opening: &[u8] = match kind {
            Slow::SilentHead => b"GET /api/health HTTP/1.1\r\nHost: x\r\n",
            Slow::TricklingSecondHead => b"GET /api/health HTTP/1.1\r\nx-drip: ",
            Slow::StalledBody => {
                b"POST /api/tasks HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"
            }
            Slow::TricklingBody => {
                b"POST /api/tasks HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 10000\r\n\r\n{\"title\":\""
            }
            Slow::StalledChunkedBody => {
                b"POST /api/tasks HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n64\r\n{"
            }
            Slow::TricklingChunkedBody => {
                b"POST /api/tasks HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n2710\r\n{\"title\":\""
            }
        };
        stream.write_all(opening).unwrap();
        stream.set_nonblocking(true).unwrap();
        Self {
            kind,
            stream,
            opened: Instant::now(),
            closed_after: None,
        }
    }

    /// Sends the next byte if this kind trickles, then notes whether the server has closed.
    fn tick(&mut self) {
        if self.closed_after.is_some() {
            return;
        }
        let trickles = matches!(
            self.kind,
            Slow::TricklingSecondHead | Slow::TricklingBody | Slow::TricklingChunkedBody
        );
        let mut closed = trickles && self.stream.write_all(b"a").is_err();
        let mut buf = [0_u8; 1024];
        loop {
            match self.stream.read(&mut buf) {
                // An answer (a 408) may come first; the connection must still close.
                Ok(n) if n > 0 => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // End of stream, or a reset.
                Ok(_) | Err(_) => closed = true,
            }
            if closed {
                break;
            }
        }
        if closed {
            self.closed_after = Some(self.opened.elapsed());
        }
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

#[tokio::test]
async fn slow_clients_of_every_kind_are_cut_by_the_deadline_while_normal_requests_are_served() {
    let app = RealBinary::spawn(
        "api-app",
        &[
            ("REQUEST_DEADLINE_SECS", "2"),
            ("RUST_LOG", "info"),
            ("MAX_CONNECTIONS", "2048"),
            ("WORKERS", "1"),
        ],
    );
    let pid = app.pid();
    let address = app.address.trim_start_matches("http://").to_owned();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    assert_eq!(
        client
            .get(format!("{}/api/health", app.address))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let rss_before = rss_kib(pid);

    let kinds = [
        Slow::SilentHead,
        Slow::TricklingSecondHead,
        Slow::StalledBody,
        Slow::TricklingBody,
        Slow::StalledChunkedBody,
        Slow::TricklingChunkedBody,
    ];
    let mut slow: Vec<SlowClient> = kinds
        .iter()
        .flat_map(|kind| (0..PER_KIND).map(move |_| *kind))
        .map(|kind| SlowClient::open(&address, kind))
        .collect();

    let mut rss_peak = rss_before;
    let mut served_meanwhile = 0;
    let give_up = Instant::now() + DEADLINE + CUT_GRACE + Duration::from_secs(4);
    while slow.iter().any(|c| c.closed_after.is_none()) && Instant::now() < give_up {
        for c in &mut slow {
            c.tick();
        }
        rss_peak = rss_peak.max(rss_kib(pid));
        let res = client
            .get(format!("{}/api/health", app.address))
            .send()
            .await
            .expect("a normal request is answered while slow clients are held");
        assert_eq!(res.status(), 200);
        served_meanwhile += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    for kind in kinds {
        let of_kind: Vec<&SlowClient> = slow.iter().filter(|c| c.kind == kind).collect();
        let open = of_kind.iter().filter(|c| c.closed_after.is_none()).count();
        assert_eq!(open, 0, "{kind:?}: {open} of {PER_KIND} still open");
        let longest = of_kind.iter().filter_map(|c| c.closed_after).max().unwrap();
        assert!(
            longest <= DEADLINE + CUT_GRACE + Duration::from_secs(2),
            "{kind:?}: held for {longest:?}"
        );
        // Trickling clients are not cut before the deadline (the first-head 408 may come at 2 s).
        let shortest = of_kind.iter().filter_map(|c| c.closed_after).min().unwrap();
        assert!(
            shortest + Duration::from_millis(300) >= DEADLINE,
            "{kind:?}: cut after {shortest:?}, before the deadline"
        );
    }
    assert!(served_meanwhile >= 5, "served {served_meanwhile}");
    eprintln!(
        "{} slow connections: RSS {rss_before} KiB -> peak {rss_peak} KiB; {served_meanwhile} normal requests served meanwhile",
        slow.len()
    );
    // 900 slow connections; each costs tens of KiB at most, so the pod's 128 Mi is never near.
    let grown_kib = rss_peak.saturating_sub(rss_before);
    assert!(
        grown_kib < 32 * 1024,
        "RSS grew by {grown_kib} KiB holding {} slow connections",
        slow.len()
    );

    let text = app.metrics().await;
    let cut = counter(&text, "http_protocol_errors_total{kind=\"deadline\"}");
    assert!(
        cut >= 2 * PER_KIND as u64,
        "trickling clients are counted as cut by the deadline: {cut}\n{text}"
    );
    let logs = app.stop();
    assert!(
        !logs.contains("\"level\":\"ERROR\""),
        "slow and malformed clients write no ERROR lines:\n{}",
        logs.lines()
            .filter(|l| l.contains("ERROR"))
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Opens `n` connections to `address` that each start a POST whose body never comes: busy, never
/// idle, so neither evicted nor cut before the request deadline.
pub(super) fn busy_connections(address: &str, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(address).unwrap();
            s.write_all(
                b"POST /api/tasks HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
            )
            .unwrap();
            s
        })
        .collect()
}

/// Whether the server has closed `s` (end of stream or reset), looking for up to `within`.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0_u8; 2048];
    matches!(s.read(&mut buf), Ok(0) | Err(_)) && {
        // A timeout is not a close.
        s.set_nonblocking(true).unwrap();
        !matches!(s.read(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock)
    }
}

#[tokio::test]
async fn at_max_connections_the_longest_idle_keep_alive_connection_makes_room() {
    let app = RealBinary::spawn(
        "api-app",
        &[
            ("MAX_CONNECTIONS", "16"),
            ("WORKERS", "1"),
            ("RUST_LOG", "info"),
        ],
    );
    let address = app.address.trim_start_matches("http://").to_owned();
    // Sixteen keep-alive connections, each served once and then idle, the first the longest.
    let mut held: Vec<TcpStream> = (0..16)
        .map(|_| {
            let mut s = TcpStream::connect(&address).unwrap();
            s.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0_u8; 2048];
            assert!(s.read(&mut buf).unwrap() > 0);
            std::thread::sleep(Duration::from_millis(20));
            s
        })
        .collect();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let url = format!("{}/api/health", app.address);
    let res = client.get(&url).send().await;
    assert_eq!(
        res.map(|r| r.status().as_u16()).ok(),
        Some(200),
        "the 17th connection is served within a second"
    );
    assert!(
        closed_within(&mut held[0], Duration::from_secs(2)),
        "the longest-idle connection was closed to make room"
    );
    for s in &mut held[1..] {
        assert!(
            !closed_within(s, Duration::from_millis(10)),
            "only one went"
        );
    }
    drop(held);
    app.stop();
}

#[tokio::test]
async fn at_max_connections_held_by_busy_clients_a_new_one_waits_for_a_slot() {
    let app = RealBinary::spawn(
        "api-app",
        &[
            ("MAX_CONNECTIONS", "16"),
            ("WORKERS", "1"),
            ("REQUEST_DEADLINE_SECS", "30"),
        ],
    );
    let address = app.address.trim_start_matches("http://").to_owned();
    // Sixteen connections in the middle of a request (a body still to come): not idle.
    let mut held = busy_connections(&address, 16);
    std::thread::sleep(Duration::from_millis(200));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(700))
        .build()
        .unwrap();
    let url = format!("{}/api/health", app.address);
    let waited = client.get(&url).send().await;
    assert!(
        waited.as_ref().is_err_and(reqwest::Error::is_timeout),
        "the 17th connection waits: {waited:?}"
    );
    held.pop();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    drop(held);
    app.stop();
}

/// A request answered before its body came (here the JSON 408 of a chunked upload that stalled)
/// does not keep its connection: the 408 says `connection: close`, the connection is cut soon
/// after, and its slot under the cap goes to the next client.
#[tokio::test]
async fn a_stalled_chunked_upload_gets_its_408_and_gives_up_its_slot() {
    let app = RealBinary::spawn(
        "api-app",
        &[
            ("MAX_CONNECTIONS", "16"),
            ("WORKERS", "1"),
            ("REQUEST_DEADLINE_SECS", "1"),
        ],
    );
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut held: Vec<TcpStream> = (0..16)
        .map(|_| {
            let mut s = TcpStream::connect(&address).unwrap();
            s.write_all(
                b"POST /api/tasks HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n64\r\n{",
            )
            .unwrap();
            s
        })
        .collect();
    for s in &mut held {
        let (answer, closed) = read_until_closed(s, Duration::from_secs(5));
        let answer = answer.to_ascii_lowercase();
        assert!(answer.starts_with("http/1.1 408"), "{answer}");
        assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
        assert!(answer.contains("connection: close"), "{answer}");
        assert!(
            closed,
            "the connection stayed open after its 408:\n{answer}"
        );
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let res = client
        .get(format!("{}/api/health", app.address))
        .send()
        .await;
    assert_eq!(
        res.map(|r| r.status().as_u16()).ok(),
        Some(200),
        "a new client gets a slot"
    );
    drop(held);
    app.stop();
}

/// Reads one response from `s`: its head, then as many body bytes as its `content-length` says.
fn read_response(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0_u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if got.len() >= end + 4 + length {
                return text;
            }
        }
        let n = s.read(&mut buf).expect("a response");
        assert!(n > 0, "closed before a whole response: {text}");
        got.extend_from_slice(&buf[..n]);
    }
}

/// A finished write leaves nothing behind on its connection: a later request there whose body
/// stalls is still answered 408 and cut, as on a connection that never wrote.
#[tokio::test]
async fn after_a_write_a_stalled_request_on_the_same_connection_is_still_cut() {
    let app = RealBinary::spawn("api-app", &[("REQUEST_DEADLINE_SECS", "1")]);
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&address).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        b"POST /api/tasks HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 14\r\n\r\n{\"title\":\"ok\"}",
    )
    .unwrap();
    let created = read_response(&mut s);
    assert!(created.starts_with("http/1.1 201"), "{created}");
    s.write_all(
        b"POST /api/tasks HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
    )
    .unwrap();
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut s, Duration::from_secs(5));
    let answer = answer.to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 408"), "{answer}");
    assert!(closed, "cut after its 408: {answer}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    app.stop();
}

#[tokio::test]
async fn malformed_and_oversized_requests_are_counted_and_not_logged_as_errors() {
    let app = RealBinary::spawn("api-app", &[("RUST_LOG", "info")]);
    let address = app.address.trim_start_matches("http://").to_owned();
    let send = |request: Vec<u8>| {
        let mut s = TcpStream::connect(&address).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(7))).unwrap();
        let _ = s.write_all(&request);
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    };
    for _ in 0..3 {
        let answer = send(b"GET /api/health HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n".to_vec());
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    }
    let mut huge = b"GET /api/health HTTP/1.1\r\nHost: x\r\nx-pad: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 200 * 1024));
    huge.extend_from_slice(b"\r\n\r\n");
    let answer = send(huge);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    // A first head that never ends: actix's own 408 after its head deadline.
    let answer = send(b"GET /api/health HTTP/1.1\r\n".to_vec());
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );

    let _client = reqwest::Client::new();
    let text = app.metrics().await;
    assert!(
        counter(&text, "http_protocol_errors_total{kind=\"malformed\"}") >= 3,
        "{text}"
    );
    assert!(
        counter(&text, "http_protocol_errors_total{kind=\"head_too_large\"}") >= 1,
        "{text}"
    );
    assert!(
        counter(&text, "http_protocol_errors_total{kind=\"head_timeout\"}") >= 1,
        "{text}"
    );
    let logs = app.stop();
    assert!(
        !logs.contains("\"level\":\"ERROR\""),
        "no ERROR line for a malformed request:\n{logs}"
    );
}

#[test]
fn an_idle_keep_alive_connection_outlives_the_request_deadline() {
    let app = RealBinary::spawn("api-app", &[("REQUEST_DEADLINE_SECS", "1")]);
    let mut stream = TcpStream::connect(app.address.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut ask = || {
        stream
            .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut buf = [0_u8; 4096];
        let n = stream.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let first = ask();
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    // Idle past the deadline and its grace: the clock runs only while a request is arriving.
    std::thread::sleep(Duration::from_secs(1) + CUT_GRACE + Duration::from_secs(1));
    let second = ask();
    assert!(
        second.starts_with("HTTP/1.1 200"),
        "the same connection serves the next request: {second:?}"
    );
}
