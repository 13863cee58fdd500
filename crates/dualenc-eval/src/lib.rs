//! Evaluation for Dual Encoding (docs/evaluation.md), with no dependency on the network.
//!
//! - [`metrics`]: text-to-video and video-to-text R@K, MedR, MeanR and mAP from a caption x
//!   video error (or score) matrix, as the original `evaluation.py` computes them, with a
//!   documented stable tie order, fast enough for MSR-VTT's 59,800 x 2,990 test matrix.
//! - [`avs`]: the TRECVID Ad-hoc Video Search chain: the `id.sent.score.txt` ranking file, the
//!   TRECVID XML run format (`txt2xml.py`) and the trec run format (`trec_eval.py`).
//! - [`infap`]: inferred AP (xinfAP) and the other measures exactly as NIST's
//!   `sample_eval.pl` computes and prints them.

#![warn(missing_docs)]

pub mod avs;
pub mod infap;
pub mod metrics;

pub use metrics::{
    fixed_caption_metrics, fixed_caption_ranks, varied_caption_metrics, varied_caption_ranks,
    CaptionVideoMatrix, DirectionMetrics, MatrixKind, MetricsError, RetrievalMetrics,
};
