//! Collation of raw videos and captions into padded batches, exactly as the original's
//! `collate_frame_gru_fn`, `collate_frame` and `collate_text`.
//!
//! Batches are built on the host (plain vectors) so that data loading can run apart from the
//! device; the network crate moves them to a backend.

use crate::captions::CaptionInput;
use crate::error::{DatasetError, Result};
use crate::frames::VideoFrames;

/// Frames entering levels 2-3 in the original (`VIDEO_MAX_LEN`).
pub const VIDEO_MAX_LEN: usize = 64;

/// A padded video batch on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoBatch {
    /// `[N, T, D]` first `min(n_i, max_len)` frames, zero padded to `T = max_i L_i`.
    pub frames: Vec<f32>,
    /// `[N, D]` mean over ALL frames of each video (level 1).
    pub origin: Vec<f32>,
    /// `[N, T]` 1.0 for `t < L_i`.
    pub mask: Vec<f32>,
    /// `L_i = min(n_i, max_len)`.
    pub lengths: Vec<usize>,
    /// `T`.
    pub steps: usize,
    /// `D`.
    pub dim: usize,
}

/// A padded caption batch on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct TextBatch {
    /// `[N, L]` ids, zero (`<pad>`) padded to `L = max_i L_i`.
    pub ids: Vec<i64>,
    /// `[N, V_bow]` bag-of-words counts.
    pub bows: Vec<f32>,
    /// `[N, L]` 1.0 for `t < L_i`.
    pub mask: Vec<f32>,
    /// Tokens per caption.
    pub lengths: Vec<usize>,
    /// `L`.
    pub steps: usize,
    /// `V_bow`.
    pub bow_dim: usize,
}

/// A joint batch of pairs, sorted by caption length (descending, stable).
#[derive(Debug, Clone, PartialEq)]
pub struct PairBatch {
    /// Videos in collated order.
    pub video: VideoBatch,
    /// Captions in collated order.
    pub text: TextBatch,
    /// Collated row `k` holds input pair `perm[k]`.
    pub perm: Vec<usize>,
}

/// Pads videos in the given order (`collate_frame`); levels 2-3 see at most `max_len` frames.
pub fn collate_videos(videos: &[&VideoFrames], max_len: usize) -> Result<VideoBatch> {
    let dim = videos
        .first()
        .ok_or_else(|| DatasetError::Batch("empty video batch".into()))?
        .dim();
    if max_len == 0 {
        return Err(DatasetError::Batch("max_len must be at least 1".into()));
    }
    if let Some((i, v)) = videos.iter().enumerate().find(|(_, v)| v.dim() != dim) {
        return Err(DatasetError::Batch(format!(
            "video {i} has {}-d frames, video 0 has {dim}-d frames",
            v.dim()
        )));
    }
    let lengths: Vec<usize> = videos.iter().map(|v| v.frames().min(max_len)).collect();
    let steps = lengths.iter().copied().max().unwrap_or(1);
    let mut frames = vec![0.0f32; videos.len() * steps * dim];
    let mut mask = vec![0.0f32; videos.len() * steps];
    let mut origin = Vec::with_capacity(videos.len() * dim);
    for (i, (video, &len)) in videos.iter().zip(&lengths).enumerate() {
        let start = i * steps * dim;
        frames[start..start + len * dim].copy_from_slice(&video.data()[..len * dim]);
        mask[i * steps..i * steps + len].fill(1.0);
        origin.extend(mean_frame(video));
    }
    Ok(VideoBatch {
        frames,
        origin,
        mask,
        lengths,
        steps,
        dim,
    })
}

fn mean_frame(video: &VideoFrames) -> Vec<f32> {
    let mut sum = vec![0.0f32; video.dim()];
    for frame in video.data().chunks_exact(video.dim()) {
        sum.iter_mut().zip(frame).for_each(|(s, x)| *s += x);
    }
    let n = video.frames() as f32;
    sum.into_iter().map(|s| s / n).collect()
}

/// Order that sorts captions by token count, descending; ties keep their input order.
pub fn caption_order(captions: &[&CaptionInput]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..captions.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(captions[i].ids.len()));
    order
}

