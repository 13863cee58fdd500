//! Network configuration: every size of the Dual Encoding network, with the paper's defaults.
//!
//! Field names follow the original trainer's options (`opt`), so a checkpoint's options map
//! onto this struct one to one.

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// Which levels enter the common-space mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Concate {
    /// Levels 2, 3 and 1, in that order (`[level2, level3, level1]`).
    #[default]
    Full,
    /// Levels 2 and 3 only.
    Reduced,
}

/// Every size and switch of the network (not the loss or the optimiser).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Dimension of one frame feature (2048 for ResNet-152).
    pub visual_feat_dim: usize,
    /// Hidden size of each direction of the video biGRU.
    pub visual_rnn_size: usize,
    /// Number of filters per window size of the video CNN.
    pub visual_kernel_num: usize,
    /// Window sizes of the video CNN.
    pub visual_kernel_sizes: Vec<usize>,
    /// Video mapping layers `[in, out]`; `in` is recomputed by [`ModelConfig::resolve`].
    pub visual_mapping_layers: Vec<usize>,
    /// Word embedding dimension.
    pub word_dim: usize,
    /// Hidden size of each direction of the text biGRU.
    pub text_rnn_size: usize,
    /// Number of filters per window size of the text CNN.
    pub text_kernel_num: usize,
    /// Window sizes of the text CNN.
    pub text_kernel_sizes: Vec<usize>,
    /// Text mapping layers `[in, out]`; `in` is recomputed by [`ModelConfig::resolve`].
    pub text_mapping_layers: Vec<usize>,
    /// Which levels are concatenated.
    pub concate: Concate,
    /// Dropout probability (levels 2 and 3, and after the mapping's BatchNorm).
    pub dropout: f64,
    /// Size of the bag-of-words vocabulary (text level 1).
    pub bow_vocab_size: usize,
    /// Size of the RNN vocabulary (rows of the word embedding).
    pub vocab_size: usize,
    /// L2-normalise text embeddings.
    pub text_norm: bool,
    /// L2-normalise video embeddings.
    pub visual_norm: bool,
    /// Frames entering levels 2-3 (the original's `VIDEO_MAX_LEN`).
    pub video_max_len: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            visual_feat_dim: 2048,
            visual_rnn_size: 1024,
            visual_kernel_num: 512,
            visual_kernel_sizes: vec![2, 3, 4, 5],
            visual_mapping_layers: vec![0, 2048],
            word_dim: 500,
            text_rnn_size: 512,
            text_kernel_num: 512,
            text_kernel_sizes: vec![2, 3, 4],
            text_mapping_layers: vec![0, 2048],
            concate: Concate::Full,
            dropout: 0.2,
            bow_vocab_size: 7807,
            vocab_size: 7811,
            text_norm: true,
            visual_norm: true,
            video_max_len: 64,
        }
    }
}

impl ModelConfig {
    /// Input size of the video mapping: `2 H_v + K_v * |sizes|` (+ `visual_feat_dim` when full).
    pub fn visual_mapping_in(&self) -> usize {
        let level1 = match self.concate {
            Concate::Full => self.visual_feat_dim,
            Concate::Reduced => 0,
        };
        2 * self.visual_rnn_size + self.visual_kernel_num * self.visual_kernel_sizes.len() + level1
    }

    /// Input size of the text mapping: `2 H_t + K_t * |sizes|` (+ `bow_vocab_size` when full).
    pub fn text_mapping_in(&self) -> usize {
        let level1 = match self.concate {
            Concate::Full => self.bow_vocab_size,
            Concate::Reduced => 0,
        };
        2 * self.text_rnn_size + self.text_kernel_num * self.text_kernel_sizes.len() + level1
    }

    /// Dimension of the common space (last video mapping layer).
    pub fn embedding_dim(&self) -> usize {
        self.visual_mapping_layers.last().copied().unwrap_or(0)
    }

