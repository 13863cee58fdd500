//! Testing a model on a collection, as the original's `tester.py`.
//!
//! - Fixed caption count (MSR-VTT: 20 per video, TGIF: 2): every video has `n` captions
//!   listed grouped by video. Pairs are encoded as the tester does
//!   ([`crate::encode::encode_collection_pairs`]) and scored with `t2i`/`i2t`/mAP.
//! - Varied counts (MSVD style): videos are encoded alone (in order of their first caption),
//!   captions alone (file order), and scored with `t2i_varied`/`i2t_varied`.
//!
//! Outputs under `MODEL/results/TEST/`: `metrics.json` (`{t2v: {r1, r5, r10, medr, meanr,
//! map}, v2t: {...}, sumr}`) and the error matrix `pred_errors_matrix/`: a BigFile whose rows
//! are the captions (`id.txt` = caption ids, row = `-cosine` to every video, f32) plus
//! `videos.txt`, the column video ids one per line.

use dualenc_model::ModelBackend;
use std::io::Write;
use std::path::{Path, PathBuf};

use dualenc_data::{BigFileWriter, Collection};
use dualenc_eval::{
    fixed_caption_metrics, varied_caption_metrics, CaptionVideoMatrix, DirectionMetrics,
    RetrievalMetrics,
};
use dualenc_model::triplet_loss::Measure;
use dualenc_model::DualEncoding;
use serde::Serialize;

use dualenc_dataset::{load_pair_data, ModelVocab, PairData};

use crate::encode::{
    encode_collection_pairs_with, encode_collection_separately, CollectionEmbeddings, EncodeOptions,
};
use crate::error::{InferError, Result};

/// Folder of the error matrix inside the results folder.
pub const ERROR_MATRIX_DIR: &str = "pred_errors_matrix";
/// File of the metrics inside the results folder.
pub const METRICS_FILE: &str = "metrics.json";

/// How captions relate to videos in a test collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptionLayout {
    /// Every video has this many captions, listed grouped by video.
    Fixed(usize),
    /// Videos have different numbers of captions (MSVD).
    Varied,
}

/// What to test and how.
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// The VisualSearch root.
    pub rootpath: PathBuf,
    /// The test collection.
    pub collection: String,
    /// The frame feature.
    pub feature: String,
    /// Captions per video; `None` detects it (fixed when all counts are equal).
    pub n_caption: Option<usize>,
    /// Batching.
    pub encode: EncodeOptions,
    /// Similarity of the error matrix (the model's training measure, as a rule).
    pub measure: Measure,
}

/// The outcome of a test.
#[derive(Debug, Clone)]
pub struct TestReport {
    /// The metrics of both directions.
    pub metrics: RetrievalMetrics,
    /// The caption layout used.
    pub layout: CaptionLayout,
    /// Number of distinct videos.
    pub videos: usize,
    /// Number of captions.
    pub captions: usize,
    /// The results folder written.
    pub out_dir: PathBuf,
}

/// Decides the caption layout: fixed `n` when every video has `n` captions listed grouped by
/// video; otherwise varied. An `n_caption` that the file contradicts is an error.
pub fn caption_layout(data: &PairData, n_caption: Option<usize>) -> Result<CaptionLayout> {
    let mut counts = vec![0usize; data.videos.len()];
    data.caption_video.iter().for_each(|&v| counts[v] += 1);
    let uniform = counts
        .first()
        .copied()
        .filter(|&n| counts.iter().all(|&c| c == n));
    let grouped = |n: usize| {
        data.caption_video
            .iter()
            .enumerate()
            .all(|(i, &v)| v == i / n)
    };
    match (n_caption, uniform) {
        (Some(0), _) => Err(InferError::Invalid("--n-caption must be at least 1".into())),
        (Some(n), Some(m)) if n == m && grouped(n) => Ok(CaptionLayout::Fixed(n)),
        (Some(n), Some(m)) if n == m => Err(InferError::Invalid(format!(
            "every video has {n} captions, but they are not listed grouped by video as the \
             fixed-count evaluation needs (caption i belongs to video i / {n})"
        ))),
        (Some(n), _) => Err(InferError::Invalid(format!(
            "--n-caption {n} does not match the caption file: {} captions for {} videos \
             ({}); leave --n-caption out to evaluate with varying counts",
            data.caption_video.len(),
            data.videos.len(),
            describe_counts(&counts)
        ))),
        (None, Some(n)) if grouped(n) => Ok(CaptionLayout::Fixed(n)),
        (None, _) => Ok(CaptionLayout::Varied),
    }
}

