//! Headless Chromium (Debian's `chromium` package) for the web page's tests: [`dump_dom`]
//! loads a page and returns its DOM after the page's own scripts ran; [`Cdp`] drives the
//! browser over the DevTools protocol (`--remote-debugging-pipe`: NUL-terminated JSON on file
//! descriptors 3 and 4) to type, press keys and read the page.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Where Debian installs Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// How to install it.
pub const INSTALL_HINT: &str = "install it with: apt-get install -y chromium";

/// Longest wait for any one browser step.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// Whether the test `test` can run: Chromium installed (see [`crate::require_tool`]).
pub fn present(test: &str) -> bool {
    crate::require_tool(test, CHROMIUM, INSTALL_HINT)
}

/// Chromium's flags for a root, sandboxed, offline machine, with a fresh profile.
pub fn chromium_flags(profile: &Path) -> Vec<String> {
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

/// Waits for `child` at most `timeout`, killing it when it overruns.
pub fn wait_or_kill(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
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

/// Loads `url` in a fresh headless Chromium with a virtual time budget of `budget_ms` and
/// returns the DOM as the page's scripts left it; `profile` is an empty folder for the
/// browser's profile.
pub fn dump_dom(url: &str, budget_ms: u64, profile: &Path) -> String {
    let mut child = Command::new(CHROMIUM)
        .args(chromium_flags(profile))
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .args(["--dump-dom", url])
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
}

/// A DevTools-protocol connection to one Chromium over `--remote-debugging-pipe`.
pub struct Cdp {
    child: Child,
    input: ChildStdin,
    messages: Receiver<Value>,
    next_id: u64,
    session: Option<String>,
}

impl Cdp {
    /// Starts Chromium with the pipe on file descriptors 3 (commands in) and 4 (answers out):
    /// a shell moves our stdin/stdout pipes there before exec'ing the browser.
    pub fn launch(profile: &Path) -> Cdp {
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
    pub fn call(&mut self, method: &str, params: Value) -> Value {
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
    pub fn open_page(&mut self) {
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
    pub fn eval(&mut self, expression: &str) -> Value {
        let answer = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        answer["result"]["value"].clone()
    }

    /// Polls `expression` until it is `true`.
    pub fn wait_for(&mut self, expression: &str) {
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
    pub fn type_text(&mut self, text: &str) {
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
    pub fn press_enter(&mut self) {
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
    pub fn close(mut self) {
        self.session = None;
        self.call("Browser.close", json!({}));
        wait_or_kill(&mut self.child, STEP_TIMEOUT);
    }
}
