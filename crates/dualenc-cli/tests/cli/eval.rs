//! The `infap` and `txt2xml` commands end to end, on the reference fixtures and small
//! hand-made collections.

use crate::common::{self, dualenc};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    common::fixture("infap").join(name)
}

#[test]
fn infap_sample_eval_output_is_the_scripts() {
    for set in ["basic", "edge", "synth"] {
        let want = std::fs::read_to_string(fixture(&format!("{set}.sample_eval.txt"))).unwrap();
        let out = dualenc()
            .args(["infap", "--per-topic", "--sample-eval"])
            .arg(fixture(&format!("{set}.qrels")))
            .arg(fixture(&format!("{set}.treceval")))
            .output()
            .unwrap();
        assert!(out.status.success(), "{set}");
        assert_eq!(String::from_utf8(out.stdout).unwrap(), want, "{set}");
    }
}

#[test]
fn infap_table_and_json() {
    dualenc()
        .arg("infap")
        .arg(fixture("basic.qrels"))
        .arg(fixture("basic.treceval"))
        .arg("--per-topic")
        .assert()
        .success()
        .stdout(
            contains("1503")
                .and(contains("0.4009"))
                .and(contains("0.1452")),
        );
    let out = dualenc()
        .arg("infap")
        .arg(fixture("edge.qrels"))
        .arg(fixture("edge.treceval"))
        .args(["--json", "--per-topic"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!((json["all"]["infAP"].as_f64().unwrap() - 0.2488).abs() < 5e-5);
    assert_eq!(json["per_topic"].as_array().unwrap().len(), 3);
    assert_eq!(json["all"]["num_ret"], 1311);
}

/// Writes `text` to `dir/name` and returns the path.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn infap_reads_a_score_file_run() {
    let dir = tempfile::tempdir().unwrap();
    let qrels = write(
        dir.path(),
        "q",
        "1501 0 s1 1 1\n1501 0 s2 1 0\n1501 0 s3 1 1\n",
    );
    let scores = write(
        dir.path(),
        "id.sent.score.txt",
        "501 s2 0.9 s1 0.5 s3 0.1\n",
    );
    let out = dualenc()
        .arg("infap")
        .arg(&qrels)
        .arg(&scores)
        .args(["--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Relevant at ranks 2 and 3 of 3 fully judged shots: AP = (1/2 + 2/3) / 2.
    let ap = json["all"]["infAP"].as_f64().unwrap();
    assert!((ap - (0.5 + 2.0 / 3.0) / 2.0).abs() < 1e-4, "{ap}");
}

#[test]
fn infap_rejects_malformed_runs_with_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let qrels = write(dir.path(), "q", "1 0 s1 1 1\n");
    let cases = [
        (
            "1 0 s1 1 9999 tag\n1 0 s2 2 9998\n",
            "line 2: expected 6 columns",
        ),
        ("1 0 s1 first 9999 tag\n", "rank 'first' is not an integer"),
        ("1 0 s1 1 high tag\n", "score 'high' is not a number"),
        ("7 0 s1 1 9999 tag\n", "no topic of the run"),
    ];
    for (run, message) in cases {
        let run = write(dir.path(), "run", run);
        dualenc()
            .arg("infap")
            .arg(&qrels)
            .arg(&run)
            .assert()
            .failure()
            .stderr(contains(message));
    }
    let bad_qrels = write(dir.path(), "bad", "1 0 s1 1\n");
    let run = write(dir.path(), "run", "1 0 s1 1 9999 tag\n");
    dualenc()
        .arg("infap")
        .arg(&bad_qrels)
        .arg(&run)
        .assert()
        .failure()
        .stderr(contains("line 1: expected 5 columns"));
}

/// A collection `tiny` with 3 topics of edition tv99 and 5 shots.
fn tiny_collection(root: &Path) {
    write(
        root,
        "tiny/TextData/tv99.avs.txt",
        "501 find a dog\n502 find a cat\n503 find a car\n",
    );
    write(
        root,
        "tiny/VideoSets/tiny.txt",
        "shot1_1\nshot1_2\nshot2_1\nshot2_2\nshot3_1\n",
    );
}

#[test]
fn txt2xml_writes_the_run_next_to_the_score_file() {
    let dir = tempfile::tempdir().unwrap();
    tiny_collection(dir.path());
    let scores = write(
        dir.path(),
        "run/id.sent.score.txt",
        "502 shot2_1 0.9 shot1_1 0.8 shot3_1 0.1\n501 shot1_2 0.7 shot1_1 0.7 shot2_2 -0.5\n503 shot3_1 2 shot2_2 1 shot1_1 0\n",
    );
    dualenc()
        .arg("txt2xml")
        .arg("--rootpath")
        .arg(dir.path())
        .args(["tiny"])
        .arg(&scores)
        .args([
            "--edition",
            "tv99",
            "--topk",
            "2",
            "--etime",
            "1.0",
            "--treceval",
        ])
        .assert()
        .success();
    let xml = std::fs::read_to_string(dir.path().join("run/id.sent.score.txt.xml")).unwrap();
    let want = [
        avs_head(),
        "",
        "<videoAdhocSearchResults>",
        "<videoAdhocSearchRunResult trType=\"D\" class=\"F\" pid=\"RUCMM\" priority=\"1\" desc=\"place holder\">",
        "<videoAdhocSearchTopicResult tNum=\"502\" elapsedTime=\"1\">",
        "<item seqNum=\"1\" shotId=\"shot2_1\" />",
        "<item seqNum=\"2\" shotId=\"shot1_1\" />",
        "</videoAdhocSearchTopicResult>",
        "",
        "<videoAdhocSearchTopicResult tNum=\"501\" elapsedTime=\"1\">",
        "<item seqNum=\"1\" shotId=\"shot1_2\" />",
        "<item seqNum=\"2\" shotId=\"shot1_1\" />",
        "</videoAdhocSearchTopicResult>",
        "",
        "<videoAdhocSearchTopicResult tNum=\"503\" elapsedTime=\"1\">",
        "<item seqNum=\"1\" shotId=\"shot3_1\" />",
        "<item seqNum=\"2\" shotId=\"shot2_2\" />",
        "</videoAdhocSearchTopicResult>",
        "",
        "",
        "</videoAdhocSearchRunResult>",
        "</videoAdhocSearchResults>",
    ]
    .join("\n");
    assert_eq!(xml, want);
    let trec = std::fs::read_to_string(dir.path().join("run/id.sent.score.txt.treceval")).unwrap();
    assert!(trec.starts_with("1502 0 shot2_1 1 9999 RUCMM\n1502 0 shot1_1 2 9998 RUCMM\n1501 "));
    assert_eq!(trec.lines().count(), 6);
}

fn avs_head() -> &'static str {
    "<!DOCTYPE videoAdhocSearchResults SYSTEM \"https://www-nlpir.nist.gov/projects/tv2018/dtds/videoAdhocSearchResults.dtd\">"
}

#[test]
fn txt2xml_checks_shots_order_and_topics() {
    let dir = tempfile::tempdir().unwrap();
    tiny_collection(dir.path());
    let cases = [
        (
            "501 shot1_1 1 shot9_9 0\n502 shot1_1 1 shot1_2 0\n503 shot1_1 1 shot1_2 0\n",
            "invalid shot id 'shot9_9'",
        ),
        (
            "501 shot1_1 0 shot1_2 1\n502 shot1_1 1 shot1_2 0\n503 shot1_1 1 shot1_2 0\n",
            "have not been sorted",
        ),
        (
            "501 shot1_1 1 shot1_2 0\n502 shot1_1 1 shot1_2 0\n",
            "has 2 topics but",
        ),
        (
            "501 shot1_1 1 shot1_2 0\n502 shot1_1 1 shot1_2 0\n504 shot1_1 1 shot1_2 0\n",
            "topic 504 is not in",
        ),
        (
            "501 shot1_1 1\n502 shot1_1 1 shot1_2 0\n503 shot1_1 1 shot1_2 0\n",
            "topic 501 ranks 1 shots",
        ),
    ];
    for (i, (text, message)) in cases.into_iter().enumerate() {
        let scores = write(dir.path(), &format!("r{i}/id.sent.score.txt"), text);
        dualenc()
            .arg("txt2xml")
            .arg("--rootpath")
            .arg(dir.path())
            .arg("tiny")
            .arg(&scores)
            .args(["--edition", "tv99", "--topk", "2"])
            .assert()
            .failure()
            .stderr(contains(message));
        assert!(!dir
            .path()
            .join(format!("r{i}/id.sent.score.txt.xml"))
            .exists());
    }
}

#[test]
fn a_score_file_scores_like_its_trec_run() {
    // Rebuild an id.sent.score.txt from the synth reference run (topics 1..6, unprefixed)
    // and check the reference infAP through the score-file path.
    let trec = std::fs::read_to_string(fixture("synth.treceval")).unwrap();
    let mut lines: Vec<(String, Vec<String>)> = Vec::new();
    for line in trec.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if lines.last().map(|(t, _)| t.as_str()) != Some(cols[0]) {
            lines.push((cols[0].to_string(), Vec::new()));
        }
        let (_, shots) = lines.last_mut().unwrap();
        shots.push(format!("{} {}", cols[2], 1.0 - shots.len() as f64 / 1000.0));
    }
    let text: String = lines
        .iter()
        .map(|(t, shots)| format!("{t} {}\n", shots.join(" ")))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let scores = write(dir.path(), "id.sent.score.txt", &text);
    let want = std::fs::read_to_string(fixture("synth.sample_eval.txt")).unwrap();
    dualenc()
        .arg("infap")
        .arg(fixture("synth.qrels"))
        .arg(&scores)
        .args(["--topic-prefix", "", "--per-topic", "--sample-eval"])
        .assert()
        .success()
        .stdout(want);
}
