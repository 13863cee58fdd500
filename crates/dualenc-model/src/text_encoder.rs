//! Text side of the network (`Text_multilevel_encoding`).

use crate::ModelBackend;
use burn::module::{Module, Param};
use burn::tensor::{backend::Backend, Tensor};

use crate::config::{Concate, ModelConfig};
use crate::conv::{conv_bank_specs, ConvBank};
use crate::encoder::{masked_mean, EncoderTrace, PaddingMode, TextInput};
use crate::error::Result;
use crate::gru::{bigru_specs, BiGru, Packing};
use crate::mapping::{mapping_specs, Mapping, Mode};
use crate::named::{Init, NamedTensor, ParamMapper, ParamVisitor, TensorSource, TensorSpec};
use crate::video_encoder::concat_levels;

const EMBED: &str = "text.embed.weight";
/// Names, shapes and initial distributions of every text tensor (embedding
/// `U(-0.1, 0.1)`; see [`crate::init`] for word2vec initialisation).
pub fn text_specs(config: &ModelConfig) -> Vec<TensorSpec> {
    let channels = 2 * config.text_rnn_size;
    let mut specs = vec![TensorSpec {
        name: EMBED.to_string(),
        shape: vec![config.vocab_size, config.word_dim],
        init: Init::Uniform(0.1),
    }];
    specs.extend(bigru_specs(RNN, config.word_dim, config.text_rnn_size));
    specs.extend(conv_bank_specs(
        CONVS,
        channels,
        config.text_kernel_num,
        &config.text_kernel_sizes,
    ));
    specs.extend(mapping_specs(
        MAPPING,
        config.text_mapping_in(),
        config.embedding_dim(),
    ));
    specs
}

const RNN: &str = "text.rnn.";
const CONVS: &str = "text.convs1.";
const MAPPING: &str = "text.text_mapping.";

/// Multi-level text encoder: BoW, biGRU over word embeddings, biGRU-CNN, mapping.
#[derive(Module, Debug)]
pub struct TextEncoder<B: Backend> {
    /// `embed.weight` `[vocab_size, word_dim]`.
    pub embed: Param<Tensor<B, 2>>,
    /// `rnn`: the biGRU over words, packed by length.
    pub rnn: BiGru<B>,
    /// `convs1`: the convolutions over the biGRU outputs.
    pub convs1: ConvBank<B>,
    /// `text_mapping`: Linear + BatchNorm (+ dropout, L2 norm).
    pub text_mapping: Mapping<B>,
    /// Dropout on levels 2 and 3.
    pub dropout: f64,
    /// Whether level 1 is concatenated.
    pub full: bool,
}

impl<B: Backend> TextEncoder<B> {
    pub(crate) fn from_source(
        src: &mut TensorSource,
        config: &ModelConfig,
        device: &B::Device,
    ) -> Result<Self> {
        Ok(Self {
            embed: src.param(EMBED, device)?,
            rnn: BiGru::from_source(src, RNN, device)?,
            convs1: ConvBank::from_source(src, CONVS, config.text_kernel_sizes.len(), device)?,
            text_mapping: Mapping::from_source(
                src,
                MAPPING,
                config.dropout,
                config.text_norm,
                device,
            )?,
            dropout: config.dropout,
            full: config.concate == Concate::Full,
        })
    }

    pub(crate) fn visit_named<V: ParamVisitor<B>>(&self, v: &mut V) {
        v.visit(EMBED, &self.embed);
        self.rnn.visit_named(RNN, v);
        self.convs1.visit_named(CONVS, v);
        self.text_mapping.visit_named(MAPPING, v);
    }

    pub(crate) fn map_named<M: ParamMapper<B>>(self, m: &mut M) -> Self {
        Self {
            embed: m.map(EMBED, self.embed),
            rnn: self.rnn.map_named(RNN, m),
            convs1: self.convs1.map_named(CONVS, m),
            text_mapping: self.text_mapping.map_named(MAPPING, m),
            ..self
        }
    }

    pub(crate) fn buffers(&self) -> Result<Vec<NamedTensor>> {
        self.text_mapping.buffers(MAPPING)
    }
}

impl<B: ModelBackend> TextEncoder<B> {
    /// Encodes a collated caption batch, keeping every intermediate.
    pub fn trace(&self, input: TextInput<B>, mode: Mode, padding: PaddingMode) -> EncoderTrace<B> {
        let [n, l] = input.ids.dims();
        let word_dim = self.embed.dims()[1];
        let words = self
            .embed
            .val()
            .select(0, input.ids.reshape([n * l]))
            .reshape([n, l, word_dim]);
        let gru = self.rnn.run(words, Packing::Packed(&input.lengths));
        let level2 = masked_mean(gru.outputs.clone(), input.mask, &input.lengths);
        let own_lengths = (padding == PaddingMode::Item).then_some(input.lengths.as_slice());
        let conv = self.convs1.forward(gru.outputs.clone(), own_lengths);
        let level1 = self.full.then_some(input.bows);
        let concat = concat_levels(&level2, &conv.pooled, level1.as_ref(), self.dropout, mode);
        let mapped = self.text_mapping.forward(concat.clone(), mode);
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
