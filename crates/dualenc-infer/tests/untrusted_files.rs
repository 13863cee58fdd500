//! Importing and loading untrusted files: special files are refused without reading them,
//! and weights that are not finite (NaN, inf) are refused naming the file, the tensor and
//! the first bad index, both in a checkpoint and in a model folder.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use dualenc_infer::{import_checkpoint, VocabOverrides};
use dualenc_model::model_dir::{read_safetensors, write_safetensors, WEIGHTS_FILE};
use dualenc_model::ModelDir;
use dualenc_text::{TextStyle, Vocabulary};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/reference");

fn fixture(rel: &str) -> PathBuf {
    Path::new(FIXTURES).join(rel)
}

/// The model_full vocabularies as JSON files in `dir`, as import overrides.
fn vocab_overrides(dir: &Path) -> VocabOverrides {
    let [bow, rnn] = [("bow", TextStyle::Bow), ("rnn", TextStyle::Rnn)].map(|(style, kind)| {
        let text =
            std::fs::read_to_string(fixture(&format!("model_full/vocab_{style}.txt"))).unwrap();
        let path = dir.join(format!("{style}.json"));
        Vocabulary::from_words(kind, text.lines().map(str::to_string).collect())
            .unwrap()
            .save_json(&path)
            .unwrap();
        path
    });
    VocabOverrides {
        bow: Some(bow),
        rnn: Some(rnn),
    }
}

/// Runs `work` on another thread and returns its error text, panicking after `secs` (a
/// reader that blocks or never stops must not hang the test run).
fn error_within<F>(secs: u64, work: F) -> String
where
    F: FnOnce() -> Result<(), String> + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(result) => result.expect_err("a special file must not load"),
        Err(_) => panic!("reading did not finish within {secs} s"),
    }
}

/// `import_checkpoint` with the model_full vocabularies, its error text within 5 s.
fn import_error(checkpoint: PathBuf, overrides: Option<VocabOverrides>) -> String {
    error_within(5, move || {
        let tmp = tempfile::tempdir().unwrap();
        let overrides = overrides.unwrap_or_else(|| vocab_overrides(tmp.path()));
        import_checkpoint(&checkpoint, tmp.path(), &overrides, &tmp.path().join("m"))
            .map(drop)
            .map_err(|e| e.to_string())
    })
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo failed");
}

#[test]
fn importing_dev_zero_fails_fast() {
    let err = import_error(PathBuf::from("/dev/zero"), None);
    assert!(
        err.contains("/dev/zero") && err.contains("not a regular file"),
        "{err}"
    );
}

#[test]
fn importing_a_fifo_fails_fast() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("model_best.pth.tar");
    mkfifo(&fifo);
    let err = import_error(fifo, None);
    assert!(
        err.contains("model_best.pth.tar") && err.contains("not a regular file"),
        "{err}"
    );
}

#[test]
fn vocabulary_that_is_dev_zero_fails_fast() {
    let tmp = tempfile::tempdir().unwrap();
    let mut overrides = vocab_overrides(tmp.path());
    overrides.bow = Some(PathBuf::from("/dev/zero"));
    let err = import_error(fixture("model_full/checkpoint.pth"), Some(overrides));
    assert!(
        err.contains("/dev/zero") && err.contains("not a regular file"),
        "{err}"
    );
}

/// The model_full zip checkpoint imported into `dir/model`.
fn imported_model(dir: &Path) -> PathBuf {
    let out = dir.join("model");
    import_checkpoint(
        &fixture("model_full/checkpoint.pth"),
        dir,
        &vocab_overrides(dir),
        &out,
    )
    .unwrap();
    out
}

#[test]
fn model_weights_that_are_a_fifo_fail_fast() {
    let tmp = tempfile::tempdir().unwrap();
    let model = imported_model(tmp.path());
    let weights = model.join(WEIGHTS_FILE);
    std::fs::remove_file(&weights).unwrap();
    mkfifo(&weights);
    let err = error_within(5, move || {
        ModelDir::read(&model).map(drop).map_err(|e| e.to_string())
    });
    assert!(
        err.contains(WEIGHTS_FILE) && err.contains("not a regular file"),
        "{err}"
    );
}

#[test]
fn model_folder_with_a_nan_weight_does_not_load() {
    let tmp = tempfile::tempdir().unwrap();
    let model = imported_model(tmp.path());
    let weights = model.join(WEIGHTS_FILE);
    let mut tensors = read_safetensors(&weights).unwrap();
    let (_, _, data) = tensors
        .iter_mut()
        .find(|(name, _, _)| name == "text.rnn.weight_hh_l0")
        .unwrap();
    data[7] = f32::NAN;
    write_safetensors(&weights, &tensors).unwrap();

    let err = match ModelDir::read(&model) {
        Ok(_) => panic!("a NaN weight loaded"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(WEIGHTS_FILE)
            && err.contains("text.rnn.weight_hh_l0")
            && err.contains("NaN")
            && err.contains("index 7"),
        "{err}"
    );
}

#[test]
fn checkpoint_with_an_infinite_weight_is_not_imported() {
    let tmp = tempfile::tempdir().unwrap();
    // The legacy format stores raw storages with no checksum: find the tensor's bytes.
    let mut bytes = std::fs::read(fixture("model_full/checkpoint_legacy.pth")).unwrap();
    let weights = read_safetensors(&fixture("model_full/weights.safetensors")).unwrap();
    let (_, _, data) = weights
        .iter()
        .find(|(name, _, _)| name == "video.rnn.weight_ih_l0")
        .unwrap();
    let head: Vec<u8> = data[..8].iter().flat_map(|x| x.to_le_bytes()).collect();
    let starts: Vec<usize> = (0..bytes.len() - head.len())
        .filter(|&i| bytes[i..i + head.len()] == head[..])
        .collect();
    assert_eq!(starts.len(), 1, "the tensor's bytes must be unique");
    let at = starts[0] + 5 * 4;
    bytes[at..at + 4].copy_from_slice(&f32::INFINITY.to_le_bytes());
    let checkpoint = tmp.path().join("inf.pth");
    std::fs::write(&checkpoint, &bytes).unwrap();

    let err = import_error(checkpoint, None);
    assert!(
        err.contains("inf.pth")
            && err.contains("video.rnn.weight_ih_l0")
            && err.contains("inf")
            && err.contains("index 5"),
        "{err}"
    );
}
