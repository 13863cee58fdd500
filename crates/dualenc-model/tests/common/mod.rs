//! Fixture access shared by the integration tests.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use dualenc_dataset::{collate_pairs, CaptionInput, PairBatch, VideoFrames, VIDEO_MAX_LEN};
use dualenc_model::model_dir::read_safetensors;
use dualenc_model::{Concate, ModelConfig, NamedTensor};

/// Folder of one reference fixture set (`model_full` / `model_reduced`): under
/// `$DUALENC_FIXTURES` when set (a test binary run on another machine, as
/// `scripts/gpu-check.sh` does), else the repository's `fixtures/reference`.
pub fn fixture_dir(name: &str) -> PathBuf {
    std::env::var_os("DUALENC_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../fixtures/reference/"
            ))
        })
        .join(name)
}

/// A fixture set: meta.json, the three safetensors files and the BoW vocabulary.
pub struct Fixture {
    pub meta: serde_json::Value,
    pub weights: Vec<NamedTensor>,
    pub inputs: HashMap<String, (Vec<usize>, Vec<f32>)>,
    pub eval: HashMap<String, (Vec<usize>, Vec<f32>)>,
    pub train: HashMap<String, (Vec<usize>, Vec<f32>)>,
    pub bow_words: Vec<String>,
}

fn as_map(tensors: Vec<NamedTensor>) -> HashMap<String, (Vec<usize>, Vec<f32>)> {
    tensors.into_iter().map(|(n, s, d)| (n, (s, d))).collect()
}

impl Fixture {
    pub fn load(name: &str) -> Self {
        let dir = fixture_dir(name);
        let meta = serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap();
        let bow_words = std::fs::read_to_string(dir.join("vocab_bow.txt"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        Self {
            meta,
            weights: read_safetensors(&dir.join("weights.safetensors")).unwrap(),
            inputs: as_map(read_safetensors(&dir.join("inputs.safetensors")).unwrap()),
            eval: as_map(read_safetensors(&dir.join("eval.safetensors")).unwrap()),
            train: as_map(read_safetensors(&dir.join("train_step.safetensors")).unwrap()),
            bow_words,
        }
    }

    /// The network configuration from the checkpoint's options (`meta.json["opt"]`).
    pub fn config(&self) -> ModelConfig {
        let opt = &self.meta["opt"];
        let size = |k: &str| opt[k].as_u64().unwrap() as usize;
        let list = |k: &str| -> Vec<usize> {
            opt[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect()
        };
        ModelConfig {
            visual_feat_dim: size("visual_feat_dim"),
            visual_rnn_size: size("visual_rnn_size"),
            visual_kernel_num: size("visual_kernel_num"),
            visual_kernel_sizes: list("visual_kernel_sizes"),
            visual_mapping_layers: list("visual_mapping_layers"),
            word_dim: size("word_dim"),
            text_rnn_size: size("text_rnn_size"),
            text_kernel_num: size("text_kernel_num"),
            text_kernel_sizes: list("text_kernel_sizes"),
            text_mapping_layers: list("text_mapping_layers"),
            concate: match opt["concate"].as_str().unwrap() {
                "full" => Concate::Full,
                _ => Concate::Reduced,
            },
            dropout: opt["dropout"].as_f64().unwrap(),
            bow_vocab_size: size("bow_vocab_size"),
            vocab_size: size("vocab_size"),
            text_norm: opt["text_norm"].as_bool().unwrap(),
            visual_norm: opt["visual_norm"].as_bool().unwrap(),
            video_max_len: 64,
        }
    }

    /// Raw videos in raw order.
    pub fn videos(&self) -> Vec<VideoFrames> {
        (0..5)
            .map(|i| {
                let (shape, data) = &self.inputs[&format!("raw.frames.{i}")];
                VideoFrames::new(data.clone(), shape[1]).unwrap()
            })
            .collect()
    }

    /// Raw captions in raw order: the reference's rnn ids, and BoW counts of the reference's
    /// `clean_str` tokens over `vocab_bow.txt` (computed here, independently of the batch).
    pub fn captions(&self) -> Vec<CaptionInput> {
        let raw = &self.meta["raw"];
        (0..5)
            .map(|i| {
                let ids = raw["rnn_ids_unpadded"][i]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_i64().unwrap())
                    .collect();
                let mut bow = vec![0.0f32; self.bow_words.len()];
                for token in raw["tokens"][i].as_array().unwrap() {
                    let token = token.as_str().unwrap();
                    if let Some(k) = self.bow_words.iter().position(|w| w == token) {
                        bow[k] += 1.0;
                    }
                }
                CaptionInput { ids, bow }
            })
            .collect()
    }
}

pub use dualenc_testkit::compare::max_abs_diff;

/// Asserts `|ours - reference| <= tol` everywhere.
pub fn assert_close(what: &str, ours: &[f32], reference: &[f32], tol: f32) {
    let diff = max_abs_diff(ours, reference);
    assert!(diff <= tol, "{what}: max |diff| {diff} > {tol}");
}

/// `[N, P, K]` row-major -> `[N, K, P]` (our conv outputs vs PyTorch's layout).
pub fn swap_last_two(data: &[f32], n: usize, p: usize, k: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for a in 0..n {
        for b in 0..p {
            for c in 0..k {
                out[(a * k + c) * p + b] = data[(a * p + b) * k + c];
            }
        }
    }
    out
}

/// The fixture's videos and captions collated as a training batch, as the original does.
pub fn pair_batch(fx: &Fixture) -> PairBatch {
    let videos = fx.videos();
    let captions = fx.captions();
    let v: Vec<&VideoFrames> = videos.iter().collect();
    let c: Vec<&CaptionInput> = captions.iter().collect();
    collate_pairs(&v, &c, VIDEO_MAX_LEN).unwrap()
}
