//! Text-to-video and video-to-text retrieval metrics (R@1, R@5, R@10, MedR, MeanR, mAP) from
//! a caption x video error (or score) matrix, as the original `evaluation.py` computes them.
//!
//! Two conventions exist, both reproduced:
//! - [`fixed_caption_metrics`]: every video has `n_caption` captions, listed grouped by video
//!   (`t2i`, `i2t`, `t2i_map`, `i2t_map`): ranks are 0-based, MedR = floor(median) + 1,
//!   MeanR = mean + 1; video-to-text ranks a video by its best-ranked caption.
//! - [`varied_caption_metrics`]: any number of captions per video, relevance decided by the
//!   ids (`t2i_varied`, `i2t_varied`): ranks are 1-based, MedR = floor(median), MeanR = mean.
//!
//! # Tie order
//! The original sorts each row with `np.argsort`, whose default kind is not stable, so tied
//! values are ordered differently from machine to machine. This crate uses the order that
//! numpy's *stable* sort gives in the same code, which is deterministic:
//! - fixed captions ([`TieOrder::LowerIndexFirst`]): ascending error, a tied item with the
//!   lower index first, NaN last;
//! - varied captions ([`TieOrder::HigherIndexFirst`]): the original sorts `-errors` and then
//!   reverses the list, so ascending error, a tied item with the HIGHER index first, NaN first.
//!
//! With a score matrix (higher = better) "ascending error" reads "descending score".
//!
//! # Speed
//! No row is sorted: the position of a relevant item is the number of items that precede it
//! in the order above. Text-to-video counts along each caption row. Video-to-text walks the
//! rows once, in parallel blocks: for every entry it counts (vectorised, over a transposed
//! copy of every video's sorted relevant captions) how many of the column's relevant captions
//! are better, which names the histogram bucket the entry falls in; prefix sums of each
//! video's histogram give the positions of all its relevant captions. Exact ties and NaN fall
//! back to the full comparison. MSR-VTT's 59,800 x 2,990 test matrix takes about 0.7 s on
//! 2 idle cores (`cargo bench -p dualenc-eval`), against 72 s for the original.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Errors of the metric functions: shapes or ids that do not fit together.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetricsError {
    /// The value slice does not hold `rows x cols` values.
    #[error("matrix of {rows} x {cols} needs {expected} values, got {got}")]
    Shape {
        /// Number of caption rows declared.
        rows: usize,
        /// Number of video columns declared.
        cols: usize,
        /// rows * cols.
        expected: usize,
        /// Length of the slice given.
        got: usize,
    },
    /// The matrix has no row or no column.
    #[error("matrix of {rows} x {cols} is empty: need at least one caption and one video")]
    Empty {
        /// Number of rows.
        rows: usize,
        /// Number of columns.
        cols: usize,
    },
    /// Fixed-caption evaluation needs exactly `n_caption` rows per video.
    #[error("{rows} caption rows do not make {cols} videos x {n_caption} captions")]
    CaptionCount {
        /// Number of caption rows.
        rows: usize,
        /// Number of videos.
        cols: usize,
        /// Captions per video requested.
        n_caption: usize,
    },
    /// The list of ids does not have one entry per row/column.
    #[error("{what}: expected {expected} ids, got {got}")]
    IdCount {
        /// Which list ("caption ids" or "video ids").
        what: &'static str,
        /// Number of rows or columns.
        expected: usize,
        /// Number of ids given.
        got: usize,
    },
    /// A caption's video (the part of its id before the first `#`) is not a column.
    #[error("caption {index} ({caption_id}): video '{video_id}' is not among the video ids")]
    UnknownVideo {
        /// 0-based caption row.
        index: usize,
        /// The caption id.
        caption_id: String,
        /// The video id derived from it.
        video_id: String,
    },
    /// A caption row points at a video column that does not exist.
    #[error("caption {index}: video index {video} is out of range (have {cols} videos)")]
    VideoIndex {
        /// 0-based caption row.
        index: usize,
        /// The video index given.
        video: usize,
        /// Number of videos.
        cols: usize,
    },
    /// A video column has no caption, so video-to-text has nothing to rank.
    #[error("video {index} ({video_id}) has no caption")]
    VideoWithoutCaption {
        /// 0-based video column.
        index: usize,
        /// Its id (or its index when ids are not known).
        video_id: String,
    },
    /// The same video id names two columns, so relevance by id would be ambiguous.
    #[error("video id '{0}' appears twice among the video ids")]
    DuplicateVideo(String),
}

