//! Embedding a collection into BigFiles (`dualenc embed`).
//!
//! With a caption output, captions are read from the caption file and encoded with their
//! videos exactly as the original's tester does ([`crate::encode::encode_collection_pairs`]);
//! the video output then holds the videos that have captions, in order of their first caption.
//! With only a video output, every video of video2frames is encoded in plain video batches, as
//! the original's predictor does. Rows are the eval-mode embeddings; ids are video ids and
//! caption ids.

use dualenc_model::ModelBackend;
use std::path::{Path, PathBuf};

use dualenc_data::{BigFileWriter, Collection};
use dualenc_model::DualEncoding;

use dualenc_dataset::{load_pair_data, BigFileVideos, ModelVocab, VideoSource};

use crate::encode::{encode_collection_pairs_with, encode_videos_alone, EncodeOptions};
use crate::error::{InferError, Result};

/// Where to write the embeddings; at least one of the two.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmbedOutputs {
    /// BigFile folder for the video embeddings.
    pub videos: Option<PathBuf>,
    /// BigFile folder for the caption embeddings.
    pub captions: Option<PathBuf>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedReport {
    /// Videos embedded.
    pub videos: usize,
    /// Captions embedded (0 without a caption output).
    pub captions: usize,
    /// Embedding dimension.
    pub dim: usize,
}

/// Embeds the collection `collection` with feature `feature` into the BigFiles of `outputs`.
pub fn embed_collection<B: ModelBackend>(
    model: &DualEncoding<B>,
    vocab: &ModelVocab,
    collection: &Collection,
    feature: &str,
    outputs: &EmbedOutputs,
    options: &EncodeOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<EmbedReport> {
    let dim = model.config().embedding_dim();
    if outputs.videos.is_none() && outputs.captions.is_none() {
        return Err(InferError::Invalid(
            "nothing to write: give a video and/or a caption output".into(),
        ));
    }
    let Some(caption_out) = &outputs.captions else {
        let videos = BigFileVideos::open(collection, feature, None)?;
        let embs = encode_videos_alone(model, &videos, options, progress)?;
        if let Some(out) = &outputs.videos {
            write_bigfile(out, videos.ids(), &embs, dim)?;
        }
        return Ok(EmbedReport {
            videos: videos.len(),
            captions: 0,
            dim,
        });
    };
    let data = load_pair_data(collection, feature, vocab)?;
    let embs = encode_collection_pairs_with(model, &data, options, progress)?;
    write_bigfile(caption_out, &embs.caption_ids, &embs.caption_embs, dim)?;
    if let Some(out) = &outputs.videos {
        write_bigfile(out, &embs.video_ids, &embs.video_embs, dim)?;
    }
    Ok(EmbedReport {
        videos: embs.video_ids.len(),
        captions: embs.caption_ids.len(),
        dim,
    })
}

/// Writes `ids` with their rows of `embs` (`dim` columns) as a BigFile.
pub fn write_bigfile(dir: &Path, ids: &[String], embs: &[f32], dim: usize) -> Result<()> {
    let mut writer = BigFileWriter::create(dir, dim)?;
    for (id, row) in ids.iter().zip(embs.chunks_exact(dim.max(1))) {
        writer.push(id, row)?;
    }
    writer.finish()?;
    Ok(())
}
