//! `dualenc train`, `all` and `demo` from the command line: a small demo, a training run
//! killed mid-epoch and resumed, and bad input refused before training.

use crate::common::dualenc;
use assert_cmd::Command;
use predicates::prelude::*;
use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A tiny synthetic root with a vocabulary (threshold 1).
fn tiny_root(root: &Path) {
    dualenc()
        .args(["synth", "--rootpath"])
        .arg(root)
        .args([
            "--prefix",
            "t",
            "--videos",
            "30,8,8",
            "--n-caption",
            "2",
            "--dim",
            "8",
        ])
        .args(["--frames", "3,6", "--seed", "5"])
        .assert()
        .success();
}

/// Tiny network options for `train` / `all`.
const TINY: &[&str] = &[
    "--feature",
    "synfeat",
    "--vocab",
    "word_vocab_1",
    "--word-dim",
    "8",
    "--text-rnn-size",
    "4",
    "--visual-rnn-size",
    "4",
    "--text-kernel-num",
    "2",
    "--visual-kernel-num",
    "2",
    "--text-mapping-layers",
    "0-8",
    "--visual-mapping-layers",
    "0-8",
    "--batch-size",
    "8",
    "--device",
    "cpu",
    "--seed",
    "3",
];

#[test]
fn quick_demo_prints_metrics_and_searches() {
    let dir = tempfile::tempdir().unwrap();
    dualenc()
        .args([
            "demo", "--quick", "--epochs", "2", "--device", "cpu", "--dir",
        ])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("text-to-video"))
        .stdout(predicate::str::contains("example searches"))
        .stdout(predicate::str::contains("shows:"));
    assert!(dir
        .path()
        .join("run/model_best/model.safetensors")
        .is_file());
}

/// `--precision bf16` trains (mixed precision: AMX tiles or emulated on the CPU) and the run
/// records it.
#[test]
fn quick_demo_trains_in_bf16_and_records_it() {
    let dir = tempfile::tempdir().unwrap();
    dualenc()
        .args(["demo", "--quick", "--epochs", "1", "--device", "cpu"])
        .args(["--precision", "bf16", "--dir"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("text-to-video"));
    let config = std::fs::read_to_string(dir.path().join("run/train_config.json")).unwrap();
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(config["extra"]["trainer"]["precision"], "bf16", "{config}");
}

#[test]
fn all_builds_every_step_then_skips_them() {
    let dir = tempfile::tempdir().unwrap();
    tiny_root(dir.path());
    let out = dir.path().join("run");
    let run = |expect: &str| {
        dualenc()
            .args(["all", "--rootpath"])
            .arg(dir.path())
            .args([
                "ttrain",
                "tval",
                "ttest",
                "full",
                "--threshold",
                "1",
                "--n-caption",
                "2",
            ])
            .args(TINY)
            .args(["--num-epochs", "2", "--out"])
            .arg(&out)
            .assert()
            .success()
            .stdout(predicate::str::contains(expect))
            .stdout(predicate::str::contains("video-to-text"));
    };
    run("[train] training");
    run("[train] done already");
}

/// Arguments of `train` into `out` (`resume`: continue the run there).
fn train_args(root: &Path, out: &Path, resume: bool, n_caption: &str) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["train".into(), "--rootpath".into(), root.into()];
    let rest = [
        "ttrain",
        "tval",
        "ttest",
        "--num-epochs",
        "6",
        "--n-caption",
        n_caption,
        "--json",
    ];
    args.extend(rest.iter().chain(TINY).map(OsString::from));
    args.push(if resume { "--resume" } else { "--out" }.into());
    args.push(out.into());
    args
}

/// `train` into `out` with two captions per validation video.
fn train_cmd(root: &Path, out: &Path, resume: bool) -> Command {
    let mut cmd = dualenc();
    cmd.args(train_args(root, out, resume, "2"));
    cmd
}

fn final_history(stdout: &[u8]) -> Vec<serde_json::Value> {
    let json: serde_json::Value = serde_json::from_slice(stdout).unwrap_or_else(|e| {
        panic!(
            "train --json printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(stdout)
        )
    });
    json["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let obj = r.as_object_mut().unwrap();
            obj.remove("train_s");
            obj.remove("val_s");
            r
        })
        .collect()
}

#[test]
fn a_killed_run_resumes_to_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tiny_root(root);
    dualenc()
        .args(["vocab", "--rootpath"])
        .arg(root)
        .args(["ttrain", "--threshold", "1"])
        .assert()
        .success();
    let straight = train_cmd(root, &root.join("a"), false).assert().success();
    let expected = final_history(&straight.get_output().stdout);
    assert_eq!(expected.len(), 6);

    // Kill the process once the first epoch's checkpoint exists (mid-training).
    let out = root.join("b");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dualenc"))
        .args(train_args(root, &out, false, "2"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let latest = out.join("checkpoint/LATEST");
    let start = Instant::now();
    while !latest.exists() && start.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(latest.exists(), "no checkpoint was written");

    let resumed = train_cmd(root, &out, true).assert().success();
    assert_eq!(final_history(&resumed.get_output().stdout), expected);
}

#[test]
fn bad_input_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tiny_root(root);
    let out = root.join("run");
    // No vocabulary yet.
    train_cmd(root, &out, false)
        .assert()
        .failure()
        .stderr(predicate::str::contains("dualenc vocab"));
    dualenc()
        .args(["vocab", "--rootpath"])
        .arg(root)
        .args(["ttrain", "--threshold", "1"])
        .assert()
        .success();
    // Missing split.
    dualenc()
        .args(["train", "--rootpath"])
        .arg(root)
        .args(["ttrain", "nosuchval", "ttest"])
        .args(TINY)
        .assert()
        .failure()
        .stderr(predicate::str::contains("validation collection nosuchval"));
    // n-caption mismatch.
    dualenc()
        .args(train_args(root, &out, false, "3"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("--n-caption 3"));
    assert!(!out.join("checkpoint").exists());
}
