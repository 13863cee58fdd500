//! `dualenc vocab` end to end on the reference vocabulary fixture.

use crate::common::fixture;
use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;
use std::path::Path;

/// A root with collection `tiny` whose captions are the vocab fixture's.
fn root_with_captions() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let text = root.path().join("tiny/TextData");
    std::fs::create_dir_all(&text).unwrap();
    std::fs::copy(fixture("vocab/captions.txt"), text.join("tiny.caption.txt")).unwrap();
    root
}

fn vocab_cmd(root: &Path) -> Command {
    let mut cmd = Command::cargo_bin("dualenc").unwrap();
    cmd.arg("vocab").arg("--rootpath").arg(root).arg("tiny");
    cmd
}

#[test]
fn vocab_writes_both_styles_like_the_original() {
    let root = root_with_captions();
    let out = vocab_cmd(root.path())
        .args(["--threshold", "5", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["captions"], 50);
    assert_eq!(summary["kept_words"], 12);
    assert_eq!(summary["bow_size"], 12);
    assert_eq!(summary["rnn_size"], 16);

    for style in ["bow", "rnn"] {
        let dir = root
            .path()
            .join(format!("tiny/TextData/vocabulary/{style}"));
        let vocab: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("word_vocab_5.json")).unwrap()).unwrap();
        let expected =
            std::fs::read_to_string(fixture(&format!("vocab/{style}_words_5.txt"))).unwrap();
        let words: Vec<&str> = vocab["words"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap())
            .collect();
        assert_eq!(words, expected.lines().collect::<Vec<_>>(), "{style}");
        assert_eq!(
            std::fs::read(dir.join("word_vocab_counter_5.txt")).unwrap(),
            std::fs::read(fixture(&format!("vocab/{style}_word_vocab_counter_5.txt"))).unwrap(),
            "{style} counter file"
        );
    }
}

#[test]
fn vocab_prints_a_table_and_keeps_existing_files() {
    let root = root_with_captions();
    vocab_cmd(root.path())
        .args(["--threshold", "1"])
        .assert()
        .success()
        .stdout(contains("kept words").and(contains("168")));
    vocab_cmd(root.path())
        .args(["--threshold", "1"])
        .assert()
        .success()
        .stdout(contains("--overwrite"));
    vocab_cmd(root.path())
        .args(["--threshold", "1", "--overwrite"])
        .assert()
        .success()
        .stdout(contains("wrote"));
}

#[test]
fn missing_caption_file_is_a_clear_error() {
    let root = tempfile::tempdir().unwrap();
    vocab_cmd(root.path())
        .assert()
        .failure()
        .stderr(contains("tiny.caption.txt"));
}