/// A matrix element type: `f32` or `f64`.
pub trait MatrixValue: Copy + PartialOrd + Send + Sync {
    /// A NaN of the type (padding that compares false with everything).
    const NAN: Self;
    /// Whether the value is NaN (NaN has its own place in the tie order).
    fn is_nan_value(self) -> bool;
}

impl MatrixValue for f32 {
    const NAN: Self = f32::NAN;
    fn is_nan_value(self) -> bool {
        self.is_nan()
    }
}

impl MatrixValue for f64 {
    const NAN: Self = f64::NAN;
    fn is_nan_value(self) -> bool {
        self.is_nan()
    }
}

/// What the matrix holds: errors (smaller ranks first, e.g. -cosine) or scores (larger first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatrixKind {
    /// Smaller is better (the original's `errors = -cosine`).
    Errors,
    /// Larger is better (cosine similarities).
    Scores,
}

/// How items with equal values are ordered (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TieOrder {
    /// numpy's stable argsort: lower index first, NaN last (fixed-caption metrics).
    LowerIndexFirst,
    /// A stable argsort of the negated values, reversed: higher index first, NaN first
    /// (varied-caption metrics).
    HigherIndexFirst,
}

/// A borrowed row-major caption x video matrix (row = caption, column = video).
#[derive(Debug, Clone, Copy)]
pub struct CaptionVideoMatrix<'a, T> {
    values: &'a [T],
    rows: usize,
    cols: usize,
    kind: MatrixKind,
}

impl<'a, T: MatrixValue> CaptionVideoMatrix<'a, T> {
    /// Wraps `values` (`rows x cols`, row-major) after checking the length and non-emptiness.
    pub fn new(
        values: &'a [T],
        rows: usize,
        cols: usize,
        kind: MatrixKind,
    ) -> Result<Self, MetricsError> {
        if rows == 0 || cols == 0 {
            return Err(MetricsError::Empty { rows, cols });
        }
        let expected = rows.checked_mul(cols).ok_or(MetricsError::Shape {
            rows,
            cols,
            expected: usize::MAX,
            got: values.len(),
        })?;
        if values.len() != expected {
            return Err(MetricsError::Shape {
                rows,
                cols,
                expected,
                got: values.len(),
            });
        }
        Ok(Self {
            values,
            rows,
            cols,
            kind,
        })
    }

    /// An error matrix (smaller = better), e.g. the original's `-cosine`.
    pub fn errors(values: &'a [T], rows: usize, cols: usize) -> Result<Self, MetricsError> {
        Self::new(values, rows, cols, MatrixKind::Errors)
    }

    /// A score matrix (larger = better), e.g. cosine similarities.
    pub fn scores(values: &'a [T], rows: usize, cols: usize) -> Result<Self, MetricsError> {
        Self::new(values, rows, cols, MatrixKind::Scores)
    }

    /// Number of caption rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of video columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
}

/// One direction's metrics: recalls in percent, MedR and MeanR as the convention defines
/// them, and mean average precision in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DirectionMetrics {
    /// Percentage of queries whose first relevant item is in the top 1.
    pub r1: f64,
    /// Percentage in the top 5.
    pub r5: f64,
    /// Percentage in the top 10.
    pub r10: f64,
    /// Median rank (see the module documentation for the convention).
    pub medr: f64,
    /// Mean rank.
    pub meanr: f64,
    /// Mean average precision over all relevant items.
    pub map: f64,
}

impl DirectionMetrics {
    /// R@1 + R@5 + R@10.
    pub fn recall_sum(&self) -> f64 {
        self.r1 + self.r5 + self.r10
    }
}

/// Both directions and the sum of the six recalls (the validation criterion of training).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetrievalMetrics {
    /// Text-to-video (one query per caption).
    pub t2v: DirectionMetrics,
    /// Video-to-text (one query per video).
    pub v2t: DirectionMetrics,
    /// t2v R@1+R@5+R@10 + v2t R@1+R@5+R@10.
    pub sumr: f64,
}

impl RetrievalMetrics {
    fn from_directions(t2v: DirectionMetrics, v2t: DirectionMetrics) -> Self {
        Self {
            t2v,
            v2t,
            sumr: t2v.recall_sum() + v2t.recall_sum(),
        }
    }
}

/// Per-query results of one direction: the 0-based position of the best-ranked relevant
/// item and the query's average precision.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryRanks {
    /// 0-based position of the first relevant item, one per query.
    pub first: Vec<usize>,
    /// Average precision over all the query's relevant items, one per query.
    pub ap: Vec<f64>,
}

