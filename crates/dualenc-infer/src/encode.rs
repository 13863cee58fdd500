//! Encoding a collection with a trained network, batched exactly as the original does it.
//!
//! An embedding in the original depends on the batch it is computed in (docs/training.md, "The
//! network": batch dependence): the video biGRU runs through the batch's padding and CNN windows over padding
//! take part in the max-pool. To reproduce its numbers:
//!
//! - [`encode_collection_pairs`] follows `evaluation.encode_data` (the tester and the trainer's
//!   validation): captions in caption-file order, batches of `batch_size` (128), each batch
//!   collated like `collate_frame_gru_fn` (pairs sorted by caption length, each video padded to
//!   the batch's longest video), caption embeddings put back in file order, and each video's
//!   embedding taken from the batch holding its FIRST caption.
//! - [`encode_videos_alone`] follows the predictor (`collate_frame`): videos in the given order,
//!   plain video batches.
//! - [`encode_captions_alone`] follows `collate_text`: captions in file order, each batch sorted
//!   by length.
//!
//! With [`PaddingMode::Item`] every item behaves as if padded only to its own length, so an
//! embedding no longer depends on its batch (the original's result for a batch of one).
//!
//! A pair batch of the original holds one copy of a video per caption; since in eval mode a
//! row of the video encoder only depends on its own frames and on the batch's padded length
//! `T`, only the videos whose first caption lies in the batch are encoded, padded to that same
//! `T` (identical results, up to float summation order, at a fraction of the cost).

use dualenc_dataset::{
    collate_captions, collate_videos, CaptionInput, CaptionSet, PairData, VideoBatch, VideoFrames,
    VideoSource,
};
use dualenc_model::named::tensor_to_vec;
use dualenc_model::triplet_loss::Measure;
use dualenc_model::ModelBackend;
use dualenc_model::{DualEncoding, PaddingMode};

use crate::error::{InferError, Result};

/// The original's evaluation batch size.
pub const DEFAULT_BATCH_SIZE: usize = 128;

/// Embeddings of a collection's videos and captions (row-major, `dim` columns).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CollectionEmbeddings {
    /// Embedding dimension.
    pub dim: usize,
    /// Video ids, one per row of `video_embs`.
    pub video_ids: Vec<String>,
    /// `video_ids.len() x dim`.
    pub video_embs: Vec<f32>,
    /// Caption ids, one per row of `caption_embs`.
    pub caption_ids: Vec<String>,
    /// `caption_ids.len() x dim`.
    pub caption_embs: Vec<f32>,
}

impl CollectionEmbeddings {
    /// The original's `cal_error` for `measure`, in float64, row-major, captions x videos:
    /// cosine `-cos(caption, video)` with both sides re-normalised; euclidean the distance
    /// `||c - v||` of the embeddings as they are (`scipy`'s `cdist`). The original's
    /// `cal_error` has no order branch (its validation fails on an order-trained model); here
    /// order gives `||max(0, c - v)||`, the loss's order score negated, so that a smaller
    /// error still ranks first.
    pub fn errors(&self, measure: Measure) -> Vec<f64> {
        let n_videos = self.video_ids.len();
        let mut out = vec![0.0f64; self.caption_ids.len() * n_videos];
        if self.dim == 0 || n_videos == 0 {
            return out;
        }
        let (videos, captions) = match measure {
            Measure::Cosine => (
                normalized_rows(&self.video_embs, self.dim),
                normalized_rows(&self.caption_embs, self.dim),
            ),
            Measure::Order | Measure::Euclidean => (
                self.video_embs.iter().map(|&x| f64::from(x)).collect(),
                self.caption_embs.iter().map(|&x| f64::from(x)).collect(),
            ),
        };
        let error = |c: &[f64], v: &[f64]| -> f64 {
            let pairs = c.iter().zip(v);
            match measure {
                Measure::Cosine => -pairs.map(|(a, b)| a * b).sum::<f64>(),
                Measure::Euclidean => pairs.map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt(),
                Measure::Order => pairs
                    .map(|(a, b)| (a - b).max(0.0).powi(2))
                    .sum::<f64>()
                    .sqrt(),
            }
        };
        for (row, cap) in out
            .chunks_exact_mut(n_videos)
            .zip(captions.chunks_exact(self.dim))
        {
            for (slot, vid) in row.iter_mut().zip(videos.chunks_exact(self.dim)) {
                *slot = error(cap, vid);
            }
        }
        out
    }
}

/// Rows divided by their L2 norm, in f64 (a zero row stays zero).
fn normalized_rows(data: &[f32], dim: usize) -> Vec<f64> {
    let mut out: Vec<f64> = data.iter().map(|&x| f64::from(x)).collect();
    if dim == 0 {
        return out;
    }
    for row in out.chunks_exact_mut(dim) {
        let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|x| *x /= norm);
        }
    }
    out
}

/// How to batch: size and padding mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Items per batch (the original: 128).
    pub batch_size: usize,
    /// Batch-dependent (as the original) or batch-independent embeddings.
    pub padding: PaddingMode,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            batch_size: DEFAULT_BATCH_SIZE,
            padding: PaddingMode::Batch,
        }
    }
}

