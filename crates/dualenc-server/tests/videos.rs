//! Video files and captions against a real server on 127.0.0.1: `GET /videos/ID.EXT` with
//! and without HTTP range requests (206 with the exact bytes, 416, 200), files outside the
//! collection, traversal, links and pipes refused, the `video` and `caption` of each hit in
//! the JSON, and the page's player (its script, the CSP, and Chromium clicking "Play").

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use common::{raw_request, BagOfWords, TestServer, VIDEOS};
use dualenc_server::{
    BackendInfo, InfoResponse, SearchBackend, SearchError, SearchOutcome, SearchResponse,
    ServerConfig,
};
use dualenc_testkit::chromium::{self, Cdp};
use reqwest::StatusCode;
use serde_json::json;

/// Length of the test video file `video0.mp4`.
const LEN: usize = 1000;

/// The bag-of-words backend with captions (each video's description) and the toy collection
/// as its videos.
struct Captioned(BagOfWords);

impl SearchBackend for Captioned {
    fn search(&self, query: &str, k: usize) -> Result<SearchOutcome, SearchError> {
        let mut outcome = self.0.search(query, k)?;
        for hit in &mut outcome.results {
            hit.caption = VIDEOS
                .iter()
                .find(|(id, _)| *id == hit.id)
                .map(|(_, text)| text.to_string());
        }
        Ok(outcome)
    }

    fn describe(&self) -> BackendInfo {
        BackendInfo {
            details: BTreeMap::new(),
            ..self.0.describe()
        }
    }

    fn has_video(&self, id: &str) -> bool {
        VIDEOS.iter().any(|(known, _)| *known == id)
    }
}

/// The bytes of `video0.mp4`: 0, 1, ..., 255, 0, 1, ...
fn content() -> Vec<u8> {
    (0..LEN).map(|i| (i % 256) as u8).collect()
}

/// A folder `videos/` beside a `secret.mp4`: video0.mp4 (the test bytes), video1.webm,
/// video2.MOV, other.mp4 (not a video of the collection), video3.mp4 (a link to video0.mp4),
/// video4.mp4 (a link out of the folder) and video5.mp4 (a pipe).
fn video_folder(root: &Path) -> std::path::PathBuf {
    let videos = root.join("videos");
    std::fs::create_dir(&videos).expect("mkdir");
    std::fs::write(videos.join("video0.mp4"), content()).expect("write");
    std::fs::write(videos.join("video1.webm"), b"webm").expect("write");
    std::fs::write(videos.join("video2.MOV"), b"mov").expect("write");
    std::fs::write(videos.join("other.mp4"), b"other").expect("write");
    std::fs::write(root.join("secret.mp4"), b"secret").expect("write");
    std::os::unix::fs::symlink(videos.join("video0.mp4"), videos.join("video3.mp4")).expect("link");
    std::os::unix::fs::symlink("../secret.mp4", videos.join("video4.mp4")).expect("link");
    let made = std::process::Command::new("mkfifo")
        .arg(videos.join("video5.mp4"))
        .status();
    assert!(made.expect("run mkfifo").success());
    videos
}

/// The captioned toy server playing the files of [`video_folder`].
async fn start(root: &Path) -> TestServer {
    let config = ServerConfig {
        videos: Some(video_folder(root)),
        ..ServerConfig::default()
    };
    TestServer::start(Arc::new(Captioned(BagOfWords::new())), config).await
}

/// GETs `path` with an optional `Range` header.
async fn get(server: &TestServer, path: &str, range: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(server.url(path));
    if let Some(range) = range {
        request = request.header("range", range);
    }
    request.send().await.expect("request")
}