/// Per-query results of both directions (t2v: one per caption, v2t: one per video).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RankLists {
    /// Text-to-video queries (captions).
    pub t2v: QueryRanks,
    /// Video-to-text queries (videos).
    pub v2t: QueryRanks,
}

/// Metrics when every video has `n_caption` captions, listed grouped by video (caption `i`
/// belongs to video `i / n_caption`), with `evaluation.py`'s conventions and the stable tie
/// order.
pub fn fixed_caption_metrics<T: MatrixValue>(
    matrix: &CaptionVideoMatrix<'_, T>,
    n_caption: usize,
) -> Result<RetrievalMetrics, MetricsError> {
    let ranks = fixed_caption_ranks(matrix, n_caption)?;
    Ok(RetrievalMetrics::from_directions(
        fixed_direction(&ranks.t2v),
        fixed_direction(&ranks.v2t),
    ))
}

/// The per-query positions and APs behind [`fixed_caption_metrics`] (its `t2i_ranks0` /
/// `i2t_ranks0`).
pub fn fixed_caption_ranks<T: MatrixValue>(
    matrix: &CaptionVideoMatrix<'_, T>,
    n_caption: usize,
) -> Result<RankLists, MetricsError> {
    if n_caption == 0 || matrix.cols.checked_mul(n_caption) != Some(matrix.rows) {
        return Err(MetricsError::CaptionCount {
            rows: matrix.rows,
            cols: matrix.cols,
            n_caption,
        });
    }
    let caption_video: Vec<usize> = (0..matrix.rows).map(|i| i / n_caption).collect();
    rank_lists(matrix, &caption_video, TieOrder::LowerIndexFirst)
}

/// Metrics when videos have varying numbers of captions (MSVD): caption `i` is relevant to
/// the column whose id equals the video id of `caption_ids[i]` (see [`video_of_caption`]),
/// with `t2i_varied` / `i2t_varied`'s conventions and their stable tie order.
pub fn varied_caption_metrics<T: MatrixValue, C: AsRef<str>, V: AsRef<str>>(
    matrix: &CaptionVideoMatrix<'_, T>,
    caption_ids: &[C],
    video_ids: &[V],
) -> Result<RetrievalMetrics, MetricsError> {
    let caption_video = caption_video_indices(caption_ids, video_ids)?;
    let ranks = varied_caption_ranks(matrix, &caption_video).map_err(|e| match e {
        MetricsError::VideoWithoutCaption { index, .. } => MetricsError::VideoWithoutCaption {
            index,
            video_id: video_ids
                .get(index)
                .map_or_else(|| index.to_string(), |s| s.as_ref().to_string()),
        },
        other => other,
    })?;
    Ok(RetrievalMetrics::from_directions(
        varied_direction(&ranks.t2v),
        varied_direction(&ranks.v2t),
    ))
}

/// The per-query positions and APs behind [`varied_caption_metrics`], given each caption's
/// video column.
pub fn varied_caption_ranks<T: MatrixValue>(
    matrix: &CaptionVideoMatrix<'_, T>,
    caption_video: &[usize],
) -> Result<RankLists, MetricsError> {
    rank_lists(matrix, caption_video, TieOrder::HigherIndexFirst)
}

/// The video id of a caption id `VIDEO#enc#K`: the part before the first `#`.
pub fn video_of_caption(caption_id: &str) -> &str {
    caption_id.split('#').next().unwrap_or(caption_id)
}

/// Each caption's video column, matching [`video_of_caption`] against `video_ids`; when that
/// fails, the id with a trailing `.jpg` / `.mp4` removed is tried (docs/data.md, "Data layout").
pub fn caption_video_indices<C: AsRef<str>, V: AsRef<str>>(
    caption_ids: &[C],
    video_ids: &[V],
) -> Result<Vec<usize>, MetricsError> {
    let mut column: HashMap<&str, usize> = HashMap::with_capacity(video_ids.len());
    for (j, id) in video_ids.iter().enumerate() {
        if column.insert(id.as_ref(), j).is_some() {
            return Err(MetricsError::DuplicateVideo(id.as_ref().to_string()));
        }
    }
    caption_ids
        .iter()
        .enumerate()
        .map(|(i, cap)| {
            let video = video_of_caption(cap.as_ref());
            let stripped = video
                .strip_suffix(".jpg")
                .or_else(|| video.strip_suffix(".mp4"))
                .unwrap_or(video);
            column
                .get(video)
                .or_else(|| column.get(stripped))
                .copied()
                .ok_or_else(|| MetricsError::UnknownVideo {
                    index: i,
                    caption_id: cap.as_ref().to_string(),
                    video_id: video.to_string(),
                })
        })
        .collect()
}

