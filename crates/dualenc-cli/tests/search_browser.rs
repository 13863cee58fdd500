//! The web page of `dualenc serve` in headless Chromium, over a small model trained for the
//! test: `dualenc synth` writes a toy collection with AVS topics and labels, `dualenc train`
//! trains a tiny network on it (about 10 s), `dualenc index` indexes the test videos and
//! `dualenc serve` serves them on 127.0.0.1. Chromium loads the page, the query is typed key
//! by key and sent with Enter, and the page must list what `dualenc search --json` answers for
//! the same query, whose top video must show what the query asks for (synthetic labels).
//!
//! Chromium is driven over the DevTools protocol (`--remote-debugging-pipe`); the driver is a
//! trimmed copy of the one in `crates/dualenc-server/tests/browser.rs` (test code is not
//! shared across crates). The test skips, saying so, when `/usr/bin/chromium` is absent
//! (install it with `apt-get install -y chromium`).

use assert_cmd::Command;
use dualenc_synth::SynthLabels;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// Where Debian installs Chromium.
const CHROMIUM: &str = "/usr/bin/chromium";

/// Longest wait for any one browser step.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// Results the page asks for unless told otherwise.
const PAGE_K: usize = 10;

fn dualenc() -> Command {
    Command::cargo_bin("dualenc").unwrap()
}

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

/// A toy collection, a tiny model trained on it and an index of its test videos.
struct Trained {
    dir: tempfile::TempDir,
}

impl Trained {
    fn new() -> Trained {
        let trained = Trained {
            dir: tempfile::tempdir().unwrap(),
        };
        let root = trained.root();
        dualenc()
            .args(["synth", "--rootpath"])
            .arg(&root)
            .args(["--prefix", "toy", "--feature", "toyfeat", "--videos"])
            .args(["200,40,40", "--n-caption", "3", "--dim", "16", "--frames"])
            .args(["3,8", "--seed", "1", "--avs", "4"])
            .assert()
            .success();
        dualenc()
            .args(["vocab", "--rootpath"])
            .arg(&root)
            .args(["toytrain", "--threshold", "1"])
            .assert()
            .success();
        dualenc()
            .args(["train", "--rootpath"])
            .arg(&root)
            .args(["toytrain", "toyval", "toytest", "--feature", "toyfeat"])
            .args(["--vocab", "word_vocab_1", "--word-dim", "16"])
            .args(["--text-rnn-size", "16", "--visual-rnn-size", "16"])
            .args(["--text-kernel-num", "8", "--visual-kernel-num", "8"])
            .args([
                "--text-mapping-layers",
                "0-32",
                "--visual-mapping-layers",
                "0-32",
            ])
            .args(["--batch-size", "32", "--learning-rate", "0.002"])
            .args([
                "--num-epochs",
                "12",
                "--device",
                "cpu",
                "--seed",
                "1",
                "--out",
            ])
            .arg(trained.dir.path().join("run"))
            .assert()
            .success();
        dualenc()
            .arg("index")
            .arg("--model")
            .arg(trained.dir.path().join("run/model_best"))
            .arg("--rootpath")
            .arg(&root)
            .arg("toytest")
            .arg("--out")
            .arg(trained.index())
            .args(["--device", "cpu"])
            .assert()
            .success();
        trained
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("VisualSearch")
    }

    fn index(&self) -> PathBuf {
        self.dir.path().join("index")
    }

    fn text_file(&self, name: &str) -> PathBuf {
        self.root().join("toytest/TextData").join(name)
    }

    /// The first subject+scene AVS topic as a plain query ("a robot in the kitchen"), with
    /// the subject and the scene it asks for.
    fn scene_query(&self) -> (String, String, String) {
        let topics = std::fs::read_to_string(self.text_file("toy.avs.txt")).unwrap();
        topics
            .lines()
            .filter_map(|line| line.split_once(' ')?.1.strip_prefix("find shots of "))
            .find_map(|query| {
                let (who, scene) = query.split_once(" in the ")?;
                let subject = who.split_once(' ')?.1;
                Some((query.to_string(), subject.to_string(), scene.to_string()))
            })
            .unwrap_or_else(|| panic!("no subject+scene topic in:\n{topics}"))
    }

