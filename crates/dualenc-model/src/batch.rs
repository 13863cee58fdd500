//! Host batches (`dualenc_dataset::collate`: padded exactly as the original's collate
//! functions) checked against the network and moved to a backend.

use burn::tensor::{backend::Backend, Tensor, TensorData};
use dualenc_dataset::{TextBatch, VideoBatch};

use crate::config::ModelConfig;
use crate::encoder::{TextInput, VideoInput};
use crate::error::{ModelError, Result};

/// Checks a video batch's frame dimension against the network.
pub fn check_videos(batch: &VideoBatch, config: &ModelConfig) -> Result<()> {
    if batch.dim != config.visual_feat_dim {
        return Err(ModelError::Batch(format!(
            "frames are {}-d, the network expects {}-d features",
            batch.dim, config.visual_feat_dim
        )));
    }
    Ok(())
}

/// Checks a caption batch's ids and BoW size against the network's vocabularies.
pub fn check_captions(batch: &TextBatch, config: &ModelConfig) -> Result<()> {
    if batch.bow_dim != config.bow_vocab_size {
        return Err(ModelError::Batch(format!(
            "BoW vectors are {}-d, the network expects {} (bow_vocab_size)",
            batch.bow_dim, config.bow_vocab_size
        )));
    }
    let vocab = config.vocab_size as i64;
    if let Some(pos) = batch.ids.iter().position(|&id| !(0..vocab).contains(&id)) {
        return Err(ModelError::Batch(format!(
            "caption row {} holds word id {}, outside the vocabulary of {vocab}",
            pos / batch.steps.max(1),
            batch.ids[pos]
        )));
    }
    Ok(())
}

/// Moves a video batch to `device`.
pub fn video_input<B: Backend>(batch: &VideoBatch, device: &B::Device) -> VideoInput<B> {
    let n = batch.len();
    let (steps, dim) = (batch.steps, batch.dim);
    VideoInput {
        frames: Tensor::from_data(
            TensorData::new(batch.frames.clone(), [n, steps, dim]),
            device,
        ),
        origin: Tensor::from_data(TensorData::new(batch.origin.clone(), [n, dim]), device),
        mask: Tensor::from_data(TensorData::new(batch.mask.clone(), [n, steps]), device),
        lengths: batch.lengths.clone(),
    }
}

/// Moves a caption batch to `device`.
pub fn text_input<B: Backend>(batch: &TextBatch, device: &B::Device) -> TextInput<B> {
    let n = batch.len();
    TextInput {
        ids: Tensor::from_data(TensorData::new(batch.ids.clone(), [n, batch.steps]), device),
        bows: Tensor::from_data(
            TensorData::new(batch.bows.clone(), [n, batch.bow_dim]),
            device,
        ),
        mask: Tensor::from_data(
            TensorData::new(batch.mask.clone(), [n, batch.steps]),
            device,
        ),
        lengths: batch.lengths.clone(),
    }
}