/// Per-query positions for both directions under the given tie order.
pub fn rank_lists<T: MatrixValue>(
    matrix: &CaptionVideoMatrix<'_, T>,
    caption_video: &[usize],
    tie: TieOrder,
) -> Result<RankLists, MetricsError> {
    if caption_video.len() != matrix.rows {
        return Err(MetricsError::IdCount {
            what: "caption videos",
            expected: matrix.rows,
            got: caption_video.len(),
        });
    }
    if let Some((index, &video)) = caption_video
        .iter()
        .enumerate()
        .find(|(_, &v)| v >= matrix.cols)
    {
        return Err(MetricsError::VideoIndex {
            index,
            video,
            cols: matrix.cols,
        });
    }
    let keys = VideoKeys::build(matrix, caption_video, tie)?;
    Ok(match (matrix.kind, tie) {
        (MatrixKind::Errors, TieOrder::LowerIndexFirst) => {
            rank_both::<T, Smaller, false>(matrix, caption_video, &keys)
        }
        (MatrixKind::Errors, TieOrder::HigherIndexFirst) => {
            rank_both::<T, Smaller, true>(matrix, caption_video, &keys)
        }
        (MatrixKind::Scores, TieOrder::LowerIndexFirst) => {
            rank_both::<T, Larger, false>(matrix, caption_video, &keys)
        }
        (MatrixKind::Scores, TieOrder::HigherIndexFirst) => {
            rank_both::<T, Larger, true>(matrix, caption_video, &keys)
        }
    })
}

/// Which of two non-NaN values ranks first.
trait Better {
    fn better<T: PartialOrd>(a: T, b: T) -> bool;
}

/// Errors: the smaller value ranks first.
struct Smaller;
/// Scores: the larger value ranks first.
struct Larger;

impl Better for Smaller {
    #[inline(always)]
    fn better<T: PartialOrd>(a: T, b: T) -> bool {
        a < b
    }
}

impl Better for Larger {
    #[inline(always)]
    fn better<T: PartialOrd>(a: T, b: T) -> bool {
        a > b
    }
}

/// Whether item (`x`, `ix`) comes before item (`k`, `ik`) in the order `B` with ties and NaN
/// placed as `HIGH_FIRST` says (`false`: lower index first, NaN last; `true`: higher index
/// first, NaN first).
#[inline(always)]
fn precedes<T: MatrixValue, B: Better, const HIGH_FIRST: bool>(
    x: T,
    ix: usize,
    k: T,
    ik: usize,
) -> bool {
    let tie_wins = if HIGH_FIRST { ix > ik } else { ix < ik };
    match (x.is_nan_value(), k.is_nan_value()) {
        (false, false) => B::better(x, k) || (x == k && tie_wins),
        (true, true) => tie_wins,
        (x_nan, _) => x_nan == HIGH_FIRST,
    }
}

/// Counts the items of `row` that precede column `target` (its 0-based position).
#[inline]
fn position_in_row<T: MatrixValue, B: Better, const HIGH_FIRST: bool>(
    row: &[T],
    target: usize,
) -> usize {
    let key = row[target];
    if key.is_nan_value() {
        return row
            .iter()
            .enumerate()
            .filter(|&(j, &x)| precedes::<T, B, HIGH_FIRST>(x, j, key, target))
            .count();
    }
    // Non-NaN key: ties precede when their index wins; NaN precedes only when HIGH_FIRST.
    let (before, after) = (&row[..target], &row[target + 1..]);
    let count = |part: &[T], ties: bool| -> usize {
        part.iter()
            .map(|&x| {
                let p = B::better(x, key) || (ties && x == key) || (HIGH_FIRST && x.is_nan_value());
                usize::from(p)
            })
            .sum()
    };
    count(before, !HIGH_FIRST) + count(after, HIGH_FIRST)
}

/// Each video's relevant captions sorted in the ranking order, stored back to back, plus a
/// transposed copy of their values for the vectorised count.
struct VideoKeys<T> {
    /// `offsets[v]..offsets[v + 1]` indexes video `v`'s keys.
    offsets: Vec<usize>,
    /// (value, caption row) of every key.
    keys: Vec<(T, usize)>,
    /// The key values alone, compact for the tie check of the fast path.
    values: Vec<T>,
    /// `depth x cols`: entry `j * cols + v` is video `v`'s `j`-th key value, NaN past its end
    /// (NaN is never better than, nor equal to, anything). `depth` is the most keys of a
    /// video, capped by [`max_depth`] so that one video with very many captions cannot
    /// blow up memory.
    transposed: Vec<T>,
    /// Videos whose entries take the exact path: a NaN key, or more keys than `depth`.
    exact: Vec<bool>,
}

