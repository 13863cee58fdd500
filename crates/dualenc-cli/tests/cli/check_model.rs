//! `dualenc check --model DIR`: the model's frame feature against the collections' (a
//! warning naming both when the names differ, a problem when the dimensions differ), in the
//! table and in the JSON.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

use crate::data::{make, FEAT};

/// A model folder whose options say it was trained on `feature` of `dim`-d frames (only
/// `config.json`: the check reads nothing else).
fn model(root: &Path, feature: &str, dim: usize) -> PathBuf {
    let dir = root.join(format!("model-{feature}-{dim}"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = serde_json::json!({
        "model": {"visual_feat_dim": dim},
        "extra": {"visual_feature": feature, "trainCollection": "tr"},
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    dir
}

/// `dualenc check tr va te --feature resnet --model MODEL` over the collections in `root`.
fn check(root: &Path, model: &Path) -> Command {
    let mut cmd = Command::cargo_bin("dualenc").unwrap();
    cmd.args(["check", "tr", "va", "te", "--feature", FEAT, "--rootpath"])
        .arg(root)
        .arg("--model")
        .arg(model);
    cmd
}

/// Three clean collections in a temporary root.
fn collections() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["tr", "va", "te"] {
        make(tmp.path(), name, 2);
    }
    tmp
}

#[test]
fn check_model_of_the_same_feature_passes_quietly() {
    let tmp = collections();
    let model = model(tmp.path(), FEAT, 3);
    check(tmp.path(), &model)
        .assert()
        .success()
        .stdout(predicate::str::contains("warning").not())
        .stdout(predicate::str::contains("format check passed"));
}

#[test]
fn check_model_of_another_feature_warns_naming_both() {
    let tmp = collections();
    let model = model(tmp.path(), "i3d", 3);
    check(tmp.path(), &model)
        .assert()
        .success()
        .stdout(predicate::str::contains("model: warning: the model "))
        .stdout(predicate::str::contains(
            "trained on feature i3d but feature resnet is used",
        ))
        .stdout(predicate::str::contains("format check passed"));
    let out = check(tmp.path(), &model)
        .arg("--json")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json["model"]["model_feature"], "i3d");
    assert_eq!(json["model"]["feature"], FEAT);
    assert_eq!(json["model"]["warnings"].as_array().unwrap().len(), 1);
    assert_eq!(json["collections"][0]["dim"], 3);
}

#[test]
fn check_model_of_another_dimension_fails() {
    let tmp = collections();
    let model = model(tmp.path(), FEAT, 2048);
    check(tmp.path(), &model)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "model: problem: tr: feature resnet has 3-d frames but the model",
        ))
        .stdout(predicate::str::contains("takes 2048-d frames"))
        .stdout(predicate::str::contains("format check passed").not())
        .stderr(predicate::str::contains(
            "format check failed: 3 problem(s)",
        ));
}

#[test]
fn check_model_without_options_is_an_error() {
    let tmp = collections();
    let empty = tmp.path().join("not-a-model");
    std::fs::create_dir(&empty).unwrap();
    check(tmp.path(), &empty)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("config.json"));
}