/// Pads captions in the given order (no sorting; see [`collate_captions`]).
pub fn pad_captions(captions: &[&CaptionInput]) -> Result<TextBatch> {
    let first = captions
        .first()
        .ok_or_else(|| DatasetError::Batch("empty caption batch".into()))?;
    let bow_dim = first.bow.len();
    for (i, cap) in captions.iter().enumerate() {
        if cap.ids.is_empty() {
            return Err(DatasetError::Batch(format!("caption {i} has no token")));
        }
        if cap.bow.len() != bow_dim {
            return Err(DatasetError::Batch(format!(
                "caption {i} has a {}-d BoW vector, caption 0 a {bow_dim}-d one",
                cap.bow.len()
            )));
        }
    }
    let lengths: Vec<usize> = captions.iter().map(|c| c.ids.len()).collect();
    let steps = lengths.iter().copied().max().unwrap_or(1);
    let mut ids = vec![0i64; captions.len() * steps];
    let mut mask = vec![0.0f32; captions.len() * steps];
    for (i, cap) in captions.iter().enumerate() {
        ids[i * steps..i * steps + cap.ids.len()].copy_from_slice(&cap.ids);
        mask[i * steps..i * steps + cap.ids.len()].fill(1.0);
    }
    let bows = captions
        .iter()
        .flat_map(|c| c.bow.iter().copied())
        .collect();
    Ok(TextBatch {
        ids,
        bows,
        mask,
        lengths,
        steps,
        bow_dim,
    })
}

/// Sorts captions by length (descending, stable) and pads them (`collate_text`); returns the
/// batch and `perm` (collated row `k` is input caption `perm[k]`).
pub fn collate_captions(captions: &[&CaptionInput]) -> Result<(TextBatch, Vec<usize>)> {
    let perm = caption_order(captions);
    let sorted: Vec<&CaptionInput> = perm.iter().map(|&i| captions[i]).collect();
    Ok((pad_captions(&sorted)?, perm))
}

/// Joint batch of `(video, caption)` pairs (`collate_frame_gru_fn`): pairs sorted by caption
/// length (descending, stable), videos moving with their captions.
pub fn collate_pairs(
    videos: &[&VideoFrames],
    captions: &[&CaptionInput],
    max_len: usize,
) -> Result<PairBatch> {
    if videos.len() != captions.len() {
        return Err(DatasetError::Batch(format!(
            "{} videos but {} captions in a pair batch",
            videos.len(),
            captions.len()
        )));
    }
    let (text, perm) = collate_captions(captions)?;
    let sorted_videos: Vec<&VideoFrames> = perm.iter().map(|&i| videos[i]).collect();
    Ok(PairBatch {
        video: collate_videos(&sorted_videos, max_len)?,
        text,
        perm,
    })
}

impl VideoBatch {
    /// Number of videos.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// True when the batch holds no video.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }
}

impl TextBatch {
    /// Number of captions.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// True when the batch holds no caption.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caption(len: usize) -> CaptionInput {
        CaptionInput {
            ids: vec![1; len],
            bow: vec![0.0; 2],
        }
    }

    #[test]
    fn captions_sort_by_length_descending_and_stably() {
        let caps = [caption(3), caption(5), caption(3), caption(5)];
        let refs: Vec<&CaptionInput> = caps.iter().collect();
        let (batch, perm) = collate_captions(&refs).unwrap();
        assert_eq!(perm, vec![1, 3, 0, 2]);
        assert_eq!(batch.lengths, vec![5, 5, 3, 3]);
        assert_eq!(batch.steps, 5);
    }

    #[test]
    fn long_videos_are_truncated_but_level1_averages_all_frames() {
        let data: Vec<f32> = (0..10).map(|x| x as f32).collect();
        let video = VideoFrames::new(data, 1).unwrap();
        let batch = collate_videos(&[&video], 4).unwrap();
        assert_eq!(batch.lengths, vec![4]);
        assert_eq!(batch.frames, vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(batch.origin, vec![4.5]);
    }

    #[test]
    fn malformed_inputs_are_errors() {
        assert!(VideoFrames::new(vec![1.0; 5], 2).is_err());
        assert!(collate_videos(&[], 64).is_err());
        let empty = CaptionInput {
            ids: vec![],
            bow: vec![],
        };
        assert!(collate_captions(&[&empty]).is_err());
    }
}
