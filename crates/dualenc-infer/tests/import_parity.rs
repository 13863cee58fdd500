//! Checkpoint import and encoding against the original's reference outputs
//! (`fixtures/reference/model_{full,reduced}` and `fixtures/reference/training`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use dualenc_dataset::{CaptionSet, InMemoryVideos, PairData, VideoFrames};
use dualenc_infer::tester::metrics_of;
use dualenc_infer::{
    encode_collection_pairs, encode_collection_pairs_with, import_checkpoint, CaptionLayout,
    CollectionEmbeddings, EncodeOptions, LoadedModel, PaddingMode, VocabOverrides,
};
use dualenc_model::CpuBackend;
use dualenc_text::{TextStyle, Vocabulary};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/reference");

fn fixture(rel: &str) -> PathBuf {
    Path::new(FIXTURES).join(rel)
}

fn json(rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture(rel)).unwrap()).unwrap()
}

/// Every tensor of a safetensors fixture as f64 (F32, F64 and I64 are used there).
fn tensors(rel: &str) -> HashMap<String, Vec<f64>> {
    let bytes = std::fs::read(fixture(rel)).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            let data = view.data();
            let values = match view.dtype() {
                Dtype::F32 => data
                    .chunks_exact(4)
                    .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())))
                    .collect(),
                Dtype::F64 => data
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
                Dtype::I64 => data
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect(),
                other => panic!("{name}: unexpected dtype {other:?}"),
            };
            (name, values)
        })
        .collect()
}

/// Writes `vocab_{bow,rnn}.txt` of `dir` as our JSON vocabularies where the checkpoint's
/// options look for them (`ROOT/tinytrain/TextData/vocabulary/STYLE/word_vocab_1.json`).
fn vocab_tree(dir: &str, root: &Path, drop_last_rnn_word: bool) {
    for (style, kind) in [("bow", TextStyle::Bow), ("rnn", TextStyle::Rnn)] {
        let text = std::fs::read_to_string(fixture(&format!("{dir}/vocab_{style}.txt"))).unwrap();
        let mut words: Vec<String> = text.lines().map(str::to_string).collect();
        if drop_last_rnn_word && style == "rnn" {
            words.pop();
        }
        let out = root.join(format!("tinytrain/TextData/vocabulary/{style}"));
        std::fs::create_dir_all(&out).unwrap();
        Vocabulary::from_words(kind, words)
            .unwrap()
            .save_json(out.join("word_vocab_1.json"))
            .unwrap();
    }
}

/// The five raw pairs of `inputs.safetensors` / `meta.json`, captions encoded with the model's
/// vocabularies (pair i = video i with caption i).
fn raw_pairs(dir: &str, loaded: &LoadedModel<CpuBackend>) -> PairData {
    let meta = json(&format!("{dir}/meta.json"));
    let inputs = tensors(&format!("{dir}/inputs.safetensors"));
    let raw = &meta["raw"];
    let ids: Vec<String> = raw["video_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let frames = (0..ids.len())
        .map(|i| {
            let data = inputs[&format!("raw.frames.{i}")]
                .iter()
                .map(|&x| x as f32)
                .collect();
            VideoFrames::new(data, 16).unwrap()
        })
        .collect();
    let cap_ids = raw["cap_ids"].as_array().unwrap();
    let captions = raw["captions"].as_array().unwrap();
    let set: CaptionSet = loaded.vocab.encode_all(
        cap_ids
            .iter()
            .zip(captions)
            .map(|(id, text)| (id.as_str().unwrap(), text.as_str().unwrap())),
    );
    for (tokens, expected) in set
        .tokens
        .iter()
        .zip(raw["rnn_ids_unpadded"].as_array().unwrap())
    {
        let expected: Vec<i64> = expected
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        assert_eq!(tokens.ids, expected, "rnn ids of the raw captions");
    }
    let videos = InMemoryVideos::new(ids, frames).unwrap();
    PairData::new(set, (0..5).collect(), Box::new(videos)).unwrap()
}

/// Largest absolute difference between `ours` (raw order) and `reference` rows in collated
/// order (`perm[k]` = raw row of collated row k), or in raw order when `perm` is `None`;
/// NaN when either side holds NaN.
fn max_diff(ours: &[f32], reference: &[f64], dim: usize, perm: Option<&[usize]>) -> f64 {
    let mut worst = 0.0f64;
    for (k, expected) in reference.chunks_exact(dim).enumerate() {
        let raw = perm.map_or(k, |p| p[k]);
        for (a, b) in ours[raw * dim..(raw + 1) * dim].iter().zip(expected) {
            let d = (f64::from(*a) - b).abs();
            worst = if d.is_nan() || worst.is_nan() {
                f64::NAN
            } else {
                worst.max(d)
            };
        }
    }
    worst
}

fn import_and_load(dir: &str, checkpoint: &str) -> (tempfile::TempDir, LoadedModel<CpuBackend>) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("VisualSearch");
    vocab_tree(dir, &root, false);
    let out = tmp.path().join("model");
    let report = import_checkpoint(
        &fixture(&format!("{dir}/{checkpoint}")),
        &root,
        &VocabOverrides::default(),
        &out,
    )
    .unwrap();
    assert_eq!(report.epoch, 3);
    assert_eq!(report.best_rsum, Some(123.4));
    assert_eq!(
        (report.config.bow_vocab_size, report.config.vocab_size),
        (34, 38)
    );
    let loaded = LoadedModel::<CpuBackend>::load(&out, &Default::default()).unwrap();
    assert_eq!(loaded.feature(), Some("tinyfeat"));
    (tmp, loaded)
}

