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
//! Both skip, saying so, when `/usr/bin/chromium` is absent (install it with
//! `apt-get install -y chromium`).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{BagOfWords, TestServer};
use dualenc_server::ServerConfig;
use serde_json::{json, Value};

/// Where Debian installs Chromium.
const CHROMIUM: &str = "/usr/bin/chromium";

/// A real 4x3 JPEG, the thumbnail of `video0`.
const THUMBNAIL: &[u8] = include_bytes!("data/red-4x3.jpg");

/// Longest wait for any one browser step.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// Whether Chromium is installed; prints why the test is skipped when it is not.
fn chromium_present(test: &str) -> bool {
    let present = Path::new(CHROMIUM).exists();
    if !present {
        println!(
            "SKIPPED {test}: {CHROMIUM} is absent (install it with: apt-get install -y chromium)"
        );
    }
    present
}

/// Chromium's flags for a root, sandboxed, offline machine, with a fresh profile.
fn chromium_flags(profile: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--mute-audio",
    ]
    .iter()
    .map(|flag| flag.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

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

/// Waits for `child` at most `timeout`, killing it when it overruns.
fn wait_or_kill(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("poll chromium") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
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
    if !chromium_present("page_runs_the_query_from_the_url") {
        return;
    }
    let (_dir, server) = start_server().await;
    let url = server.url("/?q=a+zebra+dog+on+the+beach&k=4");
    let dom = tokio::task::spawn_blocking(move || {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = Command::new(CHROMIUM)
            .args(chromium_flags(profile.path()))
            .args(["--virtual-time-budget=10000", "--dump-dom", &url])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        let mut stdout = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            let mut dom = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut dom).map(|_| dom)
        });
        let status = wait_or_kill(&mut child, STEP_TIMEOUT);
        assert!(status.success(), "chromium exited with {status}");
        reader.join().expect("reader thread").expect("DOM is UTF-8")
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

/// A DevTools-protocol connection to one Chromium over `--remote-debugging-pipe`.
struct Cdp {
    child: Child,
    input: ChildStdin,
    messages: Receiver<Value>,
    next_id: u64,
    session: Option<String>,
}

impl Cdp {
    /// Starts Chromium with the pipe on file descriptors 3 (commands in) and 4 (answers out):
    /// a shell moves our stdin/stdout pipes there before exec'ing the browser.
    fn launch(profile: &Path) -> Cdp {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>/dev/null"#)
            .arg(CHROMIUM)
            .args(chromium_flags(profile))
            .args(["--remote-debugging-pipe", "about:blank"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        let input = child.stdin.take().expect("stdin");
        let output = child.stdout.take().expect("stdout");
        let (sender, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(output);
            let mut buffer = Vec::new();
            while reader
                .read_until(0, &mut buffer)
                .map(|n| n > 0)
                .unwrap_or(false)
            {
                if buffer.last() == Some(&0) {
                    buffer.pop();
                }
                if let Ok(message) = serde_json::from_slice::<Value>(&buffer) {
                    if sender.send(message).is_err() {
                        break;
                    }
                }
                buffer.clear();
            }
        });
        Cdp {
            child,
            input,
            messages,
            next_id: 0,
            session: None,
        }
    }

    /// Sends a command (to the attached page, once there is one) and returns its result.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({"id": id, "method": method, "params": params});
        if let Some(session) = &self.session {
            command["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&command).expect("serialise");
        bytes.push(0);
        self.input.write_all(&bytes).expect("send to chromium");
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self
                .messages
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no answer to {method}"));
            if message["id"] == json!(id) {
                assert!(message.get("error").is_none(), "{method} failed: {message}");
                return message["result"].clone();
            }
        }
    }

    /// Opens a page and attaches to it; later calls go to that page.
    fn open_page(&mut self) {
        let target = self.call("Target.createTarget", json!({"url": "about:blank"}));
        let session = self.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        self.session = Some(
            session["sessionId"]
                .as_str()
                .expect("session id")
                .to_owned(),
        );
    }

    /// Evaluates a JavaScript expression in the page and returns its value.
    fn eval(&mut self, expression: &str) -> Value {
        let answer = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        answer["result"]["value"].clone()
    }

    /// Polls `expression` until it is `true`.
    fn wait_for(&mut self, expression: &str) {
        let deadline = Instant::now() + STEP_TIMEOUT;
        while self.eval(expression) != json!(true) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {expression}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `text` key by key, as a keyboard would.
    fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            let key = c.to_string();
            self.call(
                "Input.dispatchKeyEvent",
                json!({"type": "keyDown", "key": key, "text": key}),
            );
            self.call(
                "Input.dispatchKeyEvent",
                json!({"type": "keyUp", "key": key}),
            );
        }
    }

    /// Presses and releases Enter.
    fn press_enter(&mut self) {
        let enter = json!({"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13});
        let mut down = enter.clone();
        down["type"] = json!("keyDown");
        down["text"] = json!("\r");
        self.call("Input.dispatchKeyEvent", down);
        let mut up = enter;
        up["type"] = json!("keyUp");
        self.call("Input.dispatchKeyEvent", up);
    }

    /// Closes the browser and waits for it to exit.
    fn close(mut self) {
        self.session = None;
        self.call("Browser.close", json!({}));
        wait_or_kill(&mut self.child, STEP_TIMEOUT);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_a_query_and_pressing_enter_searches() {
    if !chromium_present("typing_a_query_and_pressing_enter_searches") {
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