impl<T: MatrixValue> VideoKeys<T> {
    fn build(
        matrix: &CaptionVideoMatrix<'_, T>,
        caption_video: &[usize],
        tie: TieOrder,
    ) -> Result<Self, MetricsError> {
        let cols = matrix.cols;
        let mut offsets = vec![0usize; cols + 1];
        for &v in caption_video {
            offsets[v + 1] += 1;
        }
        if let Some(index) = (0..cols).find(|&v| offsets[v + 1] == 0) {
            return Err(MetricsError::VideoWithoutCaption {
                index,
                video_id: index.to_string(),
            });
        }
        let depth = offsets
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .min(max_depth(matrix.rows, cols));
        for v in 0..cols {
            offsets[v + 1] += offsets[v];
        }
        let mut fill = offsets.clone();
        let mut keys = vec![(matrix.values[0], 0usize); matrix.rows];
        for (row, &v) in caption_video.iter().enumerate() {
            keys[fill[v]] = (matrix.values[row * cols + v], row);
            fill[v] += 1;
        }
        let mut transposed = vec![T::NAN; depth * cols];
        let mut exact = vec![false; cols];
        for v in 0..cols {
            let part = &mut keys[offsets[v]..offsets[v + 1]];
            part.sort_by(|a, b| key_cmp(*a, *b, matrix.kind, tie));
            exact[v] = part.len() > depth || part.iter().any(|k| k.0.is_nan_value());
            for (j, &(value, _)) in part.iter().take(depth).enumerate() {
                transposed[j * cols + v] = value;
            }
        }
        let values = keys.iter().map(|k| k.0).collect();
        Ok(Self {
            offsets,
            keys,
            values,
            transposed,
            exact,
        })
    }
}

/// The most key levels transposed: four times the mean number of captions per video, at
/// least 64 (videos with more keys are handled exactly).
fn max_depth(rows: usize, cols: usize) -> usize {
    (4 * rows.div_ceil(cols)).max(64)
}

/// Total order of two keys (value, row) under the kind and tie order.
fn key_cmp<T: MatrixValue>(
    a: (T, usize),
    b: (T, usize),
    kind: MatrixKind,
    tie: TieOrder,
) -> std::cmp::Ordering {
    let before = match (kind, tie) {
        (MatrixKind::Errors, TieOrder::LowerIndexFirst) => {
            precedes::<T, Smaller, false>(a.0, a.1, b.0, b.1)
        }
        (MatrixKind::Errors, TieOrder::HigherIndexFirst) => {
            precedes::<T, Smaller, true>(a.0, a.1, b.0, b.1)
        }
        (MatrixKind::Scores, TieOrder::LowerIndexFirst) => {
            precedes::<T, Larger, false>(a.0, a.1, b.0, b.1)
        }
        (MatrixKind::Scores, TieOrder::HigherIndexFirst) => {
            precedes::<T, Larger, true>(a.0, a.1, b.0, b.1)
        }
    };
    if a.1 == b.1 {
        std::cmp::Ordering::Equal
    } else if before {
        std::cmp::Ordering::Less
    } else {
        std::cmp::Ordering::Greater
    }
}

/// Rows handled by one parallel task in the video-to-text pass.
const ROWS_PER_TASK: usize = 256;

fn rank_both<T: MatrixValue, B: Better, const HIGH_FIRST: bool>(
    matrix: &CaptionVideoMatrix<'_, T>,
    caption_video: &[usize],
    keys: &VideoKeys<T>,
) -> RankLists {
    RankLists {
        t2v: text_to_video::<T, B, HIGH_FIRST>(matrix, caption_video),
        v2t: video_to_text::<T, B, HIGH_FIRST>(matrix, caption_video, keys),
    }
}

/// Text-to-video: one relevant video per caption, AP = 1 / (position + 1).
fn text_to_video<T: MatrixValue, B: Better, const HIGH_FIRST: bool>(
    matrix: &CaptionVideoMatrix<'_, T>,
    caption_video: &[usize],
) -> QueryRanks {
    let first: Vec<usize> = matrix
        .values
        .par_chunks(matrix.cols)
        .zip(caption_video.par_iter())
        .map(|(row, &target)| position_in_row::<T, B, HIGH_FIRST>(row, target))
        .collect();
    let ap = first.iter().map(|&p| 1.0 / (p as f64 + 1.0)).collect();
    QueryRanks { first, ap }
}

