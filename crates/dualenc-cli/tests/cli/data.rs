//! The dataset commands end to end: check, frame-info, txt2bin, combine-features.

use assert_cmd::Command;
use dualenc_data::captions::{read_image_set, write_captions, write_image_set};
use dualenc_data::{BigFile, BigFileWriter, Caption, Collection, Video2Frames};
use predicates::prelude::*;
use std::path::Path;

pub(crate) const FEAT: &str = "resnet";

/// A collection of `videos` videos with frames numbered 10, 2 (written out of order) and
/// one caption per video.
pub(crate) fn make(root: &Path, name: &str, videos: usize) -> Collection {
    let c = Collection::new(root, name);
    let mut w = BigFileWriter::create(c.feature_dir(FEAT), 3).unwrap();
    let mut set = Vec::new();
    let mut caps = Vec::new();
    for v in 0..videos {
        let video = format!("{name}{v}");
        for frame in [10, 2] {
            w.push(&format!("{video}_{frame}"), &[v as f32, frame as f32, 1.0])
                .unwrap();
        }
        caps.push(Caption {
            id: format!("{video}#enc#0"),
            text: "a dog runs".into(),
        });
        set.push(video);
    }
    w.finish().unwrap();
    write_image_set(c.image_set_path(), &set).unwrap();
    write_captions(c.caption_path(), &caps).unwrap();
    c
}

/// The binary with its VisualSearch root given through `DUALENC_ROOTPATH`.
fn dualenc(root: &Path) -> Command {
    let mut cmd = Command::cargo_bin("dualenc").unwrap();
    cmd.env("DUALENC_ROOTPATH", root);
    cmd
}

fn bare() -> Command {
    Command::cargo_bin("dualenc").unwrap()
}

#[test]
fn check_passes_on_clean_collections() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["tr", "va", "te"] {
        make(tmp.path(), name, 2);
    }
    bare()
        .args(["check", "tr", "va", "te", "--feature", FEAT, "--rootpath"])
        .arg(tmp.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("train  tr"))
        .stdout(predicate::str::contains("format check passed"));
}

#[test]
fn check_fails_and_explains() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path(), "tr", 2);
    let va = make(tmp.path(), "va", 2);
    make(tmp.path(), "te", 2);
    std::fs::remove_file(va.caption_path()).unwrap();
    dualenc(tmp.path())
        .args(["check", "tr", "va", "te", "--feature", FEAT])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("va: problem: missing file"))
        .stdout(predicate::str::contains("va.caption.txt"))
        .stderr(predicate::str::contains(
            "format check failed: 1 problem(s)",
        ));
    let out = dualenc(tmp.path())
        .args(["check", "tr", "va", "te", "--feature", FEAT, "--json"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        json["collections"][1]["problems"][0]["kind"],
        "missing_file"
    );
    assert_eq!(json["collections"][0]["videos"], 2);
}

#[test]
fn frame_info_writes_both_forms() {
    let tmp = tempfile::tempdir().unwrap();
    let c = make(tmp.path(), "col", 2);
    dualenc(tmp.path())
        .args(["frame-info", "col", "--feature", FEAT])
        .assert()
        .success()
        .stdout(predicate::str::contains("2 videos, 4 frames"));
    let txt = std::fs::read_to_string(c.video2frames_path(FEAT)).unwrap();
    assert_eq!(
        txt,
        "{'col0': ['col0_2', 'col0_10'], 'col1': ['col1_2', 'col1_10']}"
    );
    let json = Video2Frames::read(c.video2frames_json_path(FEAT)).unwrap();
    assert_eq!(json, Video2Frames::read(c.video2frames_path(FEAT)).unwrap());
}

#[test]
fn frame_info_reports_a_missing_bigfile() {
    let tmp = tempfile::tempdir().unwrap();
    dualenc(tmp.path())
        .args(["frame-info", "nothere", "--feature", FEAT])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("shape.txt: file not found"));
}

#[test]
fn txt2bin_converts_and_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("feat.txt");
    std::fs::write(&input, "a_1 0.5 1\nb_1 2 3\na_1 9 9\n").unwrap();
    let out = tmp.path().join("bf");
    bare()
        .arg("txt2bin")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("written"));
    let f = BigFile::open(&out).unwrap();
    assert_eq!((f.len(), f.dim()), (2, 2));
    assert_eq!(f.vector_by_id("a_1"), Some([0.5f32, 1.0].as_slice()));
    bare()
        .arg("txt2bin")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--overwrite"));
}

#[test]
fn txt2bin_names_file_and_line_of_a_bad_row() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("feat.txt");
    std::fs::write(&input, "a_1 0.5 1\nb_1 2\n").unwrap();
    bare()
        .arg("txt2bin")
        .arg(&input)
        .args(["--dim", "2", "--out"])
        .arg(tmp.path().join("bf"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("feat.txt: line 2"))
        .stderr(predicate::str::contains("1 values, expected 2"));
}

#[test]
fn combine_features_concatenates_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path(), "a", 2);
    make(tmp.path(), "b", 1);
    dualenc(tmp.path())
        .args(["combine-features", "ab", FEAT, "a", "b"])
        .assert()
        .success()
        .stdout(predicate::str::contains("3 videos ->"));
    let target = Collection::new(tmp.path(), "ab");
    let f = BigFile::open(target.feature_dir(FEAT)).unwrap();
    assert_eq!(f.ids(), ["a0_10", "a0_2", "a1_10", "a1_2", "b0_10", "b0_2"]);
    assert_eq!(
        read_image_set(target.image_set_path()).unwrap(),
        ["a0", "a1", "b0"]
    );
    dualenc(tmp.path())
        .args(["combine-features", "ab", FEAT, "a", "b"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("exists; pass --overwrite"));
}

#[test]
fn combine_features_needs_existing_sources() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path(), "a", 1);
    dualenc(tmp.path())
        .args(["combine-features", "ab", FEAT, "a", "missing"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "cannot read the features of missing",
        ));
}