    /// `dualenc search --json`'s ranking for `query`: (id, score), best first.
    fn search(&self, query: &str, k: usize) -> Vec<(String, f64)> {
        let out = dualenc()
            .arg("search")
            .arg("--index")
            .arg(self.index())
            .arg(query)
            .args(["-k", &k.to_string(), "--json"])
            .assert()
            .success();
        let json: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        json["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let id = r["id"].as_str().unwrap().to_string();
                (id, r["score"].as_f64().unwrap())
            })
            .collect()
    }
}

/// Kills the server when the test ends, passed or failed.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `dualenc serve` on a free loopback port; returns it and its `host:port`.
fn serve(index: &Path) -> (Server, String) {
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dualenc"))
        .arg("serve")
        .arg("--index")
        .arg(index)
        .args(["--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let stdout = server.0.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let start = line.find("http://").expect(&line) + "http://".len();
    let addr = line[start..].split('/').next().unwrap().to_string();
    (server, addr)
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

/// Waits for `child` at most `timeout`, killing it when it overruns.
fn wait_or_kill(child: &mut Child, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while child.try_wait().expect("poll chromium").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
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
        let mut child = std::process::Command::new("sh")
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
            while reader.read_until(0, &mut buffer).is_ok_and(|n| n > 0) {
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
        let session = session["sessionId"].as_str().expect("session id");
        self.session = Some(session.to_owned());
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

#[test]
fn typing_a_query_lists_the_trained_models_ranking() {
    let test = "typing_a_query_lists_the_trained_models_ranking";
    if !chromium_present(test) {
        return;
    }
    let trained = Trained::new();
    let (query, subject, scene) = trained.scene_query();

    // The command line's answer, and what its top video really shows.
    let ranking = trained.search(&query, PAGE_K);
    assert_eq!(ranking.len(), PAGE_K, "{ranking:?}");
    let expected: Vec<String> = ranking.iter().map(|(id, _)| id.clone()).collect();
    let (top, top_score) = &ranking[0];
    let labels = SynthLabels::read(&trained.text_file("toy.labels.json")).unwrap();
    let shows = labels.get(top).expect("the top video has labels");
    let description = labels.describe(top).unwrap_or_default();
    assert_eq!(
        (shows.subject_name(), shows.scene_name()),
        (subject.as_str(), scene.as_str()),
        "{query:?}: the trained model's top video {top} shows {description:?}"
    );

    // The page, typed into like a person would.
    let (server, addr) = serve(&trained.index());
    let profile = tempfile::tempdir().unwrap();
    let mut cdp = Cdp::launch(profile.path());
    cdp.open_page();
    cdp.call("Page.navigate", json!({"url": format!("http://{addr}/")}));
    cdp.wait_for("document.readyState === 'complete' && document.getElementById('about').textContent.startsWith('Searching')");
    let about = cdp.eval("document.getElementById('about').textContent");
    cdp.type_text(&query);
    cdp.press_enter();
    cdp.wait_for("document.querySelectorAll('#results li').length > 0");
    let ids = cdp.eval(
        "JSON.stringify([...document.querySelectorAll('#results li')].map(li => li.dataset.id))",
    );
    let first = cdp.eval("document.querySelector('#results li').textContent");
    let status = cdp.eval("document.getElementById('status').textContent");
    cdp.close();
    drop(server);

    let shown: Vec<String> = serde_json::from_str(ids.as_str().expect("string")).expect("ids");
    assert_eq!(
        shown, expected,
        "the page lists the ranking `dualenc search` gives for {query:?}"
    );
    let first = first.as_str().expect("text");
    assert_eq!(
        first,
        format!("1{top}score {top_score:.4}"),
        "the first item shows rank 1, {top} and its score"
    );
    let status = status.as_str().expect("status text");
    assert!(
        status.starts_with(&format!("{PAGE_K} results for “{query}”")),
        "{status}"
    );
    let about = about.as_str().expect("about text");
    assert!(
        about.contains("40 videos") && about.contains("toytest"),
        "{about}"
    );
}