impl EncodeOptions {
    fn check(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(InferError::Invalid("batch size must be at least 1".into()));
        }
        Ok(())
    }
}

/// Encodes caption-video pairs exactly as the original's tester and validation do, in the
/// original's batch-dependent mode (see the module documentation).
pub fn encode_collection_pairs<B: ModelBackend>(
    model: &DualEncoding<B>,
    data: &PairData,
    batch_size: usize,
) -> Result<CollectionEmbeddings> {
    let options = EncodeOptions {
        batch_size,
        padding: PaddingMode::Batch,
    };
    encode_collection_pairs_with(model, data, &options, &mut |_| {})
}

/// [`encode_collection_pairs`] with a padding mode and a progress callback (called with the
/// number of captions finished after each batch).
pub fn encode_collection_pairs_with<B: ModelBackend>(
    model: &DualEncoding<B>,
    data: &PairData,
    options: &EncodeOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<CollectionEmbeddings> {
    options.check()?;
    let dim = model.config().embedding_dim();
    let max_len = model.config().video_max_len;
    let n_captions = data.captions.len();
    let first = data.first_captions();
    let mut caption_embs = vec![0.0f32; n_captions * dim];
    let mut video_embs = vec![0.0f32; data.videos.len() * dim];
    for start in (0..n_captions).step_by(options.batch_size) {
        let end = (start + options.batch_size).min(n_captions);
        let rows = encode_caption_batch(model, &data.captions, start..end, options.padding)?;
        put_rows(&mut caption_embs, &rows, dim)?;
        let owned: Vec<usize> = (start..end)
            .filter_map(|i| {
                let v = *data.caption_video.get(i)?;
                (first.get(v).copied().flatten() == Some(i)).then_some(v)
            })
            .collect();
        if !owned.is_empty() {
            let steps = data.caption_video[start..end]
                .iter()
                .map(|&v| data.videos.frame_count(v).min(max_len))
                .max()
                .unwrap_or(1);
            let embs =
                encode_video_rows(model, data.videos.as_ref(), &owned, steps, options.padding)?;
            let rows: Vec<(usize, &[f32])> =
                owned.iter().copied().zip(embs.chunks_exact(dim)).collect();
            put_rows(&mut video_embs, &rows, dim)?;
        }
        progress(end - start);
    }
    Ok(CollectionEmbeddings {
        dim,
        video_ids: (0..data.videos.len())
            .map(|v| data.videos.id(v).to_string())
            .collect(),
        video_embs,
        caption_ids: data.captions.ids.clone(),
        caption_embs,
    })
}

/// Encodes videos alone in consecutive batches (the original's predictor and its MSVD tester),
/// row-major `videos.len() x dim` in source order; `progress` gets the videos finished per
/// batch.
pub fn encode_videos_alone<B: ModelBackend>(
    model: &DualEncoding<B>,
    videos: &dyn VideoSource,
    options: &EncodeOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<f32>> {
    options.check()?;
    let max_len = model.config().video_max_len;
    let mut out = Vec::with_capacity(videos.len() * model.config().embedding_dim());
    let all: Vec<usize> = (0..videos.len()).collect();
    for chunk in all.chunks(options.batch_size) {
        let steps = chunk
            .iter()
            .map(|&v| videos.frame_count(v).min(max_len))
            .max()
            .unwrap_or(1);
        out.extend(encode_video_rows(
            model,
            videos,
            chunk,
            steps,
            options.padding,
        )?);
        progress(chunk.len());
    }
    Ok(out)
}

/// Encodes captions alone in consecutive batches, each sorted by length as `collate_text`
/// does; row-major `captions.len() x dim` in file order.
pub fn encode_captions_alone<B: ModelBackend>(
    model: &DualEncoding<B>,
    captions: &CaptionSet,
    options: &EncodeOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<f32>> {
    options.check()?;
    let dim = model.config().embedding_dim();
    let mut out = vec![0.0f32; captions.len() * dim];
    for start in (0..captions.len()).step_by(options.batch_size) {
        let end = (start + options.batch_size).min(captions.len());
        let rows = encode_caption_batch(model, captions, start..end, options.padding)?;
        put_rows(&mut out, &rows, dim)?;
        progress(end - start);
    }
    Ok(out)
}

/// Encodes the videos and the captions of `data` separately (the original's MSVD tester:
/// videos alone in their order, captions alone in file order).
pub fn encode_collection_separately<B: ModelBackend>(
    model: &DualEncoding<B>,
    data: &PairData,
    options: &EncodeOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<CollectionEmbeddings> {
    let video_embs = encode_videos_alone(model, data.videos.as_ref(), options, progress)?;
    let caption_embs = encode_captions_alone(model, &data.captions, options, progress)?;
    Ok(CollectionEmbeddings {
        dim: model.config().embedding_dim(),
        video_ids: (0..data.videos.len())
            .map(|v| data.videos.id(v).to_string())
            .collect(),
        video_embs,
        caption_ids: data.captions.ids.clone(),
        caption_embs,
    })
}

/// Embeds captions `range` as one `collate_text` batch; returns `(caption index, row)` pairs.
fn encode_caption_batch<B: ModelBackend>(
    model: &DualEncoding<B>,
    captions: &CaptionSet,
    range: std::ops::Range<usize>,
    padding: PaddingMode,
) -> Result<Vec<(usize, Vec<f32>)>> {
    let dim = model.config().embedding_dim();
    let start = range.start;
    let inputs = captions.inputs(range)?;
    let refs: Vec<&CaptionInput> = inputs.iter().collect();
    let (batch, perm) = collate_captions(&refs)?;
    let rows = tensor_to_vec(model.embed_text_batch(&batch, padding)?)?;
    Ok(perm
        .iter()
        .zip(rows.chunks_exact(dim))
        .map(|(&k, row)| (start + k, row.to_vec()))
        .collect())
}

/// Embeds videos `indices` of `videos` as one batch padded to `steps` frames; rows in the
/// order of `indices`.
fn encode_video_rows<B: ModelBackend>(
    model: &DualEncoding<B>,
    videos: &dyn VideoSource,
    indices: &[usize],
    steps: usize,
    padding: PaddingMode,
) -> Result<Vec<f32>> {
    let frames = indices
        .iter()
        .map(|&v| videos.frames(v))
        .collect::<dualenc_dataset::Result<Vec<_>>>()?;
    let refs: Vec<&VideoFrames> = frames.iter().collect();
    let batch = pad_steps(collate_videos(&refs, model.config().video_max_len)?, steps);
    Ok(tensor_to_vec(model.embed_video_batch(&batch, padding)?)?)
}

/// Zero-pads a collated video batch to `steps` time steps (no-op when already as long).
fn pad_steps(batch: VideoBatch, steps: usize) -> VideoBatch {
    if steps <= batch.steps {
        return batch;
    }
    let (n, old, dim) = (batch.len(), batch.steps, batch.dim);
    let mut frames = vec![0.0f32; n * steps * dim];
    let mut mask = vec![0.0f32; n * steps];
    for i in 0..n {
        frames[i * steps * dim..(i * steps + old) * dim]
            .copy_from_slice(&batch.frames[i * old * dim..(i + 1) * old * dim]);
        mask[i * steps..i * steps + old].copy_from_slice(&batch.mask[i * old..(i + 1) * old]);
    }
    VideoBatch {
        frames,
        mask,
        steps,
        ..batch
    }
}

/// Copies `(row index, values)` pairs into the row-major matrix `out`.
fn put_rows<R: AsRef<[f32]>>(out: &mut [f32], rows: &[(usize, R)], dim: usize) -> Result<()> {
    for (i, row) in rows {
        let slot = out.get_mut(i * dim..(i + 1) * dim).ok_or_else(|| {
            InferError::Invalid(format!("embedding row {i} is outside the output"))
        })?;
        slot.copy_from_slice(row.as_ref());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_extends_frames_and_mask_with_zeros() {
        let video = VideoFrames::new(vec![1.0, 2.0, 3.0, 4.0], 2).unwrap();
        let batch = pad_steps(collate_videos(&[&video], 64).unwrap(), 4);
        assert_eq!(batch.steps, 4);
        assert_eq!(batch.frames, vec![1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(batch.mask, vec![1.0, 1.0, 0.0, 0.0]);
        assert_eq!(batch.lengths, vec![2]);
    }

    #[test]
    fn errors_are_negative_cosines_of_renormalised_rows() {
        let embs = CollectionEmbeddings {
            dim: 2,
            video_ids: vec!["a".into(), "b".into()],
            video_embs: vec![2.0, 0.0, 0.0, 1.0],
            caption_ids: vec!["a#0".into()],
            caption_embs: vec![3.0, 4.0],
        };
        let errors = embs.errors(Measure::Cosine);
        assert!((errors[0] + 0.6).abs() < 1e-12);
        assert!((errors[1] + 0.8).abs() < 1e-12);
    }

    #[test]
    fn euclidean_and_order_errors_use_the_raw_embeddings() {
        let embs = CollectionEmbeddings {
            dim: 2,
            video_ids: vec!["a".into(), "b".into()],
            video_embs: vec![2.0, 0.0, 0.0, 1.0],
            caption_ids: vec!["a#0".into()],
            caption_embs: vec![3.0, 4.0],
        };
        // c - a = (1, 4), c - b = (3, 3).
        let euclidean = embs.errors(Measure::Euclidean);
        assert!((euclidean[0] - 17f64.sqrt()).abs() < 1e-12, "{euclidean:?}");
        assert!((euclidean[1] - 18f64.sqrt()).abs() < 1e-12, "{euclidean:?}");
        let embs = CollectionEmbeddings {
            caption_embs: vec![1.0, -1.0],
            ..embs
        };
        // c - a = (-1, -1): nothing above a; c - b = (1, -2): 1 above b.
        assert_eq!(embs.errors(Measure::Order), vec![0.0, 1.0]);
    }
}