fn check_embeddings(dir: &str, checkpoint: &str) {
    let (_tmp, loaded) = import_and_load(dir, checkpoint);
    let data = raw_pairs(dir, &loaded);
    let eval = tensors(&format!("{dir}/eval.safetensors"));
    let perm: Vec<usize> = eval_perm(dir);
    // Tolerance 1e-5 absolute: float32 network, reference embeddings of unit norm.
    let embs = encode_collection_pairs(&loaded.model, &data, 128).unwrap();
    let video = max_diff(&embs.video_embs, &eval["video_emb"], 12, Some(&perm));
    let text = max_diff(&embs.caption_embs, &eval["text_emb"], 12, Some(&perm));
    assert!(
        video < 1e-5 && text < 1e-5,
        "{dir}/{checkpoint}: video {video}, text {text}"
    );
    // Batch-independent mode: each item as the original encodes it alone (same tolerance).
    let options = EncodeOptions {
        batch_size: 128,
        padding: PaddingMode::Item,
    };
    let alone = encode_collection_pairs_with(&loaded.model, &data, &options, &mut |_| {}).unwrap();
    let video = max_diff(
        &alone.video_embs,
        &eval["video_emb_alone_raw_order"],
        12,
        None,
    );
    let text = max_diff(
        &alone.caption_embs,
        &eval["text_emb_alone_raw_order"],
        12,
        None,
    );
    assert!(
        video < 1e-5 && text < 1e-5,
        "{dir}/{checkpoint} alone: video {video}, text {text}"
    );
    // Batches of 2 give other video embeddings (batch dependence), yet each caption's
    // embedding is a unit vector.
    let small = encode_collection_pairs(&loaded.model, &data, 2).unwrap();
    assert!(max_diff(&small.video_embs, &eval["video_emb"], 12, Some(&perm)) > 1e-4);
}

