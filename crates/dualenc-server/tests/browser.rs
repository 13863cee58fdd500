//! The web page in headless Chromium (Debian's `chromium` package), against a real server on
//! 127.0.0.1 with the bag-of-words test double as the backend.
//!
//! - `page_runs_the_query_from_the_url`: `chromium --dump-dom 'http://.../?q=...'` with a
//!   virtual time budget; the DOM after the page's own search shows the ranking, the query time,
//!   the unknown-word warning and the thumbnail.
//! - `typing_a_query_and_pressing_enter_searches`: drives Chromium over the DevTools protocol
//!   (`--remote-debugging-pipe`: NUL-terminated JSON on file descriptors 3 and 4), types a
//!   query key by key, presses Enter and reads the result list.
//!
//! Both need `/usr/bin/chromium` (`apt-get install -y chromium`): under CI they fail without
//! it, elsewhere they skip with a line on stderr. The driver is `dualenc_testkit::chromium`.

mod common;

use std::sync::Arc;

use common::{BagOfWords, TestServer};
use dualenc_server::ServerConfig;
use dualenc_testkit::chromium::{self, Cdp};
use serde_json::json;

/// A real 4x3 JPEG, the thumbnail of `video0`.
const THUMBNAIL: &[u8] = include_bytes!("data/red-4x3.jpg");

/// Starts the toy server with a thumbnail for `video0`; the temp dir must outlive the server.
async fn start_server() -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().expect("temp dir");
    let thumbs = dir.path().join("thumbs");
    std::fs::create_dir(&thumbs).expect("mkdir");
    std::fs::write(thumbs.join("video0.jpg"), THUMBNAIL).expect("write thumbnail");
    let config = ServerConfig {
        thumbnails: Some(thumbs),
        ..ServerConfig::default()
    };
    let server = TestServer::start(Arc::new(BagOfWords::new()), config).await;
    (dir, server)
}

/// The `data-id`s of the result items, in document order.
fn result_ids(dom: &str) -> Vec<String> {
    dom.split(r#"<li class="hit" data-id=""#)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// The text of the element `<p id="ID" ...>TEXT</p>` in a dumped DOM.
fn paragraph_text(dom: &str, id: &str) -> String {
    let start = dom
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no #{id} in the DOM"));
    let after = &dom[start..];
    let open = after.find('>').expect("tag end") + 1;
    let close = after.find("</p>").expect("closing tag");
    after[open..close].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_runs_the_query_from_the_url() {
    if !chromium::present("page_runs_the_query_from_the_url") {
        return;
    }
    let (_dir, server) = start_server().await;
    let url = server.url("/?q=a+zebra+dog+on+the+beach&k=4");
    let dom = tokio::task::spawn_blocking(move || {
        let profile = tempfile::tempdir().expect("profile dir");
        chromium::dump_dom(&url, 10_000, profile.path())
    })
    .await
    .expect("browser task");

    let ids = result_ids(&dom);
    assert_eq!(ids.len(), 4, "k=4 from the URL: {ids:?}");
    assert_eq!(
        ids[0], "video0",
        "the dog on the beach ranks first: {ids:?}"
    );
    let status = paragraph_text(&dom, "status");
    assert!(
        status.starts_with("4 results for") && status.ends_with(" ms"),
        "{status}"
    );
    let warning = paragraph_text(&dom, "warning");
    assert!(warning.contains("zebra"), "unknown-word warning: {warning}");
    assert!(
        dom.contains(r#"src="/thumbnails/video0.jpg""#),
        "the thumbnail is shown"
    );
    assert!(
        dom.contains(r#"alt="Thumbnail of video0""#),
        "the thumbnail has alt text"
    );
    assert!(
        paragraph_text(&dom, "about").contains("8 videos"),
        "the collection is described"
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_a_query_and_pressing_enter_searches() {
    if !chromium::present("typing_a_query_and_pressing_enter_searches") {
        return;
    }
    let (_dir, server) = start_server().await;
    let page = server.url("/");
    let (ids, status, search, focused) = tokio::task::spawn_blocking(move || {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut cdp = Cdp::launch(profile.path());
        cdp.open_page();
        cdp.call("Page.navigate", json!({"url": page}));
        cdp.wait_for("document.readyState === 'complete' && document.getElementById('about').textContent.startsWith('Searching')");
        let focused = cdp.eval("document.activeElement && document.activeElement.id");
        cdp.type_text("a robot opens a door");
        cdp.press_enter();
        cdp.wait_for("document.querySelectorAll('#results li').length > 0");
        let ids = cdp.eval("JSON.stringify([...document.querySelectorAll('#results li')].map(li => li.dataset.id))");
        let status = cdp.eval("document.getElementById('status').textContent");
        let search = cdp.eval("window.location.search");
        cdp.close();
        (ids, status, search, focused)
    })
    .await
    .expect("browser task");

    assert_eq!(
        focused,
        json!("q"),
        "the search box has the focus when the page opens"
    );
    let ids: Vec<String> = serde_json::from_str(ids.as_str().expect("string")).expect("id list");
    assert_eq!(
        ids.len(),
        8,
        "k defaults to 10, the toy collection has 8 videos"
    );
    assert_eq!(
        ids[0], "video7",
        "the robot opening a door ranks first: {ids:?}"
    );
    let status = status.as_str().expect("status text");
    assert!(
        status.contains("“a robot opens a door”") && status.ends_with(" ms"),
        "{status}"
    );
    assert_eq!(
        search,
        json!("?q=a+robot+opens+a+door&k=10"),
        "the URL records the search"
    );
    server.stop().await.expect("clean stop");
}