/// A header of an answer as text ("" when absent).
fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_files_and_byte_ranges() {
    let root = tempfile::tempdir().expect("temp dir");
    let server = start(root.path()).await;
    let all = content();

    let response = get(&server, "/videos/video0.mp4", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-type"), "video/mp4");
    assert_eq!(header(&response, "accept-ranges"), "bytes");
    assert_eq!(header(&response, "content-length"), LEN.to_string());
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    assert_eq!(header(&response, "content-range"), "");
    assert_eq!(response.bytes().await.expect("body"), all);

    for (range, start, end) in [
        ("bytes=10-19", 10, 19),
        ("bytes=990-", 990, 999),
        ("bytes=-5", 995, 999),
        ("bytes=900-5000", 900, 999),
        ("bytes=0-0", 0, 0),
    ] {
        let response = get(&server, "/videos/video0.mp4", Some(range)).await;
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            header(&response, "content-range"),
            format!("bytes {start}-{end}/{LEN}"),
            "{range}"
        );
        assert_eq!(header(&response, "accept-ranges"), "bytes");
        assert_eq!(header(&response, "content-type"), "video/mp4");
        let body = response.bytes().await.expect("body");
        assert_eq!(&body[..], &all[start..=end], "{range}");
    }

    for range in ["bytes=1000-", "bytes=5000-6000", "bytes=-0"] {
        let response = get(&server, "/videos/video0.mp4", Some(range)).await;
        assert_eq!(
            response.status(),
            StatusCode::RANGE_NOT_SATISFIABLE,
            "{range}"
        );
        assert_eq!(header(&response, "content-range"), format!("bytes */{LEN}"));
    }

    // Several ranges, another unit, a malformed header: the whole file.
    for range in ["bytes=0-1,5-6", "lines=1-2", "bytes=9-3"] {
        let response = get(&server, "/videos/video0.mp4", Some(range)).await;
        assert_eq!(response.status(), StatusCode::OK, "{range}");
        assert_eq!(response.bytes().await.expect("body"), all, "{range}");
    }

    for (path, kind) in [
        ("/videos/video1.webm", "video/webm"),
        ("/videos/video2.MOV", "video/quicktime"),
    ] {
        let response = get(&server, path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&response, "content-type"), kind, "{path}");
    }
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_many_chunks_streams_whole_and_in_ranges() {
    let root = tempfile::tempdir().expect("temp dir");
    let videos = root.path().join("videos");
    std::fs::create_dir(&videos).expect("mkdir");
    let big: Vec<u8> = (0..3_000_017u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(videos.join("video7.webm"), &big).expect("write");
    let config = ServerConfig {
        videos: Some(videos),
        ..ServerConfig::default()
    };
    let server = TestServer::start(Arc::new(Captioned(BagOfWords::new())), config).await;
    let whole = get(&server, "/videos/video7.webm", None).await;
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.bytes().await.expect("body"), big);
    let part = get(
        &server,
        "/videos/video7.webm",
        Some("bytes=1000000-2500000"),
    )
    .await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(&part, "content-range"),
        "bytes 1000000-2500000/3000017"
    );
    assert_eq!(
        &part.bytes().await.expect("body")[..],
        &big[1_000_000..=2_500_000]
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_regular_files_of_the_collection_are_served() {
    let root = tempfile::tempdir().expect("temp dir");
    let server = start(root.path()).await;
    for path in [
        "/videos/other.mp4",
        "/videos/video3.mp4",
        "/videos/video4.mp4",
        "/videos/video5.mp4",
        "/videos/video1.mp4",
        "/videos/video6.mp4",
    ] {
        let response = get(&server, path, None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(&response, "content-type"), "application/json");
    }
    for path in [
        "/videos/..%2Fsecret.mp4",
        "/videos/..",
        "/videos/%2E%2E",
        "/videos/a%5Cb.mp4",
        "/videos/%00.mp4",
    ] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (status, body) = raw_request(server.addr, request.as_bytes()).await;
        assert!(status == 400 || status == 404, "{path}: {status} {body}");
        assert!(!body.contains("secret"), "{path}: {body}");
    }

    // A file swapped for a link after start-up is refused.
    let videos = root.path().join("videos");
    std::fs::remove_file(videos.join("video1.webm")).expect("remove");
    std::os::unix::fs::symlink("../secret.mp4", videos.join("video1.webm")).expect("link");
    let response = get(&server, "/videos/video1.webm", None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let info: InfoResponse = get(&server, "/api/info", None)
        .await
        .json()
        .await
        .expect("info");
    assert_eq!(info.playable_videos, 3, "video0, video1 and video2");
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_carry_their_video_and_caption() {
    let root = tempfile::tempdir().expect("temp dir");
    let server = start(root.path()).await;
    let answer: SearchResponse = get(&server, "/api/search?q=a+dog+on+the+beach&k=8", None)
        .await
        .json()
        .await
        .expect("json");
    let videos: BTreeMap<&str, Option<&str>> = answer
        .results
        .iter()
        .map(|r| (r.id.as_str(), r.video.as_deref()))
        .collect();
    assert_eq!(videos["video0"], Some("/videos/video0.mp4"));
    assert_eq!(videos["video1"], Some("/videos/video1.webm"));
    assert_eq!(videos["video2"], Some("/videos/video2.MOV"));
    for absent in ["video3", "video4", "video5", "video6", "video7"] {
        assert_eq!(videos[absent], None, "{absent}");
    }
    assert_eq!(answer.results[0].id, "video0");
    assert_eq!(
        answer.results[0].caption.as_deref(),
        Some("a dog runs on the beach")
    );

    let raw: serde_json::Value = get(&server, "/api/search?q=robot&k=1", None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(raw["results"][0]["caption"], json!("a robot opens a door"));
    assert!(raw["results"][0].get("video").is_none(), "{raw}");
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_video_folder_nothing_is_played() {
    let server = TestServer::start(
        Arc::new(Captioned(BagOfWords::new())),
        ServerConfig::default(),
    )
    .await;
    let answer: SearchResponse = get(&server, "/api/search?q=dog", None)
        .await
        .json()
        .await
        .expect("json");
    assert!(answer.results.iter().all(|r| r.video.is_none()));
    let response = get(&server, "/videos/video0.mp4", None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_plays_videos_from_this_origin() {
    let server = TestServer::toy().await;
    let page = get(&server, "/", None).await;
    let csp = header(&page, "content-security-policy");
    assert!(csp.contains("media-src 'self'"), "{csp}");
    let script = get(&server, "/app.js", None)
        .await
        .text()
        .await
        .expect("script");
    for needle in [
        r#"createElement("video")"#,
        "video.src = hit.video",
        r#"video.preload = "none""#,
        "video.controls = true",
        "hit.caption",
    ] {
        assert!(script.contains(needle), "app.js lacks {needle}");
    }
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicking_play_shows_the_hits_video() {
    if !chromium::present("clicking_play_shows_the_hits_video") {
        return;
    }
    let root = tempfile::tempdir().expect("temp dir");
    let server = start(root.path()).await;
    let page = server.url("/?q=a+dog+on+the+beach&k=3");
    let (player, caption, buttons) = tokio::task::spawn_blocking(move || {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut cdp = Cdp::launch(profile.path());
        cdp.open_page();
        cdp.call("Page.navigate", json!({"url": page}));
        cdp.wait_for("document.querySelectorAll('#results li').length === 3");
        let caption = cdp.eval("document.querySelector('#results li .caption').textContent");
        let buttons = cdp.eval("document.querySelectorAll('#results button.play').length");
        cdp.eval("document.querySelector('#results li button.play').click()");
        cdp.wait_for("document.querySelector('#results video') !== null");
        let player = cdp.eval(
            "(() => { const v = document.querySelector('#results video'); \
             return JSON.stringify([v.getAttribute('src'), v.preload, v.controls, \
             v.closest('li').dataset.id]); })()",
        );
        cdp.close();
        (player, caption, buttons)
    })
    .await
    .expect("browser task");
    let player: serde_json::Value =
        serde_json::from_str(player.as_str().expect("string")).expect("json");
    assert_eq!(
        player,
        json!(["/videos/video0.mp4", "none", true, "video0"])
    );
    assert_eq!(caption, json!("a dog runs on the beach"));
    assert!(buttons.as_u64().is_some_and(|n| n >= 1), "{buttons}");
    server.stop().await.expect("clean stop");
}
