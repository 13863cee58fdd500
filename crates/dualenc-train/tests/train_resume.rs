//! End-to-end training on a tiny synthetic collection: the run folder's files, an
//! interrupted-then-resumed run equal to an uninterrupted one, and bad input refused before
//! training starts.

use std::path::Path;
use std::sync::Arc;

use dualenc_data::Collection;
use dualenc_model::{CpuAutodiffBackend, ModelConfig};
use dualenc_synth::{generate, FrameRange, SplitSizes, SynthConfig};
use dualenc_train::data::{load_run_data, DataSpec};
use dualenc_train::{
    train, EpochRecord, PairValidator, RunOptions, ScheduleConfig, TrainConfig, TrainError,
    TrainInputs,
};

const FEATURE: &str = "synfeat";

/// Burn's random stream (dropout) is global to the process and tests run on parallel threads:
/// tests that train take this lock so that each run sees only its own seeded stream.
static TRAINING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn training_lock() -> std::sync::MutexGuard<'static, ()> {
    TRAINING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn make_collection(root: &Path) {
    let cfg = SynthConfig {
        prefix: "tiny".into(),
        feature: FEATURE.into(),
        videos: SplitSizes {
            train: 24,
            val: 8,
            test: 8,
        },
        n_caption: 2,
        dim: 8,
        frames: FrameRange { min: 3, max: 6 },
        seed: 3,
        avs: 0,
        overwrite: false,
    };
    generate(root, &cfg).unwrap();
    dualenc_text::build_vocabularies(&Collection::new(root, "tinytrain"), 1, &mut |_, _| {})
        .unwrap();
}

fn spec(root: &Path) -> DataSpec {
    DataSpec {
        rootpath: root.to_path_buf(),
        train: "tinytrain".into(),
        val: "tinyval".into(),
        feature: FEATURE.into(),
        vocab: "word_vocab_1".into(),
    }
}

fn tiny_config(feature_dim: usize, bow: usize, rnn: usize) -> TrainConfig {
    let model = ModelConfig {
        visual_feat_dim: feature_dim,
        visual_rnn_size: 4,
        visual_kernel_num: 2,
        visual_mapping_layers: vec![0, 8],
        word_dim: 4,
        text_rnn_size: 4,
        text_kernel_num: 2,
        text_mapping_layers: vec![0, 8],
        bow_vocab_size: bow,
        vocab_size: rnn,
        ..ModelConfig::default()
    }
    .resolve()
    .unwrap();
    TrainConfig {
        model,
        batch_size: 10,
        schedule: ScheduleConfig {
            num_epochs: 3,
            ..ScheduleConfig::default()
        },
        seed: 11,
        ..TrainConfig::default()
    }
}

/// Trains into `out` (a fresh run, or a resumed one) and returns the result.
fn run(
    root: &Path,
    out: &Path,
    resume: bool,
    stop: Option<usize>,
) -> dualenc_train::Result<Vec<EpochRecord>> {
    let data = load_run_data(&spec(root))?;
    let config = tiny_config(data.feature_dim, data.bow_size, data.rnn_vocab.len());
    let mut validator = PairValidator::new(data.val, Some(2), 128, Default::default())?;
    let inputs = TrainInputs {
        train: Arc::new(data.train),
        vocab_files: data.vocab_files,
        word_vectors: None,
        extra: serde_json::Map::new(),
        initial_weights: None,
        order: Default::default(),
    };
    let options = RunOptions {
        out_dir: out.to_path_buf(),
        resume,
        stop_after_batches: stop,
    };
    let summary = train::<CpuAutodiffBackend, _>(
        &config,
        &inputs,
        &mut validator,
        &options,
        &Default::default(),
    )?;
    Ok(summary.history)
}

/// The parts of a record that must not depend on interruptions (not the timings).
fn outcome(history: &[EpochRecord]) -> Vec<String> {
    history
        .iter()
        .map(|r| format!("{:?} {} {} {:?}", r.outcome, r.steps, r.mean_loss, r.val))
        .collect()
}

/// A complete 3-epoch run in `root/run_a`, with its files checked.
fn straight_run(root: &Path) -> Vec<EpochRecord> {
    let straight = root.join("run_a");
    let history = run(root, &straight, false, None).unwrap();
    assert_eq!(history.len(), 3);
    // 48 training captions in batches of 10: four full batches and one of 8.
    assert!(history.iter().all(|r| r.steps == 5));
    for file in [
        "metrics.jsonl",
        "val_metric_hist.txt",
        "val_metric.txt",
        "train_config.json",
    ] {
        assert!(straight.join(file).is_file(), "{file}");
    }
    assert!(straight.join("model_best/model.safetensors").is_file());
    let hist = std::fs::read_to_string(straight.join("val_metric_hist.txt")).unwrap();
    assert_eq!(hist.lines().count(), 3);
    assert!(hist.starts_with("epoch_0: "), "{hist}");
    history
}

/// Stops `root/run_b` in the middle of its second epoch.
fn interrupted_run(root: &Path) {
    // Stop in the middle of the second epoch (after 5 + 2 batches), as a kill would.
    let cut = root.join("run_b");
    let err = run(root, &cut, false, Some(7)).unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::Interrupted {
                epoch: 1,
                batches: 2
            }
        ),
        "{err}"
    );
    let jsonl = std::fs::read_to_string(cut.join("metrics.jsonl")).unwrap();
    assert_eq!(
        jsonl.lines().count(),
        1,
        "only the complete epoch is on disk"
    );
    // A fresh run must not silently overwrite it.
    let again = run(root, &cut, false, None).unwrap_err().to_string();
    assert!(again.contains("already holds a training run"), "{again}");
}