/// Video-to-text: positions of every relevant caption of every video, from per-video
/// histograms filled in one parallel pass over the rows.
fn video_to_text<T: MatrixValue, B: Better, const HIGH_FIRST: bool>(
    matrix: &CaptionVideoMatrix<'_, T>,
    caption_video: &[usize],
    keys: &VideoKeys<T>,
) -> QueryRanks {
    let cols = matrix.cols;
    let hist = matrix
        .values
        .par_chunks(cols * ROWS_PER_TASK)
        .enumerate()
        .fold(
            || (vec![0u32; keys.keys.len()], vec![0u32; cols]),
            |(mut hist, mut better), (chunk_index, chunk)| {
                let first_row = chunk_index * ROWS_PER_TASK;
                for (r, row) in chunk.chunks_exact(cols).enumerate() {
                    let row_index = first_row + r;
                    let own = caption_video[row_index];
                    add_row::<T, B, HIGH_FIRST>(&mut hist, &mut better, keys, row, row_index, own);
                }
                (hist, better)
            },
        )
        .map(|(hist, _)| hist)
        .reduce_with(|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
            a
        })
        .unwrap_or_else(|| vec![0u32; keys.keys.len()]);
    let mut ranks = QueryRanks::default();
    for v in 0..cols {
        let counts = &hist[keys.offsets[v]..keys.offsets[v + 1]];
        let mut position = 0usize;
        let mut ap = 0.0f64;
        for (j, &c) in counts.iter().enumerate() {
            position += c as usize;
            if j == 0 {
                ranks.first.push(position);
            }
            ap += (j as f64 + 1.0) / (position as f64 + 1.0);
        }
        ranks.ap.push(ap / counts.len() as f64);
    }
    ranks
}

/// Adds one caption row (`row_index`, a caption of video `own`) to the histograms: for each
/// video, the entry falls in the bucket of the first relevant caption it precedes (entries
/// preceding none are not counted).
///
/// The common case is a vectorised count, over the transposed keys, of the keys strictly
/// better than the entry: that count `b` is the bucket unless the video's key `b` (keys are
/// sorted) ties with the entry. Ties, the caption's own video, NaN entries and the videos
/// marked `exact` take the exact order instead.
#[inline]
fn add_row<T: MatrixValue, B: Better, const HIGH_FIRST: bool>(
    hist: &mut [u32],
    better: &mut [u32],
    keys: &VideoKeys<T>,
    row: &[T],
    row_index: usize,
    own: usize,
) {
    count_better_keys::<T, B>(better, &keys.transposed, row);
    let lanes = row.iter().zip(better.iter()).zip(keys.offsets.windows(2));
    for (v, ((&x, &b), bounds)) in lanes.enumerate() {
        let [start, end] = [bounds[0], bounds[1]];
        // Index of the first key the entry may precede (== end: it precedes none).
        let slot = start + b as usize;
        let special = (v == own) | keys.exact[v] | x.is_nan_value();
        let tied = slot < end && keys.values[slot] == x;
        if special || tied {
            let bucket = exact_bucket::<T, B, HIGH_FIRST>(&keys.keys[start..end], x, row_index);
            if bucket < end - start {
                hist[start + bucket] += 1;
            }
        } else if slot < end {
            hist[slot] += 1;
        }
    }
}

/// `better[v]` = number of keys of video `v` strictly better than `row[v]`, four key levels
/// at a time (NaN padding and NaN entries count nothing).
#[inline]
fn count_better_keys<T: MatrixValue, B: Better>(better: &mut [u32], transposed: &[T], row: &[T]) {
    let cols = row.len();
    better.fill(0);
    let groups = transposed.chunks_exact(4 * cols);
    let rest = groups.remainder();
    for group in groups {
        let (k0, tail) = group.split_at(cols);
        let (k1, tail) = tail.split_at(cols);
        let (k2, k3) = tail.split_at(cols);
        let lanes = better.iter_mut().zip(row).zip(k0).zip(k1).zip(k2).zip(k3);
        for (((((b, &x), &a0), &a1), &a2), &a3) in lanes {
            *b += u32::from(B::better(a0, x))
                + u32::from(B::better(a1, x))
                + u32::from(B::better(a2, x))
                + u32::from(B::better(a3, x));
        }
    }
    for level in rest.chunks_exact(cols) {
        for ((b, &x), &k) in better.iter_mut().zip(row).zip(level) {
            *b += u32::from(B::better(k, x));
        }
    }
}

/// The bucket of (`x`, `row`) with the full order (ties by index, NaN placement).
fn exact_bucket<T: MatrixValue, B: Better, const HIGH_FIRST: bool>(
    keys: &[(T, usize)],
    x: T,
    row: usize,
) -> usize {
    keys.partition_point(|&(k, kr)| !precedes::<T, B, HIGH_FIRST>(x, row, k, kr))
}

