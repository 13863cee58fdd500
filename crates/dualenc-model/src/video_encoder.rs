//! Video side of the network (`Video_multilevel_encoding`).

use crate::ModelBackend;
use burn::module::Module;
use burn::tensor::{backend::Backend, Tensor};

use crate::config::{Concate, ModelConfig};
use crate::conv::{conv_bank_specs, ConvBank};
use crate::encoder::{masked_mean, EncoderTrace, PaddingMode, VideoInput};
use crate::error::Result;
use crate::gru::{bigru_specs, BiGru, Packing};
use crate::mapping::{dropout, mapping_specs, Mapping, Mode};
use crate::named::{NamedTensor, ParamMapper, ParamVisitor, TensorSource, TensorSpec};

/// Names, shapes and initial distributions of every video tensor.
pub fn video_specs(config: &ModelConfig) -> Vec<TensorSpec> {
    let channels = 2 * config.visual_rnn_size;
    let mut specs = bigru_specs(RNN, config.visual_feat_dim, config.visual_rnn_size);
    specs.extend(conv_bank_specs(
        CONVS,
        channels,
        config.visual_kernel_num,
        &config.visual_kernel_sizes,
    ));
    specs.extend(mapping_specs(
        MAPPING,
        config.visual_mapping_in(),
        config.embedding_dim(),
    ));
    specs
}

const RNN: &str = "video.rnn.";
const CONVS: &str = "video.convs1.";
const MAPPING: &str = "video.visual_mapping.";

/// Multi-level video encoder: mean frame, biGRU, biGRU-CNN, mapping.
#[derive(Module, Debug)]
pub struct VideoEncoder<B: Backend> {
    /// `rnn`: the biGRU over frames.
    pub rnn: BiGru<B>,
    /// `convs1`: the convolutions over the biGRU outputs.
    pub convs1: ConvBank<B>,
    /// `visual_mapping`: Linear + BatchNorm (+ dropout, L2 norm).
    pub visual_mapping: Mapping<B>,
    /// Dropout on levels 2 and 3.
    pub dropout: f64,
    /// Whether level 1 is concatenated.
    pub full: bool,
}

impl<B: Backend> VideoEncoder<B> {
    pub(crate) fn from_source(
        src: &mut TensorSource,
        config: &ModelConfig,
        device: &B::Device,
    ) -> Result<Self> {
        Ok(Self {
            rnn: BiGru::from_source(src, RNN, device)?,
            convs1: ConvBank::from_source(src, CONVS, config.visual_kernel_sizes.len(), device)?,
            visual_mapping: Mapping::from_source(
                src,
                MAPPING,
                config.dropout,
                config.visual_norm,
                device,
            )?,
            dropout: config.dropout,
            full: config.concate == Concate::Full,
        })
    }

    pub(crate) fn visit_named<V: ParamVisitor<B>>(&self, v: &mut V) {
        self.rnn.visit_named(RNN, v);
        self.convs1.visit_named(CONVS, v);
        self.visual_mapping.visit_named(MAPPING, v);
    }

    pub(crate) fn map_named<M: ParamMapper<B>>(self, m: &mut M) -> Self {
        Self {
            rnn: self.rnn.map_named(RNN, m),
            convs1: self.convs1.map_named(CONVS, m),
            visual_mapping: self.visual_mapping.map_named(MAPPING, m),
            ..self
        }
    }

    pub(crate) fn buffers(&self) -> Result<Vec<NamedTensor>> {
        self.visual_mapping.buffers(MAPPING)
    }
}

impl<B: ModelBackend> VideoEncoder<B> {
    /// Encodes a collated video batch, keeping every intermediate.
    pub fn trace(&self, input: VideoInput<B>, mode: Mode, padding: PaddingMode) -> EncoderTrace<B> {
        let packing = match padding {
            PaddingMode::Batch => Packing::Padded,
            PaddingMode::Item => Packing::Packed(&input.lengths),
        };
        let gru = self.rnn.run(input.frames, packing);
        let level2 = masked_mean(gru.outputs.clone(), input.mask.clone(), &input.lengths);
        let masked = gru.outputs.clone() * input.mask.unsqueeze_dim(2);
        let own_lengths = (padding == PaddingMode::Item).then_some(input.lengths.as_slice());
        let conv = self.convs1.forward(masked, own_lengths);
        let level1 = self.full.then_some(input.origin);
        let concat = concat_levels(&level2, &conv.pooled, level1.as_ref(), self.dropout, mode);
        let mapped = self.visual_mapping.forward(concat.clone(), mode);
        EncoderTrace {
            level1,
            level2,
            level3: conv.pooled,
            concat,
            fc1_out: mapped.fc1_out,
            bn_out: mapped.bn_out,
            embedding: mapped.embedding,
            conv_preacts: conv.preacts,
            gru_out: gru.outputs,
            gru_h_n: gru.h_n,
            bn_stats: mapped.stats,
        }
    }
}

/// `[dropout(level2), dropout(level3), level1]` (level 1 only in the full configuration).
pub(crate) fn concat_levels<B: Backend>(
    level2: &Tensor<B, 2>,
    level3: &Tensor<B, 2>,
    level1: Option<&Tensor<B, 2>>,
    p: f64,
    mode: Mode,
) -> Tensor<B, 2> {
    let mut parts = vec![
        dropout(level2.clone(), p, mode),
        dropout(level3.clone(), p, mode),
    ];
    parts.extend(level1.cloned());
    Tensor::cat(parts, 1)
}