#[test]
fn an_interrupted_run_keeps_its_last_complete_epoch() {
    let _guard = training_lock();
    let root = tempfile::tempdir().unwrap();
    make_collection(root.path());
    straight_run(root.path());
    interrupted_run(root.path());
}

#[test]
fn an_interrupted_run_resumes_to_the_uninterrupted_result() {
    let _guard = training_lock();
    let root = tempfile::tempdir().unwrap();
    make_collection(root.path());
    let history = straight_run(root.path());
    interrupted_run(root.path());
    let resumed = run(root.path(), &root.path().join("run_b"), true, None).unwrap();
    // Bit-for-bit: same seeds, same data order, same arithmetic on the same machine.
    assert_eq!(outcome(&resumed), outcome(&history));
    let a = std::fs::read(root.path().join("run_a/model_best/model.safetensors")).unwrap();
    let b = std::fs::read(root.path().join("run_b/model_best/model.safetensors")).unwrap();
    assert_eq!(a, b, "the best models are identical");
}

#[test]
fn resuming_without_a_checkpoint_is_an_error() {
    let _guard = training_lock();
    let root = tempfile::tempdir().unwrap();
    make_collection(root.path());
    let err = run(root.path(), &root.path().join("none"), true, None).unwrap_err();
    assert!(err.to_string().contains("no checkpoint"), "{err}");
}

#[test]
fn bad_input_stops_before_training() {
    let _guard = training_lock();
    let root = tempfile::tempdir().unwrap();
    make_collection(root.path());
    let out = root.path().join("out");

    let mut missing = spec(root.path());
    missing.val = "nosuchval".into();
    let err = load_run_data(&missing).err().unwrap().to_string();
    assert!(err.contains("validation collection nosuchval"), "{err}");

    let data = load_run_data(&spec(root.path())).unwrap();
    let err = PairValidator::new(data.val, Some(3), 128, Default::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("--n-caption 3"), "{err}");

    let captions = root.path().join("tinytrain/TextData/tinytrain.caption.txt");
    let original = std::fs::read_to_string(&captions).unwrap();
    std::fs::write(
        &captions,
        format!("{original}ghost#enc#0 a video without frames\n"),
    )
    .unwrap();
    let err = load_run_data(&spec(root.path())).err().unwrap().to_string();
    assert!(err.contains("ghost#enc#0"), "{err}");

    std::fs::write(
        &captions,
        format!("{original}{} ?!\n", first_video_caption(&original)),
    )
    .unwrap();
    let err = load_run_data(&spec(root.path())).err().unwrap().to_string();
    assert!(err.contains("has no word"), "{err}");
    assert!(!out.exists(), "nothing was written");
}

/// A new caption id for the first video of a caption file.
fn first_video_caption(captions: &str) -> String {
    let first = captions.split_whitespace().next().unwrap();
    let video = first.split('#').next().unwrap();
    format!("{video}#enc#99")
}

/// Overwrites the first value of the first row of `collection`'s features with `value`.
fn poison_features(root: &Path, collection: &str, value: f32) {
    use std::io::{Seek, SeekFrom, Write};
    let path = Collection::new(root, collection)
        .feature_dir(FEATURE)
        .join("feature.bin");
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.seek(SeekFrom::Start(0)).unwrap();
    file.write_all(&value.to_le_bytes()).unwrap();
}

#[test]
fn non_finite_features_are_refused_before_training() {
    for (collection, value) in [("tinytrain", f32::NAN), ("tinyval", f32::INFINITY)] {
        let dir = tempfile::tempdir().unwrap();
        make_collection(dir.path());
        poison_features(dir.path(), collection, value);
        let Err(err) = load_run_data(&spec(dir.path())) else {
            panic!("{collection}: features holding {value} were accepted");
        };
        let err = err.to_string();
        assert!(
            err.contains("NaN or infinity") && err.contains(&format!("{collection}/FeatureData")),
            "{collection}: {err}"
        );
    }
}

#[test]
fn a_nan_loss_stops_training_naming_the_batch_and_saves_nothing() {
    let _lock = training_lock();
    let dir = tempfile::tempdir().unwrap();
    make_collection(dir.path());
    let data = load_run_data(&spec(dir.path())).unwrap();
    let config = tiny_config(data.feature_dim, data.bow_size, data.rnn_vocab.len());
    let mut weights = dualenc_model::init::initial_tensors(&config.model, 1, None).unwrap();
    let fc1 = weights
        .iter_mut()
        .find(|(name, _, _)| name == "video.visual_mapping.fc1.weight")
        .unwrap();
    fc1.2[0] = f32::NAN;
    let mut validator = PairValidator::new(data.val, Some(2), 128, Default::default()).unwrap();
    let inputs = TrainInputs {
        train: Arc::new(data.train),
        vocab_files: data.vocab_files,
        word_vectors: None,
        extra: serde_json::Map::new(),
        initial_weights: Some(weights),
        order: Default::default(),
    };
    let out = dir.path().join("run");
    let options = RunOptions {
        out_dir: out.clone(),
        resume: false,
        stop_after_batches: None,
    };
    let err = train::<CpuAutodiffBackend, _>(
        &config,
        &inputs,
        &mut validator,
        &options,
        &Default::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::NonFinite {
                epoch: 1,
                batch: 1,
                ..
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("the loss is NaN") && message.contains("#enc#"),
        "{message}"
    );
    assert!(
        dualenc_train::checkpoint::latest(&out).unwrap().is_none(),
        "no epoch is saved"
    );
}
