//! Hostile clients against a real server on 127.0.0.1: slow and stalled connections, shutdown
//! while such clients hold connections, the connection limit, links and special files among
//! the thumbnails, security headers, and filesystem paths in answers.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{BagOfWords, TestServer};
use dualenc_server::{
    BackendInfo, ErrorBody, Hit, InfoResponse, SearchBackend, SearchError, SearchOutcome,
    SearchResponse, ServerConfig, Timeouts,
};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A limit far beyond any test's length: the timeouts a test does not exercise.
const LONG: Duration = Duration::from_secs(60);
/// The short timeout a test exercises.
const SHORT: Duration = Duration::from_millis(300);
/// Slack for a loaded machine.
const MARGIN: Duration = Duration::from_secs(3);
/// A complete request that keeps the connection open.
const KEEP_ALIVE: &[u8] = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
/// A complete request after which the server closes the connection.
const CLOSE: &[u8] = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// Every timeout [`LONG`]; tests shorten the one they exercise.
fn long_timeouts() -> Timeouts {
    Timeouts {
        header_read: LONG,
        body_read: LONG,
        idle: LONG,
        send: LONG,
        shutdown_grace: LONG,
    }
}

/// The bag-of-words server with these timeouts.
async fn start(timeouts: Timeouts) -> TestServer {
    let config = ServerConfig {
        timeouts,
        ..ServerConfig::default()
    };
    TestServer::start(Arc::new(BagOfWords::new()), config).await
}

/// Opens a connection to the server and sends `bytes` on it.
async fn send(server: &TestServer, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(bytes).await.expect("send");
    stream
}

