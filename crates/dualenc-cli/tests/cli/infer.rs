//! `dualenc import-checkpoint`, `embed`, `test` and `predict` on a tiny VisualSearch tree with
//! the reference checkpoint `fixtures/reference/model_full/checkpoint.pth`.

use crate::common::dualenc;
use dualenc_data::{BigFile, BigFileWriter, Collection, Video2Frames};
use predicates::str::contains;
use std::path::{Path, PathBuf};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/reference");

const SENTENCES: [&str; 6] = [
    "a man is playing a guitar",
    "a man plays on the stage",
    "dog",
    "a dog runs in the park",
    "the woman slices zucchini in the kitchen",
    "a woman in the kitchen",
];

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Vocabularies of the reference model under `tinytrain`, and a test collection `tinytest`
/// of 3 videos with 2 captions each, AVS topics and qrels.
fn tree() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("VisualSearch");
    dualenc_testkit::write_reference_vocabularies(&root, "tinytrain");
    let coll = Collection::new(&root, "tinytest");
    let mut writer = BigFileWriter::create(coll.feature_dir("tinyfeat"), 16).unwrap();
    let mut ids = Vec::new();
    for (v, n) in [4usize, 9, 2].into_iter().enumerate() {
        for f in 0..n {
            let row: Vec<f32> = (0..16)
                .map(|d| ((v * 13 + f * 5 + d) as f32 * 0.41).cos())
                .collect();
            ids.push(format!("vid{v}_{f}"));
            writer.push(ids.last().unwrap(), &row).unwrap();
        }
    }
    writer.finish().unwrap();
    Video2Frames::from_frame_ids(ids.iter().map(String::as_str), Path::new("id.txt"))
        .unwrap()
        .write_dict_literal(coll.video2frames_path("tinyfeat"))
        .unwrap();
    let captions: String = SENTENCES
        .iter()
        .enumerate()
        .map(|(i, s)| format!("vid{}#enc#{i} {s}\n", i / 2))
        .collect();
    write(&coll.caption_path(), &captions);
    write(
        &root.join("tinytest/TextData/tv16.avs.txt"),
        "501 a man playing a guitar\n502 a dog\n",
    );
    write(
        &root.join("tinytest/TextData/avs.qrels.tv16"),
        "1501 0 vid0 1 1\n1502 0 vid1 1 1\n1502 0 vid2 1 0\n",
    );
    (tmp, root)
}

fn import(root: &Path) -> PathBuf {
    let model = root.join("model");
    dualenc()
        .arg("import-checkpoint")
        .arg(format!("{FIXTURES}/model_full/checkpoint.pth"))
        .arg("--rootpath")
        .arg(root)
        .arg("--out")
        .arg(&model)
        .assert()
        .success()
        .stdout(contains("epoch          3"))
        .stdout(contains("bow 34 words, rnn 38 words"));
    model
}

#[test]
fn import_then_test_prints_the_tables_and_writes_metrics() {
    let (_tmp, root) = tree();
    let model = import(&root);
    dualenc()
        .args([
            "test",
            "tinytest",
            "--device",
            "cpu",
            "--n-caption",
            "2",
            "--rootpath",
        ])
        .arg(&root)
        .arg("--model")
        .arg(&model)
        .assert()
        .success()
        .stdout(contains(" * Text to Video:"))
        .stdout(contains("text-to-video"))
        .stdout(contains("sum of recalls"));
    let metrics: serde_json::Value = serde_json::from_slice(
        &std::fs::read(model.join("results/tinytest/metrics.json")).unwrap(),
    )
    .unwrap();
    assert!(metrics["t2v"]["r1"].is_number() && metrics["sumr"].is_number());
    let out = dualenc()
        .args(["test", "tinytest", "--json", "--rootpath"])
        .arg(&root)
        .arg("--model")
        .arg(&model)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["captions"], 6);
    assert_eq!(json["metrics"]["sumr"], metrics["sumr"]);
}