fn eval_perm(dir: &str) -> Vec<usize> {
    json(&format!("{dir}/meta.json"))["collated"]["perm"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn zip_checkpoint_imports_and_reproduces_the_reference_embeddings() {
    check_embeddings("model_full", "checkpoint.pth");
}

#[test]
fn legacy_checkpoints_import_and_reproduce_the_reference_embeddings() {
    check_embeddings("model_full", "checkpoint_legacy.pth");
    check_embeddings("model_full", "checkpoint_legacy_cuda.pth");
}

#[test]
fn reduced_checkpoint_imports_and_reproduces_the_reference_embeddings() {
    check_embeddings("model_reduced", "checkpoint.pth");
}

#[test]
fn vocabulary_of_the_wrong_size_is_refused_naming_the_embedding() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("VisualSearch");
    vocab_tree("model_full", &root, true);
    let err = import_checkpoint(
        &fixture("model_full/checkpoint.pth"),
        &root,
        &VocabOverrides::default(),
        &tmp.path().join("model"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("vocab_size is 38") || err.contains("rows"),
        "{err}"
    );
    assert!(!tmp.path().join("model").exists());
}

#[test]
fn bow_vocabulary_of_the_wrong_size_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("VisualSearch");
    vocab_tree("model_full", &root, false);
    let bow = tmp.path().join("bow.json");
    Vocabulary::from_words(TextStyle::Bow, vec!["a".into(), "b".into()])
        .unwrap()
        .save_json(&bow)
        .unwrap();
    let overrides = VocabOverrides {
        bow: Some(bow),
        rnn: None,
    };
    let err = import_checkpoint(
        &fixture("model_full/checkpoint.pth"),
        &root,
        &overrides,
        &tmp.path().join("m"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("bow_vocab_size is 34") && err.contains("2 words"),
        "{err}"
    );
}

#[test]
fn missing_vocabulary_names_the_path_and_the_option() {
    let tmp = tempfile::tempdir().unwrap();
    let err = import_checkpoint(
        &fixture("model_full/checkpoint.pth"),
        tmp.path(),
        &VocabOverrides::default(),
        &tmp.path().join("m"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("word_vocab_1.pkl") && err.contains("--bow-vocab"),
        "{err}"
    );
}

#[test]
fn truncated_and_foreign_files_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("VisualSearch");
    vocab_tree("model_full", &root, false);
    for name in ["checkpoint.pth", "checkpoint_legacy.pth"] {
        let bytes = std::fs::read(fixture(&format!("model_full/{name}"))).unwrap();
        let cut = tmp.path().join(format!("cut-{name}"));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let result = import_checkpoint(
            &cut,
            &root,
            &VocabOverrides::default(),
            &tmp.path().join("m"),
        );
        assert!(result.is_err(), "{name} cut in half imported");
    }
    // A pickle that is no checkpoint: an original vocabulary.
    let err = import_checkpoint(
        &fixture("vocab/bow_word_vocab_5.pkl"),
        &root,
        &VocabOverrides::default(),
        &tmp.path().join("m"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("bow_word_vocab_5.pkl"), "{err}");
}

#[test]
fn trained_checkpoint_imports_and_its_test_embeddings_give_the_reference_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let overrides = VocabOverrides {
        bow: Some(fixture("training/vocab/bow_word_vocab_5.pkl")),
        rnn: Some(fixture("training/vocab/rnn_word_vocab_5.pkl")),
    };
    let out = tmp.path().join("model");
    let report = import_checkpoint(
        &fixture("training/seed0_model_best.pth.tar"),
        tmp.path(),
        &overrides,
        &out,
    )
    .unwrap();
    let c = &report.config;
    assert_eq!(
        (c.visual_rnn_size, c.visual_kernel_num, c.embedding_dim()),
        (64, 32, 256)
    );
    assert_eq!((c.bow_vocab_size, c.vocab_size), (132, 136));
    LoadedModel::<CpuBackend>::load(&out, &Default::default()).unwrap();

    let embs = tensors("training/seed0_test_embeddings.safetensors");
    let ids = json("training/seed0_test_embeddings.ids.json");
    let strings = |key: &str| -> Vec<String> {
        ids[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let collection = CollectionEmbeddings {
        dim: 256,
        video_ids: strings("video_ids"),
        video_embs: embs["video_embs"].iter().map(|&x| x as f32).collect(),
        caption_ids: strings("caption_ids"),
        caption_embs: embs["cap_embs"].iter().map(|&x| x as f32).collect(),
    };
    let metrics = metrics_of(
        &collection,
        &collection.errors(Default::default()),
        CaptionLayout::Fixed(5),
    )
    .unwrap();
    // Synthetic test captions repeat across videos, so the v2t columns hold exact ties (40,800
    // tied entries). The reference ran numpy's default (unstable) argsort; we use the documented
    // stable order (lower caption index first): the original's evaluation with
    // `argsort(kind='stable')` on these embeddings is `seed0_test_metrics_argsort.json`'s
    // `stable_argsort`. Its `default_argsort` must be results.json's seed 0 test (the same
    // embeddings), which ties the two fixtures together.
    let argsort = json("training/seed0_test_metrics_argsort.json");
    let results = json("training/results.json");
    for key in ["t2v", "v2t"] {
        let default = argsort["default_argsort"][key].as_object().unwrap();
        for (name, value) in default {
            assert_eq!(
                value, &results["seeds"][0]["test"][key][name],
                "{key} {name}"
            );
        }
    }
    let test = &argsort["stable_argsort"];
    for (ours, key) in [(&metrics.t2v, "t2v"), (&metrics.v2t, "v2t")] {
        let expected = &test[key];
        let values = [ours.r1, ours.r5, ours.r10, ours.medr, ours.meanr, ours.map];
        let names = ["r1", "r5", "r10", "medr", "meanr", "mAP"];
        for (value, name) in values.iter().zip(names) {
            let want = expected[name].as_f64().unwrap();
            // Tolerance 1e-9: the same float64 computation, up to summation order in the mAP.
            assert!(
                (value - want).abs() < 1e-9,
                "{key} {name}: {value} vs {want}"
            );
        }
    }
}
