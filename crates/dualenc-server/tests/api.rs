//! The HTTP API against a real server on 127.0.0.1 (ephemeral port), with the bag-of-words
//! test double as the backend.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::{raw_request, BagOfWords, Broken, Slow, TestServer, VIDEOS};
use dualenc_server::{BatchResponse, ErrorBody, InfoResponse, SearchResponse, ServerConfig};
use reqwest::StatusCode;

/// GETs `path` and returns the status and the parsed JSON error body, checking the content type.
async fn get_error(server: &TestServer, path: &str) -> (StatusCode, ErrorBody) {
    let response = reqwest::get(server.url(path)).await.expect("request");
    let status = response.status();
    let content_type = response.headers().get("content-type").cloned();
    assert_eq!(
        content_type.as_ref().and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "{path}"
    );
    (status, response.json().await.expect("JSON error body"))
}

async fn post(server: &TestServer, body: impl Into<reqwest::Body>) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/api/search"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_info() {
    let server = TestServer::toy().await;
    let health: serde_json::Value = reqwest::get(server.url("/health"))
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health, serde_json::json!({"status": "ok"}));

    let info: InfoResponse = reqwest::get(server.url("/api/info"))
        .await
        .expect("info")
        .json()
        .await
        .expect("json");
    assert_eq!(info.backend.videos, VIDEOS.len());
    assert_eq!(info.backend.collection, "toy");
    assert_eq!(info.limits.max_k, 1000);
    assert_eq!(info.limits.max_query_chars, 1000);
    assert_eq!(info.thumbnails, 0);
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_search_ranks_and_reports_unknown_words() {
    let server = TestServer::toy().await;
    let answer: SearchResponse =
        reqwest::get(server.url("/api/search?q=a+dog+runs+on+the+zebra+beach&k=3"))
            .await
            .expect("search")
            .json()
            .await
            .expect("json");
    assert_eq!(answer.query, "a dog runs on the zebra beach");
    assert_eq!(answer.k, 3);
    assert_eq!(answer.unknown_words, vec!["zebra".to_owned()]);
    assert_eq!(answer.results.len(), 3);
    assert_eq!(answer.results[0].id, "video0");
    let ranks: Vec<usize> = answer.results.iter().map(|r| r.rank).collect();
    assert_eq!(ranks, vec![1, 2, 3]);
    assert!(
        answer.results.windows(2).all(|w| w[0].score >= w[1].score),
        "{:?}",
        answer.results
    );
    assert!(
        answer.took_ms.is_finite() && answer.took_ms >= 0.0,
        "took_ms {}",
        answer.took_ms
    );
    assert!(answer.results.iter().all(|r| r.thumbnail.is_none()));

    // Percent-encoded UTF-8 is decoded; the default k is 10 (all 8 videos here).
    let answer: SearchResponse =
        reqwest::get(server.url("/api/search?q=caf%C3%A9%20on%20a%20stage"))
            .await
            .expect("search")
            .json()
            .await
            .expect("json");
    assert_eq!(answer.query, "café on a stage");
    assert_eq!(answer.unknown_words, vec!["caf".to_owned()]);
    assert_eq!(answer.results.len(), VIDEOS.len());
    assert!(["video1", "video5"].contains(&answer.results[0].id.as_str()));
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_limits_give_400_json_errors() {
    let server = TestServer::toy().await;
    let long = "dog ".repeat(250) + "x"; // 1,001 characters
    let cases = [
        ("/api/search", "missing_query"),
        ("/api/search?q=", "empty_query"),
        ("/api/search?q=%20%20", "empty_query"),
        (
            &format!("/api/search?q={}", long.replace(' ', "+")) as &str,
            "query_too_long",
        ),
        ("/api/search?q=dog&k=1001", "k_too_large"),
        ("/api/search?q=dog&k=0", "invalid_k"),
        ("/api/search?q=dog&k=many", "invalid_k"),
        ("/api/search?q=%FF%FEdog", "invalid_utf8"),
        ("/api/search?q=dog&k=%FF", "invalid_utf8"),
        ("/api/search?q=dog&lang=en", "unknown_parameter"),
        ("/api/search?q=dog&q=cat", "duplicate_parameter"),
    ];
    for (path, code) in cases {
        let (status, body) = get_error(&server, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(body.code, code, "{path}: {}", body.error);
        assert!(!body.error.is_empty());
    }
    // At the limits exactly: 1,000 characters and k = 1,000 are accepted.
    let at_limit = "dog ".repeat(250);
    let answer: SearchResponse = reqwest::get(server.url(&format!(
        "/api/search?q={}&k=1000",
        at_limit.replace(' ', "+")
    )))
    .await
    .expect("search")
    .json()
    .await
    .expect("accepted");
    assert_eq!(answer.results.len(), VIDEOS.len());
    assert_eq!(answer.results[0].id, "video0");
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_queries_give_422_and_backend_failures_500() {
    let server = TestServer::toy().await;
    let (status, body) = get_error(&server, "/api/search?q=zebra+giraffe+zebra").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body.code, "all_words_unknown");
    assert_eq!(
        body.unknown_words,
        Some(vec!["zebra".to_owned(), "giraffe".to_owned()])
    );
    let (status, body) = get_error(&server, "/api/search?q=%21%21%3F").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body.code, "no_words");
    server.stop().await.expect("clean stop");

    let broken = TestServer::start(Arc::new(Broken), ServerConfig::default()).await;
    let (status, body) = get_error(&broken, "/api/search?q=dog").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body.code, "backend_error");
    assert!(body.error.contains("vanished"), "{}", body.error);
    broken.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_non_utf8_and_unknown_routes() {
    let server = TestServer::toy().await;
    // Bytes that are not UTF-8 sent unencoded in the request line: refused by the HTTP layer.
    let (status, _) = raw_request(
        server.addr,
        b"GET /api/search?q=\xFF\xFE HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 400);
    // Percent-encoded, they reach the service and get its JSON error.
    let (status, body) = raw_request(
        server.addr,
        b"GET /api/search?q=d%E9j%E0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 400);
    let body: ErrorBody = serde_json::from_str(&body).expect("JSON error");
    assert_eq!(body.code, "invalid_utf8");

    let (status, body) = get_error(&server, "/no/such/page").await;
    assert_eq!(
        (status, body.code.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let response = reqwest::Client::new()
        .delete(server.url("/api/search"))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: ErrorBody = response.json().await.expect("JSON error");
    assert_eq!(body.code, "method_not_allowed");
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_batch_answers_each_query_in_order() {
    let server = TestServer::toy().await;
    let body = serde_json::json!({"queries": ["a robot opens a door", "zebra", "children in a pool"], "k": 2});
    let response = post(&server, body.to_string()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let batch: BatchResponse = response.json().await.expect("json");
    assert_eq!(batch.k, 2);
    assert_eq!(batch.responses.len(), 3);
    assert_eq!(batch.responses[0].query, "a robot opens a door");
    assert_eq!(batch.responses[0].results[0].id, "video7");
    assert_eq!(batch.responses[0].results.len(), 2);
    let failed = &batch.responses[1];
    assert_eq!(
        failed.error.as_ref().map(|e| e.code.as_str()),
        Some("all_words_unknown")
    );
    assert_eq!(failed.unknown_words, vec!["zebra".to_owned()]);
    assert!(failed.results.is_empty());
    assert_eq!(batch.responses[2].results[0].id, "video6");
    assert!(batch.responses[2].error.is_none());

    // Default k.
    let batch: BatchResponse = post(&server, r#"{"queries": ["a cat"]}"#)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(batch.k, 10);
    assert_eq!(batch.responses[0].results[0].id, "video4");
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_batch_refuses_bad_requests_whole() {
    let server = TestServer::toy().await;
    let too_many = serde_json::json!({"queries": vec!["dog"; 101]}).to_string();
    let too_long = serde_json::json!({"queries": ["dog", "a".repeat(1001)]}).to_string();
    let cases: Vec<(Vec<u8>, StatusCode, &str)> = vec![
        (
            b"not json".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            br#"{"queries": "dog"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            br#"{"queries": ["dog"], "n": 3}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            b"{\"queries\": [\"d\xFFg\"]}".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            br#"{"queries": []}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "empty_batch",
        ),
        (
            too_many.into_bytes(),
            StatusCode::BAD_REQUEST,
            "batch_too_large",
        ),
        (
            too_long.into_bytes(),
            StatusCode::BAD_REQUEST,
            "query_too_long",
        ),
        (
            br#"{"queries": ["dog", " "]}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "empty_query",
        ),
        (
            br#"{"queries": ["dog"], "k": 1001}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "k_too_large",
        ),
        (
            br#"{"queries": ["dog"], "k": 0}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_k",
        ),
    ];
    for (body, status, code) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned();
        let response = post(&server, body).await;
        assert_eq!(response.status(), status, "{shown}");
        let error: ErrorBody = response.json().await.expect("JSON error");
        assert_eq!(error.code, code, "{shown}: {}", error.error);
    }
    // A body over the limit is refused from its declared length, before it is read. Sent
    // over a raw socket: the server answers and closes at once, and a client still writing
    // the megabyte would see a broken pipe instead of the answer.
    let oversized = format!(
        "POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        (1 << 20) + 1
    );
    let (status, body) = raw_request(server.addr, oversized.as_bytes()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE.as_u16());
    let error: ErrorBody = serde_json::from_str(&body).expect("JSON error");
    assert_eq!(error.code, "body_too_large", "{}", error.error);
    let error: ErrorBody = post(
        &server,
        serde_json::json!({"queries": ["dog", ""]}).to_string(),
    )
    .await
    .json()
    .await
    .expect("JSON error");
    assert!(error.error.starts_with("queries[1]: "), "{}", error.error);
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thumbnails_are_served_and_traversal_refused() {
    let root = tempfile::tempdir().expect("temp dir");
    let thumbs = root.path().join("thumbs");
    std::fs::create_dir(&thumbs).expect("mkdir");
    let jpeg = b"\xFF\xD8\xFF\xE0 not really a jpeg \xFF\xD9".to_vec();
    std::fs::write(thumbs.join("video0.jpg"), &jpeg).expect("write");
    std::fs::write(root.path().join("secret.jpg"), b"secret").expect("write");
    let config = ServerConfig {
        thumbnails: Some(thumbs),
        ..ServerConfig::default()
    };
    let server = TestServer::start(Arc::new(BagOfWords::new()), config).await;

    let answer: SearchResponse = reqwest::get(server.url("/api/search?q=dog+beach&k=2"))
        .await
        .expect("search")
        .json()
        .await
        .expect("json");
    assert_eq!(
        answer.results[0].thumbnail.as_deref(),
        Some("/thumbnails/video0.jpg")
    );
    assert_eq!(answer.results[1].thumbnail, None);

    let response = reqwest::get(server.url("/thumbnails/video0.jpg"))
        .await
        .expect("thumbnail");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    assert_eq!(response.bytes().await.expect("bytes").to_vec(), jpeg);

    for path in [
        "/thumbnails/..%2Fsecret.jpg",
        "/thumbnails/%2E%2E%2Fsecret.jpg",
        "/thumbnails/..%5Csecret.jpg",
    ] {
        let (status, body) = get_error(&server, path).await;
        assert_eq!(
            (status, body.code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_thumbnail_name"),
            "{path}"
        );
    }
    let (status, _) = get_error(&server, "/thumbnails/video1.jpg").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Dot segments sent as is (a client would normalise them away) match no route.
    let (status, body) = raw_request(
        server.addr,
        b"GET /thumbnails/../secret.jpg HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 404);
    let body: ErrorBody = serde_json::from_str(&body).expect("JSON error, not the file");
    assert_eq!(body.code, "not_found");
    let (status, _) = raw_request(
        server.addr,
        b"GET /thumbnails/%2e%2e/secret.jpg HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 404);
    server.stop().await.expect("clean stop");

    // Without a thumbnail directory there are no thumbnails at all.
    let plain = TestServer::toy().await;
    let (status, _) = get_error(&plain, "/thumbnails/video0.jpg").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    plain.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_page_loads_only_its_own_files() {
    let server = TestServer::toy().await;
    let response = reqwest::get(server.url("/")).await.expect("page");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/html"));
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = response.text().await.expect("text");
    assert!(html.contains(r#"<input id="q""#));
    assert!(html.contains(r#"<label class="main" for="q">"#));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page loads nothing from elsewhere"
    );
    assert_eq!(html.matches("<link").count(), 1, "one stylesheet");
    assert!(html.contains(r#"<link rel="stylesheet" href="/app.css">"#));
    assert_eq!(html.matches("<script").count(), 1, "one script");
    assert!(html.contains(r#"<script src="/app.js"></script>"#));
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_beyond_the_limit_wait_their_turn() {
    let backend = Arc::new(Slow::new(BagOfWords::new(), Duration::from_millis(100)));
    let config = ServerConfig {
        max_concurrent_searches: 2,
        ..ServerConfig::default()
    };
    let server = TestServer::start(backend.clone(), config).await;
    let client = reqwest::Client::new();
    let requests = (0..8).map(|_| client.get(server.url("/api/search?q=dog")).send());
    for response in futures_join_all(requests).await {
        assert_eq!(response.expect("request").status(), StatusCode::OK);
    }
    assert_eq!(
        backend.peak.load(Ordering::SeqCst),
        2,
        "two searches at a time, not more, not fewer"
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_requests_in_flight() {
    let backend = Arc::new(Slow::new(BagOfWords::new(), Duration::from_millis(500)));
    let server = TestServer::start(backend, ServerConfig::default()).await;
    let url = server.url("/api/search?q=a+cat");
    let addr = server.addr;
    let in_flight = tokio::spawn(async move { reqwest::get(url).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    server.stop().await.expect("clean stop");
    let response = in_flight
        .await
        .expect("task")
        .expect("the request in flight is answered");
    assert_eq!(response.status(), StatusCode::OK);
    let answer: SearchResponse = response.json().await.expect("json");
    assert_eq!(answer.results[0].id, "video4");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

/// Awaits all futures concurrently (a tiny stand-in for `futures::future::join_all`).
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for handle in handles {
        outputs.push(handle.await.expect("task"));
    }
    outputs
}