/// `evaluation.py`'s `t2i`/`i2t` (+ `*_map`) conventions on 0-based positions.
fn fixed_direction(ranks: &QueryRanks) -> DirectionMetrics {
    let n = ranks.first.len() as f64;
    let recall = |k: usize| 100.0 * ranks.first.iter().filter(|&&r| r < k).count() as f64 / n;
    DirectionMetrics {
        r1: recall(1),
        r5: recall(5),
        r10: recall(10),
        medr: median(&ranks.first).floor() + 1.0,
        meanr: sum(&ranks.first) / n + 1.0,
        map: mean(&ranks.ap),
    }
}

/// `eval_varied`'s conventions: 1-based ranks, MedR = floor(median), MeanR = mean.
fn varied_direction(ranks: &QueryRanks) -> DirectionMetrics {
    let n = ranks.first.len() as f64;
    let one_based: Vec<usize> = ranks.first.iter().map(|&r| r + 1).collect();
    let recall = |k: usize| 100.0 * (one_based.iter().filter(|&&r| r <= k).count() as f64 / n);
    DirectionMetrics {
        r1: recall(1),
        r5: recall(5),
        r10: recall(10),
        medr: median(&one_based).floor(),
        meanr: sum(&one_based) / n,
        map: mean(&ranks.ap),
    }
}

