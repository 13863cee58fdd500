//! The whole network: both encoders, named-tensor import/export and the encoding API.

use crate::ModelBackend;
use burn::module::Module;
use burn::tensor::{backend::Backend, Tensor};

use crate::batch::{check_captions, check_videos, text_input, video_input};
use crate::config::ModelConfig;
use crate::encoder::{EncoderTrace, PaddingMode};
use crate::error::{ModelError, Result};
use crate::mapping::{BatchStats, Mode};
use crate::named::{
    tensor_to_vec, Collector, NamedTensor, ParamMapper, ParamVisitor, TensorSource, TensorSpec,
};
use crate::text_encoder::{text_specs, TextEncoder};
use crate::video_encoder::{video_specs, VideoEncoder};
use dualenc_dataset::{
    collate_captions, collate_videos, CaptionInput, PairBatch, TextBatch, VideoBatch, VideoFrames,
};

/// The Dual Encoding network (`Dual_Encoding` of the original: `vid_encoding` +
/// `text_encoding`).
#[derive(Module, Debug)]
pub struct DualEncoding<B: Backend> {
    /// Video encoder (state-dict prefix `video.`).
    pub video: VideoEncoder<B>,
    /// Text encoder (state-dict prefix `text.`).
    pub text: TextEncoder<B>,
    #[module(skip)]
    config: ModelConfig,
}

/// Every state-dict entry (parameters and buffers) the configuration requires, video first.
pub fn state_dict_specs(config: &ModelConfig) -> Vec<TensorSpec> {
    let mut specs = video_specs(config);
    specs.extend(text_specs(config));
    specs
}

/// Embeddings and intermediates of a joint forward pass.
#[derive(Debug, Clone)]
pub struct PairTrace<B: Backend> {
    /// Video side.
    pub video: EncoderTrace<B>,
    /// Text side.
    pub text: EncoderTrace<B>,
}

impl<B: Backend> DualEncoding<B> {
    /// Builds the network from a state dict with the original names prefixed `video.` /
    /// `text.`. Every key must be present exactly once with the right shape; any missing,
    /// surplus or mis-shaped tensor is an error naming it.
    pub fn from_named_tensors(
        config: ModelConfig,
        tensors: Vec<NamedTensor>,
        device: &B::Device,
    ) -> Result<Self> {
        config.validate()?;
        let mut source = TensorSource::new(tensors, &state_dict_specs(&config))?;
        Ok(Self {
            video: VideoEncoder::from_source(&mut source, &config, device)?,
            text: TextEncoder::from_source(&mut source, &config, device)?,
            config,
        })
    }

    /// The full state dict (parameters and buffers) in specification order.
    pub fn to_named_tensors(&self) -> Result<Vec<NamedTensor>> {
        let mut collector = Collector {
            out: Vec::new(),
            error: None,
        };
        self.visit_params(&mut collector);
        if let Some(e) = collector.error {
            return Err(e);
        }
        let mut all = collector.out;
        all.extend(self.video.buffers()?);
        all.extend(self.text.buffers()?);
        let order = state_dict_specs(&self.config);
        all.sort_by_key(|(name, _, _)| order.iter().position(|s| &s.name == name));
        Ok(all)
    }

    /// The network's configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Visits the trainable parameters in the original optimiser's order (text, then video).
    pub fn visit_params<V: ParamVisitor<B>>(&self, visitor: &mut V) {
        self.text.visit_named(visitor);
        self.video.visit_named(visitor);
    }

    /// Rewrites the trainable parameters in the original optimiser's order.
    pub fn map_params<M: ParamMapper<B>>(self, mapper: &mut M) -> Self {
        let text = self.text.map_named(mapper);
        let video = self.video.map_named(mapper);
        Self {
            video,
            text,
            config: self.config,
        }
    }

    /// Folds train-mode BatchNorm statistics into the running ones.
    pub fn with_batch_stats(
        mut self,
        video: Option<BatchStats<B>>,
        text: Option<BatchStats<B>>,
    ) -> Self {
        if let Some(stats) = video {
            self.video.visual_mapping.bn_1 = self.video.visual_mapping.bn_1.update(stats);
        }
        if let Some(stats) = text {
            self.text.text_mapping.bn_1 = self.text.text_mapping.bn_1.update(stats);
        }
        self
    }
}

impl<B: ModelBackend> DualEncoding<B> {
    fn device(&self) -> B::Device {
        self.text.embed.device()
    }

    /// Forward pass of a joint batch, keeping every intermediate.
    pub fn trace_pairs(
        &self,
        batch: &PairBatch,
        mode: Mode,
        padding: PaddingMode,
    ) -> Result<PairTrace<B>> {
        check_videos(&batch.video, &self.config)?;
        check_captions(&batch.text, &self.config)?;
        let device = self.device();
        Ok(PairTrace {
            video: self
                .video
                .trace(video_input(&batch.video, &device), mode, padding),
            text: self
                .text
                .trace(text_input(&batch.text, &device), mode, padding),
        })
    }

    /// Eval-mode embeddings `[N, dim]` of a collated video batch, rows in batch order.
    pub fn embed_video_batch(
        &self,
        batch: &VideoBatch,
        padding: PaddingMode,
    ) -> Result<Tensor<B, 2>> {
        check_videos(batch, &self.config)?;
        let input = video_input(batch, &self.device());
        Ok(self.video.trace(input, Mode::Eval, padding).embedding)
    }

    /// Eval-mode embeddings `[N, dim]` of a collated caption batch, rows in batch order.
    pub fn embed_text_batch(
        &self,
        batch: &TextBatch,
        padding: PaddingMode,
    ) -> Result<Tensor<B, 2>> {
        check_captions(batch, &self.config)?;
        let input = text_input(batch, &self.device());
        Ok(self.text.trace(input, Mode::Eval, padding).embedding)
    }

    /// Eval-mode embeddings of `videos` encoded in consecutive batches of `batch_size` (the
    /// original's predictor), row-major `[videos.len(), dim]` in input order.
    pub fn encode_videos(
        &self,
        videos: &[&VideoFrames],
        batch_size: usize,
        padding: PaddingMode,
    ) -> Result<Vec<f32>> {
        check_batch_size(batch_size)?;
        let mut out = Vec::with_capacity(videos.len() * self.config.embedding_dim());
        for chunk in videos.chunks(batch_size) {
            let batch = collate_videos(chunk, self.config.video_max_len)?;
            out.extend(tensor_to_vec(self.embed_video_batch(&batch, padding)?)?);
        }
        Ok(out)
    }

    /// Eval-mode embeddings of `captions` encoded in consecutive batches of `batch_size`, each
    /// sorted by length as the original does; row-major `[captions.len(), dim]` in input order.
    pub fn encode_captions(
        &self,
        captions: &[&CaptionInput],
        batch_size: usize,
        padding: PaddingMode,
    ) -> Result<Vec<f32>> {
        check_batch_size(batch_size)?;
        let dim = self.config.embedding_dim();
        let mut out = vec![0.0f32; captions.len() * dim];
        for (c, chunk) in captions.chunks(batch_size).enumerate() {
            let (batch, perm) = collate_captions(chunk)?;
            let rows = tensor_to_vec(self.embed_text_batch(&batch, padding)?)?;
            for (row, &orig) in rows.chunks_exact(dim).zip(&perm) {
                let at = (c * batch_size + orig) * dim;
                out[at..at + dim].copy_from_slice(row);
            }
        }
        Ok(out)
    }
}

fn check_batch_size(batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(ModelError::Batch("batch size must be at least 1".into()));
    }
    Ok(())
}