#[test]
fn predict_writes_runs_and_prints_infap() {
    let (_tmp, root) = tree();
    let model = import(&root);
    dualenc()
        .args([
            "predict",
            "tinytest",
            "--query-sets",
            "tv16.avs.txt",
            "--rootpath",
        ])
        .arg(&root)
        .arg("--model")
        .arg(&model)
        .assert()
        .success()
        .stdout(contains("tv16.avs.txt (2 topics)"))
        .stdout(contains("mean"));
    let scores =
        std::fs::read_to_string(model.join("results/tinytest/tv16.avs.txt/id.sent.score.txt"))
            .unwrap();
    assert_eq!(scores.lines().count(), 2);
    assert!(scores.starts_with("501 vid"));
}

#[test]
fn embed_writes_bigfiles() {
    let (_tmp, root) = tree();
    let model = import(&root);
    dualenc()
        .args(["embed", "tinytest", "--batch-independent", "--rootpath"])
        .arg(&root)
        .arg("--model")
        .arg(&model)
        .arg("--videos")
        .arg(root.join("emb/videos"))
        .arg("--captions")
        .arg(root.join("emb/captions"))
        .assert()
        .success()
        .stdout(contains("3 videos, 6 captions, 12-d"));
    let videos = BigFile::open(root.join("emb/videos")).unwrap();
    assert_eq!((videos.len(), videos.dim()), (3, 12));
}

#[test]
fn bad_inputs_fail_with_clear_messages() {
    let (_tmp, root) = tree();
    dualenc()
        .arg("import-checkpoint")
        .arg(format!("{FIXTURES}/model_full/checkpoint.pth"))
        .arg("--rootpath")
        .arg(root.join("nowhere"))
        .arg("--out")
        .arg(root.join("m"))
        .assert()
        .failure()
        .stderr(contains("--bow-vocab"));
    let model = import(&root);
    // A binary built without the CUDA backend refuses `--device cuda` with a clear message.
    let cuda = dualenc()
        .args(["test", "tinytest", "--device", "cuda", "--rootpath"])
        .arg(&root)
        .arg("--model")
        .arg(&model)
        .output()
        .unwrap();
    if !cuda.status.success() {
        let stderr = String::from_utf8_lossy(&cuda.stderr);
        assert!(stderr.contains("built without CUDA"), "{stderr}");
    }
    dualenc()
        .args(["test", "tinytest", "--n-caption", "4", "--rootpath"])
        .arg(&root)
        .arg("--model")
        .arg(&model)
        .assert()
        .failure()
        .stderr(contains("--n-caption 4"));
}

/// `predict` on the AVS topics that `dualenc synth --avs` writes (the demo's collection): the
/// qrels number the topics as the query set does, so the run must too, and every topic is
/// scored; `--topic-prefix 1` (TRECVID's numbering) then matches none of them.
#[test]
fn predict_scores_the_synthetic_avs_topics() {
    let dir = tempfile::tempdir().unwrap();
    dualenc()
        .args([
            "demo", "--quick", "--epochs", "1", "--device", "cpu", "--dir",
        ])
        .arg(dir.path())
        .assert()
        .success();
    let predict = |extra: &[&str]| {
        let mut cmd = dualenc();
        cmd.arg("predict")
            .arg("--rootpath")
            .arg(dir.path().join("VisualSearch"))
            .arg("demotest")
            .arg("--model")
            .arg(dir.path().join("run/model_best"))
            .args(["--query-sets", "demo.avs.txt", "--device", "cpu"])
            .args(extra);
        cmd
    };
    let out = predict(&["--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let reports: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let per_topic = reports[0]["infap"]["per_topic"]
        .as_array()
        .expect("infAP per topic");
    let topics: Vec<&str> = per_topic
        .iter()
        .map(|t| t["topic"].as_str().unwrap())
        .collect();
    assert_eq!(topics, ["1", "2", "3"], "{reports}");
    predict(&["--topic-prefix", "1"])
        .assert()
        .failure()
        .stderr(contains("no topic of the run (11, 12, 13) is in the qrels"));
}