    /// Replaces the first entry of both mapping lists by the real input size (as the original
    /// trainer does with its `0-2048` option) and validates the result.
    pub fn resolve(mut self) -> Result<Self> {
        if let Some(first) = self.visual_mapping_layers.first_mut() {
            *first = 0;
        }
        let (v_in, t_in) = (self.visual_mapping_in(), self.text_mapping_in());
        if let Some(first) = self.visual_mapping_layers.first_mut() {
            *first = v_in;
        }
        if let Some(first) = self.text_mapping_layers.first_mut() {
            *first = t_in;
        }
        self.validate()?;
        Ok(self)
    }

    /// Checks that every size is usable and that the mapping lists are resolved.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("visual_feat_dim", self.visual_feat_dim),
            ("visual_rnn_size", self.visual_rnn_size),
            ("visual_kernel_num", self.visual_kernel_num),
            ("word_dim", self.word_dim),
            ("text_rnn_size", self.text_rnn_size),
            ("text_kernel_num", self.text_kernel_num),
            ("bow_vocab_size", self.bow_vocab_size),
            ("vocab_size", self.vocab_size),
            ("video_max_len", self.video_max_len),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ModelError::Config(format!("{name} must be at least 1")));
        }
        check_kernel_sizes("visual_kernel_sizes", &self.visual_kernel_sizes)?;
        check_kernel_sizes("text_kernel_sizes", &self.text_kernel_sizes)?;
        check_mapping(
            "visual_mapping_layers",
            &self.visual_mapping_layers,
            self.visual_mapping_in(),
        )?;
        check_mapping(
            "text_mapping_layers",
            &self.text_mapping_layers,
            self.text_mapping_in(),
        )?;
        if self.visual_mapping_layers.last() != self.text_mapping_layers.last() {
            return Err(ModelError::Config(format!(
                "video and text mapping must end in the same space: {:?} vs {:?}",
                self.visual_mapping_layers, self.text_mapping_layers
            )));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(ModelError::Config(format!(
                "dropout must be in [0, 1), got {}",
                self.dropout
            )));
        }
        Ok(())
    }
}

fn check_kernel_sizes(name: &str, sizes: &[usize]) -> Result<()> {
    if sizes.is_empty() || sizes.contains(&0) {
        return Err(ModelError::Config(format!(
            "{name} must list window sizes of at least 1, got {sizes:?}"
        )));
    }
    Ok(())
}

fn check_mapping(name: &str, layers: &[usize], expected_in: usize) -> Result<()> {
    match layers {
        [first, out] if *first == expected_in && *out > 0 => Ok(()),
        [_, out] if *out > 0 => Err(ModelError::Config(format!(
            "{name}: first entry must be the mapping input size {expected_in}, got {layers:?} \
             (call ModelConfig::resolve)"
        ))),
        _ => Err(ModelError::Config(format!(
            "{name} must be two sizes `in-out` (one Linear layer, as the original supports), got {layers:?}"
        ))),
    }
}

/// Parses a dash-separated list of sizes as the original's options write them (`"0-2048"`,
/// `"2-3-4-5"`).
pub fn parse_size_list(text: &str) -> Result<Vec<usize>> {
    text.split('-')
        .map(|part| {
            part.trim().parse::<usize>().map_err(|_| {
                ModelError::Config(format!(
                    "`{text}`: expected sizes separated by `-`, `{part}` is not a number"
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_defaults_resolve_to_the_papers_mapping_sizes() {
        let config = ModelConfig::default().resolve().unwrap();
        assert_eq!(config.visual_mapping_layers, vec![2048 + 2048 + 2048, 2048]);
        assert_eq!(config.text_mapping_layers, vec![1024 + 1536 + 7807, 2048]);
    }

    #[test]
    fn size_lists_parse_and_reject_garbage() {
        assert_eq!(parse_size_list("0-2048").unwrap(), vec![0, 2048]);
        assert_eq!(parse_size_list("2-3-4-5").unwrap(), vec![2, 3, 4, 5]);
        assert!(parse_size_list("2-x").is_err());
    }

    #[test]
    fn three_mapping_layers_are_rejected() {
        let config = ModelConfig {
            visual_mapping_layers: vec![0, 512, 2048],
            ..ModelConfig::default()
        };
        let err = config.resolve().unwrap_err().to_string();
        assert!(err.contains("visual_mapping_layers"), "{err}");
    }
}