fn describe_counts(counts: &[usize]) -> String {
    let min = counts.iter().min().copied().unwrap_or(0);
    let max = counts.iter().max().copied().unwrap_or(0);
    if min == max {
        format!("{min} per video")
    } else {
        format!("{min} to {max} per video")
    }
}

/// Tests `model` (whose folder is `model_dir`) on the collection of `options`; writes the
/// metrics and the error matrix under `model_dir/results/COLLECTION/`. `progress` receives
/// the number of items encoded after each batch.
pub fn test_model<B: ModelBackend>(
    model: &DualEncoding<B>,
    vocab: &ModelVocab,
    model_dir: &Path,
    options: &TestOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<TestReport> {
    let collection = Collection::new(&options.rootpath, &options.collection);
    let data = load_pair_data(&collection, &options.feature, vocab)?;
    let layout = caption_layout(&data, options.n_caption)?;
    tracing::info!(
        "testing on {}: {} captions, {} videos, {layout:?}",
        options.collection,
        data.captions.len(),
        data.videos.len()
    );
    let Evaluation {
        embs,
        errors,
        metrics,
    } = evaluate(
        model,
        &data,
        layout,
        (&options.encode, options.measure),
        progress,
    )?;
    let out_dir = model_dir.join("results").join(&options.collection);
    write_metrics(&out_dir.join(METRICS_FILE), &metrics)?;
    write_error_matrix(&out_dir.join(ERROR_MATRIX_DIR), &embs, &errors)?;
    Ok(TestReport {
        metrics,
        layout,
        videos: embs.video_ids.len(),
        captions: embs.caption_ids.len(),
        out_dir,
    })
}

/// A collection's embeddings under a model, their error matrix and the metrics.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The embeddings, batched as the original's tester and validation.
    pub embs: CollectionEmbeddings,
    /// Captions x videos, smaller is closer (see [`CollectionEmbeddings::errors`]).
    pub errors: Vec<f64>,
    /// Both directions' metrics.
    pub metrics: RetrievalMetrics,
}

/// Evaluates `model` on `data` as the original's tester and validation do: caption-video
/// pairs for a fixed caption count, videos and captions apart for varied counts (MSVD),
/// batched by `encode`, the error matrix of `measure`, and the metrics of `layout`. The one
/// evaluation behind `dualenc test` and the trainer's validation.
pub fn evaluate<B: ModelBackend>(
    model: &DualEncoding<B>,
    data: &PairData,
    layout: CaptionLayout,
    (encode, measure): (&EncodeOptions, Measure),
    progress: &mut dyn FnMut(usize),
) -> Result<Evaluation> {
    let embs = match layout {
        CaptionLayout::Fixed(_) => encode_collection_pairs_with(model, data, encode, progress)?,
        CaptionLayout::Varied => encode_collection_separately(model, data, encode, progress)?,
    };
    let errors = embs.errors(measure);
    let metrics = metrics_of(&embs, &errors, layout)?;
    Ok(Evaluation {
        embs,
        errors,
        metrics,
    })
}

/// The metrics of an error matrix (`captions x videos`, smaller is closer) in the given layout.
pub fn metrics_of(
    embs: &CollectionEmbeddings,
    errors: &[f64],
    layout: CaptionLayout,
) -> Result<RetrievalMetrics> {
    let matrix = CaptionVideoMatrix::errors(errors, embs.caption_ids.len(), embs.video_ids.len())
        .map_err(|e| InferError::Eval(e.to_string()))?;
    match layout {
        CaptionLayout::Fixed(n) => fixed_caption_metrics(&matrix, n),
        CaptionLayout::Varied => {
            varied_caption_metrics(&matrix, &embs.caption_ids, &embs.video_ids)
        }
    }
    .map_err(|e| InferError::Eval(e.to_string()))
}

/// Writes `metrics.json` atomically.
pub fn write_metrics(path: &Path, metrics: &RetrievalMetrics) -> Result<()> {
    let text = serde_json::to_vec_pretty(metrics)
        .map_err(|e| InferError::Eval(format!("{}: {e}", path.display())))?;
    write_file(path, &text)
}

