//! The web page of `dualenc serve` in headless Chromium, over a small model trained for the
//! test: `dualenc synth` writes a toy collection with AVS topics and labels, `dualenc train`
//! trains a tiny network on it (about 10 s), `dualenc index` indexes the test videos and
//! `dualenc serve` serves them on 127.0.0.1. Chromium loads the page, the query is typed key
//! by key and sent with Enter, and the page must list what `dualenc search --json` answers for
//! the same query, whose top video must show what the query asks for (synthetic labels).
//!
//! Chromium is driven over the DevTools protocol by `dualenc_testkit::chromium`. The test
//! needs `/usr/bin/chromium` (`apt-get install -y chromium`): under CI it fails without it,
//! elsewhere it skips with a line on stderr.

use dualenc_synth::SynthLabels;
use dualenc_testkit::chromium::{self, Cdp};
use serde_json::{json, Value};
use std::path::PathBuf;

use crate::common::{dualenc, serve};

/// Results the page asks for unless told otherwise.
const PAGE_K: usize = 10;

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

    /// `dualenc search --json`'s ranking for `query`: (id, score, first caption or ""), best
    /// first.
    fn search(&self, query: &str, k: usize) -> Vec<(String, f64, String)> {
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
                let caption = r["caption"].as_str().unwrap_or_default().to_string();
                (id, r["score"].as_f64().unwrap(), caption)
            })
            .collect()
    }
}

#[test]
fn typing_a_query_lists_the_trained_models_ranking() {
    let test = "typing_a_query_lists_the_trained_models_ranking";
    if !chromium::present(test) {
        return;
    }
    let trained = Trained::new();
    let (query, subject, scene) = trained.scene_query();

    // The command line's answer, and what its top video really shows.
    let ranking = trained.search(&query, PAGE_K);
    assert_eq!(ranking.len(), PAGE_K, "{ranking:?}");
    let expected: Vec<String> = ranking.iter().map(|(id, ..)| id.clone()).collect();
    let (top, top_score, caption) = &ranking[0];
    assert!(
        !caption.is_empty(),
        "the index keeps the collection's first caption"
    );
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
        format!("1{top}{caption}score {top_score:.4}"),
        "the first item shows rank 1, {top}, its first caption and its score"
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