/// Reads until the server closes the connection, failing the test if that takes more than
/// `limit`; returns what was read and the time since `since`.
async fn until_closed(
    stream: &mut TcpStream,
    since: Instant,
    limit: Duration,
) -> (Vec<u8>, Duration) {
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(limit, async {
        let mut buffer = vec![0u8; 1 << 16];
        while let Ok(n @ 1..) = stream.read(&mut buffer).await {
            answer.extend_from_slice(&buffer[..n]);
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server kept the connection open for {limit:?}"
    );
    (answer, since.elapsed())
}

/// Reads one whole response (header and `Content-Length` body) from a kept-alive connection.
async fn one_response(stream: &mut TcpStream) -> Vec<u8> {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    tokio::time::timeout(MARGIN, async {
        while !complete(&answer) {
            let n = stream.read(&mut buffer).await.expect("read");
            assert!(n > 0, "closed before the answer was complete");
            answer.extend_from_slice(&buffer[..n]);
        }
    })
    .await
    .expect("an answer in time");
    answer
}

/// Whether `answer` holds a header and as many body bytes as its `Content-Length` says.
fn complete(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|value| value.parse::<usize>().ok())
        .expect("content-length");
    body.len() >= length
}

/// The status code of a raw answer.
fn status(answer: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_header_is_cut_off_after_the_header_timeout() {
    let server = start(Timeouts {
        header_read: SHORT,
        ..long_timeouts()
    })
    .await;
    let sent = Instant::now();
    let mut stream = send(&server, b"GET /health HTTP/1.1\r\nHost: x\r\n").await;
    let (_, elapsed) = until_closed(&mut stream, sent, MARGIN).await;
    assert!(elapsed >= SHORT - Duration::from_millis(50), "{elapsed:?}");
    // The service still answers others.
    let mut other = send(&server, CLOSE).await;
    let (answer, _) = until_closed(&mut other, Instant::now(), MARGIN).await;
    assert_eq!(status(&answer), 200);
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let server = start(Timeouts {
        idle: SHORT,
        ..long_timeouts()
    })
    .await;
    // A connection on which nothing is ever sent.
    let opened = Instant::now();
    let mut silent = send(&server, b"").await;
    let (answer, elapsed) = until_closed(&mut silent, opened, MARGIN).await;
    assert!(answer.is_empty());
    assert!(elapsed >= SHORT - Duration::from_millis(50), "{elapsed:?}");
    // A kept-alive connection after its answer.
    let mut kept = send(&server, KEEP_ALIVE).await;
    assert_eq!(status(&one_response(&mut kept).await), 200);
    let answered = Instant::now();
    let (_, elapsed) = until_closed(&mut kept, answered, MARGIN).await;
    // The server's wait began a little before the answer reached this client.
    assert!(elapsed >= SHORT / 2, "{elapsed:?}");
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_header_timeouts_are_counted_separately() {
    // A header that takes longer than the idle timeout is still read...
    let server = start(Timeouts {
        idle: SHORT,
        ..long_timeouts()
    })
    .await;
    let mut slow = send(&server, b"GET /health HTTP/1.1\r\n").await;
    tokio::time::sleep(SHORT * 3).await;
    slow.write_all(b"Host: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("send the rest");
    let (answer, _) = until_closed(&mut slow, Instant::now(), MARGIN).await;
    assert_eq!(status(&answer), 200);
    server.stop().await.expect("clean stop");

    // ...and a wait longer than the header timeout before the first byte is allowed.
    let server = start(Timeouts {
        header_read: SHORT,
        ..long_timeouts()
    })
    .await;
    let mut late = send(&server, b"").await;
    tokio::time::sleep(SHORT * 3).await;
    late.write_all(CLOSE).await.expect("send");
    let (answer, _) = until_closed(&mut late, Instant::now(), MARGIN).await;
    assert_eq!(status(&answer), 200);
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_body_gets_408_after_the_body_timeout() {
    let server = start(Timeouts {
        body_read: SHORT,
        ..long_timeouts()
    })
    .await;
    let sent = Instant::now();
    let mut stream = send(
        &server,
        b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"queries\"",
    )
    .await;
    let (answer, elapsed) = until_closed(&mut stream, sent, MARGIN).await;
    assert!(elapsed >= SHORT - Duration::from_millis(50), "{elapsed:?}");
    assert_eq!(status(&answer), 408);
    let text = String::from_utf8_lossy(&answer);
    let body = text.split_once("\r\n\r\n").expect("body").1;
    let error: ErrorBody = serde_json::from_str(body).expect("JSON error");
    assert_eq!(error.code, "body_timeout");
    server.stop().await.expect("clean stop");
}

/// A backend whose every answer is huge: `k` hits with 20,000-character ids.
struct Wide;

impl SearchBackend for Wide {
    fn search(&self, _query: &str, k: usize) -> Result<SearchOutcome, SearchError> {
        let hits = (0..k).map(|row| (row, format!("{row:05}{}", "x".repeat(20_000)), 1.0));
        Ok(SearchOutcome {
            unknown_words: Vec::new(),
            results: Hit::ranked(hits),
        })
    }

    fn describe(&self) -> BackendInfo {
        BackendInfo::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_off_after_the_send_timeout() {
    let config = ServerConfig {
        timeouts: Timeouts {
            send: SHORT,
            ..long_timeouts()
        },
        ..ServerConfig::default()
    };
    let server = TestServer::start(Arc::new(Wide), config).await;
    // A small receive buffer, so that the 20 MB answer cannot be absorbed by the sockets.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut stream = socket.connect(server.addr).await.expect("connect");
    stream
        .write_all(b"GET /api/search?q=dog&k=1000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    tokio::time::sleep(SHORT * 5).await;
    let (answer, _) = until_closed(&mut stream, Instant::now(), Duration::from_secs(30)).await;
    assert_eq!(status(&answer), 200);
    assert!(
        answer.len() < 20_000_000,
        "the whole answer ({} bytes) was sent to a client that had stopped reading",
        answer.len()
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_within_the_grace_period_despite_stalled_clients() {
    let grace = Duration::from_millis(500);
    let server = start(Timeouts {
        shutdown_grace: grace,
        ..long_timeouts()
    })
    .await;
    let mut stalled = vec![
        send(&server, b"").await,
        send(&server, b"GET /health HTTP/1.1\r\nHost: x\r\n").await,
        send(
            &server,
            b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
        )
        .await,
    ];
    let mut kept = send(&server, KEEP_ALIVE).await;
    assert_eq!(status(&one_response(&mut kept).await), 200);
    stalled.push(kept);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let signalled = Instant::now();
    server.stop().await.expect("clean stop");
    let took = signalled.elapsed();
    assert!(took < grace + MARGIN, "shutdown took {took:?}");
    for stream in &mut stalled {
        until_closed(stream, signalled, MARGIN).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let config = ServerConfig {
        max_connections: 1,
        timeouts: long_timeouts(),
        ..ServerConfig::default()
    };
    let server = TestServer::start(Arc::new(BagOfWords::new()), config).await;
    let mut first = send(&server, KEEP_ALIVE).await;
    assert_eq!(status(&one_response(&mut first).await), 200);

    let mut second = send(&server, CLOSE).await;
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), second.read(&mut byte)).await;
    assert!(early.is_err(), "answered beyond the connection limit");
    drop(first);
    let (answer, _) = until_closed(&mut second, Instant::now(), MARGIN).await;
    assert_eq!(status(&answer), 200);
    server.stop().await.expect("clean stop");
}

/// Makes a named pipe (FIFO) at `path`.
fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Opens the pipe for writing in a detached thread, so that a reader that opened it (as the
/// server did before the fix) gets end-of-file instead of hanging the test.
fn unblock_readers(path: &Path) {
    let path = path.to_path_buf();
    std::thread::spawn(move || drop(std::fs::OpenOptions::new().write(true).open(path)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thumbnails_that_are_links_or_special_files_are_refused() {
    let root = tempfile::tempdir().expect("temp dir");
    let thumbs = root.path().join("thumbs");
    std::fs::create_dir(&thumbs).expect("mkdir");
    let jpeg = b"\xFF\xD8\xFF\xE0 jpeg \xFF\xD9";
    for id in ["video0", "video4", "video5"] {
        std::fs::write(thumbs.join(format!("{id}.jpg")), jpeg).expect("write");
    }
    std::fs::write(root.path().join("secret.jpg"), b"secret").expect("write");
    std::os::unix::fs::symlink("/etc/passwd", thumbs.join("video1.jpg")).expect("link");
    std::os::unix::fs::symlink(thumbs.join("video0.jpg"), thumbs.join("video2.jpg")).expect("link");
    std::os::unix::fs::symlink("../secret.jpg", thumbs.join("video6.jpg")).expect("link");
    mkfifo(&thumbs.join("video3.jpg"));
    unblock_readers(&thumbs.join("video3.jpg"));
    let config = ServerConfig {
        thumbnails: Some(thumbs.clone()),
        ..ServerConfig::default()
    };
    let server = TestServer::start(Arc::new(BagOfWords::new()), config).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let get = |path: &str| client.get(server.url(path)).send();

    let answer: SearchResponse = get("/api/search?q=a&k=8")
        .await
        .expect("search")
        .json()
        .await
        .expect("json");
    let mut with_thumbnail: Vec<&str> = answer
        .results
        .iter()
        .filter(|item| item.thumbnail.is_some())
        .map(|item| item.id.as_str())
        .collect();
    with_thumbnail.sort_unstable();
    assert_eq!(with_thumbnail, ["video0", "video4", "video5"]);
    for id in ["video1", "video2", "video3", "video6"] {
        let response = get(&format!("/thumbnails/{id}.jpg")).await.expect(id);
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
    }

    // Listed at start-up, then replaced by a link and by a pipe: refused as well.
    std::fs::remove_file(thumbs.join("video4.jpg")).expect("remove");
    std::os::unix::fs::symlink("/etc/passwd", thumbs.join("video4.jpg")).expect("link");
    std::fs::remove_file(thumbs.join("video5.jpg")).expect("remove");
    mkfifo(&thumbs.join("video5.jpg"));
    unblock_readers(&thumbs.join("video5.jpg"));
    for id in ["video4", "video5"] {
        let response = get(&format!("/thumbnails/{id}.jpg")).await.expect(id);
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
        let error: ErrorBody = response.json().await.expect("JSON error");
        assert_eq!(error.code, "not_found");
    }
    let response = get("/thumbnails/video0.jpg").await.expect("video0");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), jpeg);
    server.stop().await.expect("clean stop");
}

/// A backend that fails every search and whose description is full of absolute paths, as a
/// model-backed one's is.
struct Leaky;

impl SearchBackend for Leaky {
    fn search(&self, _query: &str, _k: usize) -> Result<SearchOutcome, SearchError> {
        Err(SearchError::Backend(
            "cannot read /srv/indexes/msrvtt/embeddings.f32: No such file".to_owned(),
        ))
    }

    fn describe(&self) -> BackendInfo {
        BackendInfo {
            model: "/home/alice/VisualSearch/msrvtt10ktrain/runs_0".to_owned(),
            collection: "msrvtt10ktest".to_owned(),
            videos: 2990,
            dim: 2048,
            details: BTreeMap::from([
                ("index".to_owned(), "/srv/indexes/msrvtt/".to_owned()),
                (
                    "cache".to_owned(),
                    "kept in /var/cache/dualenc for now".to_owned(),
                ),
                ("copy".to_owned(), r"C:\Users\alice\idx".to_owned()),
                ("search".to_owned(), "approximate (HNSW)".to_owned()),
                ("ratio".to_owned(), "1/2 of the rows".to_owned()),
            ]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_show_no_filesystem_paths() {
    let server = TestServer::start(Arc::new(Leaky), ServerConfig::default()).await;
    let text = reqwest::get(server.url("/api/info"))
        .await
        .expect("info")
        .text()
        .await
        .expect("text");
    for secret in ["/home", "alice", "/srv", "/var", "Users"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let info: InfoResponse = serde_json::from_str(&text).expect("json");
    let backend = info.backend;
    assert_eq!(backend.model, "runs_0");
    assert_eq!(backend.collection, "msrvtt10ktest");
    assert_eq!(backend.details["index"], "msrvtt");
    assert_eq!(backend.details["cache"], "kept in dualenc for now");
    assert_eq!(backend.details["copy"], "idx");
    assert_eq!(backend.details["search"], "approximate (HNSW)");
    assert_eq!(backend.details["ratio"], "1/2 of the rows");

    let response = reqwest::get(server.url("/api/search?q=dog"))
        .await
        .expect("search");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let error: ErrorBody = response.json().await.expect("JSON error");
    assert_eq!(error.code, "backend_error");
    assert!(!error.error.contains("/srv"), "{}", error.error);
    assert!(error.error.contains("embeddings.f32"), "{}", error.error);
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_policy_forbids_inline_code() {
    let server = TestServer::toy().await;
    let response = reqwest::get(server.url("/")).await.expect("page");
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let html = response.text().await.expect("text");
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find_map(|d| d.strip_prefix(name).map(str::to_owned))
            .unwrap_or_else(|| panic!("no {name} in {csp}"))
    };
    let scripts = directive("script-src ");
    assert_eq!(scripts.trim(), "'self'", "{csp}");
    assert!(!directive("style-src ").contains("unsafe"), "{csp}");
    assert!(directive("default-src ").contains("'none'"), "{csp}");
    assert!(directive("frame-ancestors ").contains("'none'"), "{csp}");

    // Every script is an empty element that loads a same-origin file; no inline handlers.
    let tags: Vec<&str> = html.split("<script").skip(1).collect();
    assert!(!tags.is_empty(), "the page has a script");
    for tag in tags {
        let (attributes, rest) = tag.split_once('>').expect("tag end");
        assert!(attributes.contains(r#"src="/"#), "<script{attributes}>");
        assert!(rest.starts_with("</script>"), "inline code: {rest:.60}");
    }
    assert!(!html.contains("<style"), "inline style element");
    assert!(!html.contains(" onclick=") && !html.contains(" onload="));

    for (path, kind) in [("/app.js", "text/javascript"), ("/app.css", "text/css")] {
        let response = reqwest::get(server.url(path)).await.expect(path);
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let content_type = response.headers()["content-type"].to_str().expect("ascii");
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
    }
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_answer_says_nosniff() {
    let root = tempfile::tempdir().expect("temp dir");
    std::fs::write(root.path().join("video0.jpg"), b"\xFF\xD8jpeg").expect("write");
    let config = ServerConfig {
        thumbnails: Some(root.path().to_path_buf()),
        ..ServerConfig::default()
    };
    let server = TestServer::start(Arc::new(BagOfWords::new()), config).await;
    let broken = TestServer::start(Arc::new(Leaky), ServerConfig::default()).await;
    let client = reqwest::Client::new();
    let batch = r#"{"queries": ["a dog"], "k": 2}"#.to_owned();
    let requests = [
        (client.get(server.url("/health")), 200),
        (client.get(server.url("/api/info")), 200),
        (client.get(server.url("/api/search?q=dog")), 200),
        (client.get(server.url("/api/search?q=")), 400),
        (client.get(server.url("/api/search?q=zebra")), 422),
        (client.get(broken.url("/api/search?q=dog")), 500),
        (client.post(server.url("/api/search")).body(batch), 200),
        (client.get(server.url("/thumbnails/video0.jpg")), 200),
        (client.get(server.url("/thumbnails/video9.jpg")), 404),
        (client.get(server.url("/thumbnails/..%2Fx.jpg")), 400),
        (client.get(server.url("/no/such/page")), 404),
        (client.delete(server.url("/api/search")), 405),
        (client.get(server.url("/")), 200),
        (client.get(server.url("/app.js")), 200),
        (client.get(server.url("/app.css")), 200),
    ];
    for (request, expected) in requests {
        let response = request.send().await.expect("request");
        let url = response.url().to_string();
        assert_eq!(response.status().as_u16(), expected, "{url}");
        assert_eq!(
            response
                .headers()
                .get("x-content-type-options")
                .map(|v| v.to_str().expect("ascii")),
            Some("nosniff"),
            "{url}"
        );
    }
    server.stop().await.expect("clean stop");
    broken.stop().await.expect("clean stop");
}

/// Too many headers (hyper: 431), a query too long (400), JSON nested past serde_json's depth
/// limit (400, no stack overflow) and a body declared over the size limit: 413 at once (it
/// used to wait for the body, forever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_malformed_requests_are_refused_at_once() {
    let server = start(long_timeouts()).await;
    let many_headers = (0..200)
        .map(|i| format!("X-{i}: y\r\n"))
        .collect::<String>();
    let nested = format!(
        r#"{{"queries": {}"dog"{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let long_query = format!("/api/search?q={}", "%C3%A9".repeat(10_000));
    let cases: Vec<(String, u16)> = vec![
        (format!("GET /health HTTP/1.1\r\nHost: x\r\n{many_headers}Connection: close\r\n\r\n"), 431),
        (format!("GET {long_query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 400),
        (
            format!(
                "POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{nested}",
                nested.len()
            ),
            400,
        ),
        (
            "POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\nConnection: close\r\n\r\n"
                .to_owned(),
            413,
        ),
    ];
    for (request, expected) in cases {
        let mut stream = send(&server, request.as_bytes()).await;
        let (answer, _) = until_closed(&mut stream, Instant::now(), MARGIN).await;
        assert_eq!(status(&answer), expected, "{:.60}", request);
        if expected == 413 {
            // Answered before the body arrives, with the same headers as every answer (the
            // nosniff test cannot send this one: the server closes while reqwest still writes).
            let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
            assert!(
                answer.contains("x-content-type-options: nosniff"),
                "{answer}"
            );
        }
    }
    let mut stream = send(&server, CLOSE).await;
    let (answer, _) = until_closed(&mut stream, Instant::now(), MARGIN).await;
    assert_eq!(status(&answer), 200, "the service still answers");
    server.stop().await.expect("clean stop");
}