/// Writes the error matrix as a BigFile (rows = captions) plus `videos.txt` (columns).
pub fn write_error_matrix(dir: &Path, embs: &CollectionEmbeddings, errors: &[f64]) -> Result<()> {
    let cols = embs.video_ids.len();
    let mut writer = BigFileWriter::create(dir, cols)?;
    let mut row = Vec::with_capacity(cols);
    for (id, values) in embs.caption_ids.iter().zip(errors.chunks(cols.max(1))) {
        row.clear();
        row.extend(values.iter().map(|&x| x as f32));
        writer.push(id, &row)?;
    }
    writer.finish()?;
    let path = dir.join("videos.txt");
    dualenc_data::atomic::write_atomic(&path, |w| {
        embs.video_ids.iter().try_for_each(|v| writeln!(w, "{v}"))
    })
    .map_err(|e| InferError::io(&path, e))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| InferError::io(parent, e))?;
    }
    dualenc_data::atomic::write_bytes_atomic(path, bytes).map_err(|e| InferError::io(path, e))
}

/// The original tester's printout (values rounded as it rounds them).
pub fn original_printout(metrics: &RetrievalMetrics) -> String {
    let block = |title: &str, d: &DirectionMetrics| {
        format!(
            " * {title}:\n * r_1_5_10, medr, meanr: [{}, {}, {}, {}, {}]\n * recall sum: {}\n * mAP: {}\n * ----------\n",
            round(d.r1, 1),
            round(d.r5, 1),
            round(d.r10, 1),
            round(d.medr, 1),
            round(d.meanr, 1),
            round(d.recall_sum(), 1),
            round(d.map, 3)
        )
    };
    block("Text to Video", &metrics.t2v) + &block("Video to text", &metrics.v2t)
}

/// A readable table of both directions and the recall sum.
pub fn metrics_table(metrics: &RetrievalMetrics) -> String {
    let mut out = format!(
        "{:<14} {:>7} {:>7} {:>7} {:>7} {:>8} {:>7}\n",
        "direction", "R@1", "R@5", "R@10", "MedR", "MeanR", "mAP"
    );
    for (name, d) in [
        ("text-to-video", &metrics.t2v),
        ("video-to-text", &metrics.v2t),
    ] {
        out += &format!(
            "{name:<14} {:>7.1} {:>7.1} {:>7.1} {:>7.0} {:>8.1} {:>7.3}\n",
            d.r1, d.r5, d.r10, d.medr, d.meanr, d.map
        );
    }
    out += &format!("sum of recalls: {:.1}\n", metrics.sumr);
    out
}

/// Python's `round(x, digits)` printed as Python prints a float (`12.0`, `7.6`).
fn round(x: f64, digits: i32) -> String {
    let scale = 10f64.powi(digits);
    let value = (x * scale).round() / scale;
    let text = format!("{value}");
    if text.contains('.') || !value.is_finite() {
        text
    } else {
        format!("{text}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dualenc_dataset::{CaptionSet, CaptionTokens, InMemoryVideos, VideoFrames};

    fn pair_data(caption_video: Vec<usize>, n_videos: usize) -> PairData {
        let frames = VideoFrames::new(vec![0.0; 2], 2).unwrap();
        let ids = (0..n_videos).map(|v| format!("v{v}")).collect();
        let videos = InMemoryVideos::new(ids, vec![frames; n_videos]).unwrap();
        let captions = CaptionSet {
            ids: caption_video
                .iter()
                .enumerate()
                .map(|(i, v)| format!("v{v}#enc#{i}"))
                .collect(),
            tokens: vec![CaptionTokens::from_dense(vec![1, 2], &[0.0]); caption_video.len()],
            bow_dim: 1,
        };
        PairData::new(captions, caption_video, Box::new(videos)).unwrap()
    }

    #[test]
    fn layout_is_detected_and_contradictions_are_errors() {
        let fixed = pair_data(vec![0, 0, 1, 1], 2);
        assert_eq!(
            caption_layout(&fixed, None).unwrap(),
            CaptionLayout::Fixed(2)
        );
        assert_eq!(
            caption_layout(&fixed, Some(2)).unwrap(),
            CaptionLayout::Fixed(2)
        );
        let err = caption_layout(&fixed, Some(3)).unwrap_err().to_string();
        assert!(err.contains("--n-caption 3"), "{err}");
        let varied = pair_data(vec![0, 1, 1, 1], 2);
        assert_eq!(
            caption_layout(&varied, None).unwrap(),
            CaptionLayout::Varied
        );
        let interleaved = pair_data(vec![0, 1, 0, 1], 2);
        assert_eq!(
            caption_layout(&interleaved, None).unwrap(),
            CaptionLayout::Varied
        );
        assert!(caption_layout(&interleaved, Some(2)).is_err());
    }

    #[test]
    fn python_rounding_keeps_a_decimal() {
        assert_eq!(round(12.0, 1), "12.0");
        assert_eq!(round(7.64, 1), "7.6");
        assert_eq!(round(0.15549, 3), "0.155");
    }
}
