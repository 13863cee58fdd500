//! `dualenc synth` end to end: the files, their shapes, determinism and flag errors.

use assert_cmd::Command;
use dualenc_data::captions::{read_captions, read_image_set, read_topics};
use dualenc_data::{BigFile, Collection, Video2Frames};
use dualenc_synth::SynthLabels;
use predicates::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Small flags: 6/3/4 videos, 2 captions, 8-d features, 2-4 frames, 3 AVS topics.
const SMALL: &[&str] = &[
    "--videos",
    "6,3,4",
    "--n-caption",
    "2",
    "--dim",
    "8",
    "--frames",
    "2,4",
    "--avs",
    "3",
];

fn synth(root: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("dualenc").unwrap();
    cmd.arg("synth")
        .arg("--rootpath")
        .arg(root)
        .args(SMALL)
        .args(extra);
    cmd
}

/// Every file under `root`, relative path -> bytes.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn writes_every_file_with_consistent_contents() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    synth(root, &["--seed", "3"])
        .assert()
        .success()
        .stdout(predicate::str::contains("synthtest"));
    let mut next_video = 0;
    for (name, videos) in [("synthtrain", 6), ("synthval", 3), ("synthtest", 4)] {
        let c = Collection::new(root, name);
        let set = read_image_set(c.image_set_path()).unwrap();
        let expected: Vec<String> = (next_video..next_video + videos)
            .map(|k| format!("video{k}"))
            .collect();
        assert_eq!(set, expected, "{name}: ids are numbered globally");
        next_video += videos;
        let features = BigFile::open(c.feature_dir("synfeat")).unwrap();
        assert_eq!(features.dim(), 8);
        assert!((2 * videos..=4 * videos).contains(&features.len()));
        let v2f = Video2Frames::read(c.video2frames_path("synfeat")).unwrap();
        assert_eq!(v2f.len(), videos);
        let mut rows = 0;
        for video in &set {
            let frames = v2f.frames(video).unwrap();
            assert!((2..=4).contains(&frames.len()));
            assert!(frames
                .iter()
                .enumerate()
                .all(|(j, f)| *f == format!("{video}_{j}")));
            rows += frames.len();
        }
        assert_eq!(rows, features.len());
        let captions = read_captions(c.caption_path()).unwrap();
        assert_eq!(captions.len(), 2 * videos);
        for (i, caption) in captions.iter().enumerate() {
            assert_eq!(caption.id, format!("{}#enc#{}", set[i / 2], i % 2));
        }
    }
    let test = Collection::new(root, "synthtest");
    let text = test.dir().join("TextData");
    let shots = read_image_set(test.dir().join("VideoSets/synthtest.txt")).unwrap();
    assert_eq!(shots, read_image_set(test.image_set_path()).unwrap());
    let labels = SynthLabels::read(&text.join("synth.labels.json")).unwrap();
    assert_eq!(
        labels.collections().collect::<Vec<_>>(),
        ["synthtrain", "synthval", "synthtest"]
    );
    assert!(labels.describe("video12").is_some());
    let topics = read_topics(text.join("synth.avs.txt")).unwrap();
    assert_eq!(
        topics.iter().map(|t| t.number.as_str()).collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
    assert!(topics.iter().all(|t| t.query.starts_with("find shots of")));
    let qrels = std::fs::read_to_string(text.join("avs.qrels.synth")).unwrap();
    for line in qrels.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 5, "{line}");
        assert_eq!(f[1], "0");
        assert!(shots.iter().any(|s| s == f[2]), "{line}");
        assert!(
            ["1", "2"].contains(&f[3]) && ["1", "0", "-1"].contains(&f[4]),
            "{line}"
        );
    }
    let mut check = Command::cargo_bin("dualenc").unwrap();
    check
        .args([
            "check",
            "synthtrain",
            "synthval",
            "synthtest",
            "--feature",
            "synfeat",
            "--rootpath",
        ])
        .arg(root)
        .assert()
        .success();
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    for (dir, seed) in dirs.iter().zip(["5", "5", "6"]) {
        synth(dir.path(), &["--seed", seed]).assert().success();
    }
    let (a, b, c) = (
        snapshot(dirs[0].path()),
        snapshot(dirs[1].path()),
        snapshot(dirs[2].path()),
    );
    assert_eq!(a.len(), 22, "{:?}", a.keys().collect::<Vec<_>>());
    assert_eq!(a, b);
    let feature = Path::new("synthtrain/FeatureData/synfeat/feature.bin");
    let captions = Path::new("synthtrain/TextData/synthtrain.caption.txt");
    assert_ne!(a[feature], c[feature]);
    assert_ne!(a[captions], c[captions]);
}

#[test]
fn malformed_videos_flag_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["600,100", "a,b,c", "1,2,3,4"] {
        let mut cmd = Command::cargo_bin("dualenc").unwrap();
        cmd.args(["synth", "--videos", bad, "--rootpath"])
            .arg(dir.path())
            .assert()
            .failure()
            .stderr(
                predicate::str::contains("--videos")
                    .and(predicate::str::contains("TRAIN,VAL,TEST")),
            );
    }
    synth(dir.path(), &["--frames", "5,2"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--frames"));
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written"
    );
}

#[test]
fn existing_collections_need_overwrite_which_replaces_them() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path(), &[]).assert().success();
    let stale = dir.path().join("synthtrain/TextData/stale.txt");
    std::fs::write(&stale, "old").unwrap();
    synth(dir.path(), &[]).assert().failure().stderr(
        predicate::str::contains("synthtrain").and(predicate::str::contains("--overwrite")),
    );
    synth(dir.path(), &["--overwrite", "--json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"labels_file\""));
    assert!(!stale.exists());
}