fn sum(values: &[usize]) -> f64 {
    values.iter().map(|&v| v as f64).sum()
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// numpy's median: the middle value, or the mean of the two middle values.
fn median(values: &[usize]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => sorted[n / 2] as f64,
        _ => (sorted[n / 2 - 1] as f64 + sorted[n / 2] as f64) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_ties_put_the_lower_index_first() {
        // Row 0: all equal; caption 0 belongs to video 0, caption 1 to video 1.
        let errors = [0.0f64, 0.0, 0.0, 0.0];
        let m = CaptionVideoMatrix::errors(&errors, 2, 2).unwrap();
        let r = fixed_caption_ranks(&m, 1).unwrap();
        assert_eq!(r.t2v.first, vec![0, 1]);
        let r = varied_caption_ranks(&m, &[0, 1]).unwrap();
        assert_eq!(r.t2v.first, vec![1, 0]);
    }

    #[test]
    fn scores_rank_the_largest_first() {
        let scores = [0.9f32, 0.1, 0.2, 0.8];
        let m = CaptionVideoMatrix::scores(&scores, 2, 2).unwrap();
        let metrics = fixed_caption_metrics(&m, 1).unwrap();
        assert_eq!(metrics.t2v.r1, 100.0);
        assert_eq!(metrics.v2t.map, 1.0);
        assert_eq!(metrics.sumr, 600.0);
    }

    #[test]
    fn nan_goes_last_for_fixed_and_first_for_varied() {
        let errors = [f64::NAN, 0.5, 0.1, 0.2];
        let m = CaptionVideoMatrix::errors(&errors, 2, 2).unwrap();
        assert_eq!(fixed_caption_ranks(&m, 1).unwrap().t2v.first, vec![1, 1]);
        assert_eq!(
            varied_caption_ranks(&m, &[0, 1]).unwrap().t2v.first,
            vec![0, 1]
        );
    }

    #[test]
    fn shape_and_id_errors_are_reported() {
        let errors = [0.0f64; 6];
        assert!(matches!(
            CaptionVideoMatrix::errors(&errors, 4, 2),
            Err(MetricsError::Shape { .. })
        ));
        let m = CaptionVideoMatrix::errors(&errors, 3, 2).unwrap();
        assert!(matches!(
            fixed_caption_metrics(&m, 2),
            Err(MetricsError::CaptionCount { .. })
        ));
        let err = varied_caption_metrics(&m, &["a#0", "b#0", "c#1"], &["a", "b"]).unwrap_err();
        assert!(err.to_string().contains("video 'c'"), "{err}");
        let err = varied_caption_metrics(&m, &["a#0", "a#1", "a#2"], &["a", "b"]).unwrap_err();
        assert_eq!(err.to_string(), "video 1 (b) has no caption");
    }

    /// numpy's stable argsort of one list (NaN last), the reference for the tie order.
    fn stable_argsort(values: &[f64]) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..values.len()).collect();
        idx.sort_by(|&a, &b| match (values[a].is_nan(), values[b].is_nan()) {
            (false, false) => values[a].partial_cmp(&values[b]).unwrap(),
            (x, y) => x.cmp(&y),
        });
        idx
    }

    /// Order of the original: fixed = argsort(e); varied = argsort(-e) reversed.
    fn reference_order(values: &[f64], tie: TieOrder) -> Vec<usize> {
        match tie {
            TieOrder::LowerIndexFirst => stable_argsort(values),
            TieOrder::HigherIndexFirst => {
                let negated: Vec<f64> = values.iter().map(|v| -v).collect();
                let mut order = stable_argsort(&negated);
                order.reverse();
                order
            }
        }
    }

    /// Positions of the relevant items by sorting every query, as the original does.
    fn reference_ranks(
        values: &[f64],
        rows: usize,
        cols: usize,
        caption_video: &[usize],
        tie: TieOrder,
    ) -> RankLists {
        let mut out = RankLists::default();
        let push = |q: &mut QueryRanks, list: Vec<f64>, relevant: &dyn Fn(usize) -> bool| {
            let order = reference_order(&list, tie);
            let hits: Vec<usize> = (0..order.len()).filter(|&p| relevant(order[p])).collect();
            q.first.push(hits[0]);
            let ap: f64 = hits
                .iter()
                .enumerate()
                .map(|(j, &p)| (j as f64 + 1.0) / (p as f64 + 1.0))
                .sum();
            q.ap.push(ap / hits.len() as f64);
        };
        for r in 0..rows {
            let row = values[r * cols..(r + 1) * cols].to_vec();
            push(&mut out.t2v, row, &|v| v == caption_video[r]);
        }
        for v in 0..cols {
            let column = (0..rows).map(|r| values[r * cols + v]).collect();
            push(&mut out.v2t, column, &|r| caption_video[r] == v);
        }
        out
    }

    #[test]
    fn counting_matches_sorting_with_ties_nan_and_signed_zero() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let palette = [-1.0, -0.5, -0.0, 0.0, 0.5, 1.0, f64::NAN];
        for trial in 0..60 {
            let cols = rng.random_range(1..9);
            let rows = cols * rng.random_range(1..4) + rng.random_range(0..3);
            let discrete = trial % 3 != 0;
            let values: Vec<f64> = (0..rows * cols)
                .map(|_| {
                    if discrete {
                        palette[rng.random_range(0..palette.len() - usize::from(trial % 2 == 0))]
                    } else {
                        rng.random_range(-1.0..1.0)
                    }
                })
                .collect();
            // Every video gets a caption, the rest are spread at random.
            let caption_video: Vec<usize> = (0..rows)
                .map(|r| {
                    if r < cols {
                        r
                    } else {
                        rng.random_range(0..cols)
                    }
                })
                .collect();
            let m = CaptionVideoMatrix::errors(&values, rows, cols).unwrap();
            for tie in [TieOrder::LowerIndexFirst, TieOrder::HigherIndexFirst] {
                let got = rank_lists(&m, &caption_video, tie).unwrap();
                let want = reference_ranks(&values, rows, cols, &caption_video, tie);
                assert_eq!(got.t2v.first, want.t2v.first, "trial {trial} {tie:?} t2v");
                assert_eq!(got.v2t.first, want.v2t.first, "trial {trial} {tie:?} v2t");
                for (g, w) in got.v2t.ap.iter().zip(&want.v2t.ap) {
                    assert!((g - w).abs() < 1e-12, "trial {trial} {tie:?} ap");
                }
            }
        }
    }

    #[test]
    fn a_video_with_more_captions_than_the_transposed_depth_is_exact() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let (rows, cols) = (100, 10);
        // Videos 1..9 have one caption each, video 0 the other 91 (more than max_depth).
        let caption_video: Vec<usize> = (0..rows).map(|r| if r < 9 { r + 1 } else { 0 }).collect();
        assert!(91 > max_depth(rows, cols));
        let values: Vec<f64> = (0..rows * cols)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let m = CaptionVideoMatrix::errors(&values, rows, cols).unwrap();
        for tie in [TieOrder::LowerIndexFirst, TieOrder::HigherIndexFirst] {
            let got = rank_lists(&m, &caption_video, tie).unwrap();
            let want = reference_ranks(&values, rows, cols, &caption_video, tie);
            assert_eq!(got.v2t.first, want.v2t.first);
            for (g, w) in got.v2t.ap.iter().zip(&want.v2t.ap) {
                assert!((g - w).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn caption_ids_with_extensions_match_stripped_video_ids() {
        let ids = ["v1.mp4#enc#0", "v2#enc#1"];
        assert_eq!(
            caption_video_indices(&ids, &["v2", "v1"]).unwrap(),
            vec![1, 0]
        );
    }
}
