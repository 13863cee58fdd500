//! Triplet ranking loss of the original (`TripletLoss` / VSE++ with hardest negatives).
//!
//! `S[i,j]` = similarity of video `i` and caption `j` ([`similarity`]: cosine `V C^T`, or
//! `loss.py`'s order and euclidean measures); for the video queries (rows)
//! `cost_s[i,j] = max(0, m + S[i,j] - S[i,i])`, for the caption queries (columns)
//! `cost_im[i,j] = max(0, m + S[i,j] - S[j,j])`, diagonals zero. Two captions of the same
//! video in a batch count as negatives, as in the original.

use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

/// Which retrieval directions contribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Direction {
    /// Both directions.
    #[default]
    All,
    /// Text-to-video only (the original's `t2i`: captions as queries).
    #[serde(alias = "t2i")]
    #[cfg_attr(feature = "clap", value(alias = "t2i"))]
    T2v,
    /// Video-to-text only (the original's `i2t`: videos as queries).
    #[serde(alias = "i2t")]
    #[cfg_attr(feature = "clap", value(alias = "i2t"))]
    V2t,
}

/// How per-query costs are reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum CostStyle {
    /// Sum over the batch.
    #[default]
    Sum,
    /// Mean over the batch (over all pairs without `max_violation`).
    Mean,
}

/// Similarity of a video and a caption embedding (the original's `--measure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Measure {
    /// Dot product of (normalised) embeddings.
    #[default]
    Cosine,
    /// Order embeddings (Vendrov et al.): `-|| max(0, c - v) ||`, the caption should lie
    /// below the video in every coordinate.
    Order,
    /// Negative squared Euclidean distance `-|| c - v ||^2`.
    Euclidean,
}

/// Scores `[Nv, Nc]` of every video (rows of `video`) with every caption (rows of `text`),
/// as `loss.py`'s `cosine_sim`, `order_sim` and `euclidean_sim`.
pub fn similarity<B: Backend>(
    video: Tensor<B, 2>,
    text: Tensor<B, 2>,
    measure: Measure,
) -> Tensor<B, 2> {
    if measure == Measure::Cosine {
        return video.matmul(text.transpose());
    }
    // diff[i, j, :] = c_j - v_i
    let diff = text.unsqueeze_dim::<3>(0) - video.unsqueeze_dim::<3>(1);
    let squared = match measure {
        Measure::Order => diff.clamp_min(0.0).square(),
        _ => diff.square(),
    };
    let summed = squared.sum_dim(2).squeeze_dim::<2>(2);
    match measure {
        Measure::Order => summed.sqrt().neg(),
        _ => summed.neg(),
    }
}

/// Options of the loss, with the paper's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TripletLossConfig {
    /// Margin.
    pub margin: f64,
    /// Only the hardest negative per query counts (VSE++).
    pub max_violation: bool,
    /// Contributing directions.
    pub direction: Direction,
    /// Reduction.
    pub cost_style: CostStyle,
    /// Similarity.
    pub measure: Measure,
}

impl Default for TripletLossConfig {
    fn default() -> Self {
        Self {
            margin: 0.2,
            max_violation: true,
            direction: Direction::All,
            cost_style: CostStyle::Sum,
            measure: Measure::Cosine,
        }
    }
}

/// Loss `[1]` of the paired embeddings `video` and `text` (`[N, dim]`, row `i` of each paired).
pub fn triplet_loss<B: Backend>(
    video: Tensor<B, 2>,
    text: Tensor<B, 2>,
    config: &TripletLossConfig,
) -> Tensor<B, 1> {
    let n = video.dims()[0];
    let device = video.device();
    let scores = similarity(video, text, config.measure);
    let eye = Tensor::<B, 2>::eye(n, &device);
    let off_diagonal = eye.clone().neg().add_scalar(1.0);
    let diagonal = (scores.clone() * eye).sum_dim(1);
    let margin_scores = scores.add_scalar(config.margin);
    let mut total = Tensor::<B, 1>::zeros([1], &device);
    if config.direction != Direction::T2v {
        let cost_s =
            (margin_scores.clone() - diagonal.clone()).clamp_min(0.0) * off_diagonal.clone();
        let cost_s = if config.max_violation {
            cost_s.max_dim(1)
        } else {
            cost_s
        };
        total = total + reduce(cost_s, config.cost_style);
    }
    if config.direction != Direction::V2t {
        let cost_im = (margin_scores - diagonal.transpose()).clamp_min(0.0) * off_diagonal;
        let cost_im = if config.max_violation {
            cost_im.max_dim(0)
        } else {
            cost_im
        };
        total = total + reduce(cost_im, config.cost_style);
    }
    total
}

fn reduce<B: Backend>(cost: Tensor<B, 2>, style: CostStyle) -> Tensor<B, 1> {
    match style {
        CostStyle::Sum => cost.sum(),
        CostStyle::Mean => cost.mean(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    fn loss(config: &TripletLossConfig) -> f32 {
        let device = Default::default();
        // Two orthogonal pairs plus one confusable pair: S = [[1, 0.8], [0, 1]].
        let v = Tensor::<Flex, 2>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0], [2, 2]),
            &device,
        );
        let c = Tensor::<Flex, 2>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 0.8, 0.6], [2, 2]),
            &device,
        );
        triplet_loss(v, c, config).into_scalar()
    }

    #[test]
    fn order_and_euclidean_scores_match_a_hand_computation() {
        let device = Default::default();
        let v = Tensor::<Flex, 2>::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 2]), &device);
        let c = Tensor::<Flex, 2>::from_data(
            TensorData::new(vec![0.0f32, 2.0, 4.0, -1.0], [2, 2]),
            &device,
        );
        let score = |m| {
            similarity(v.clone(), c.clone(), m)
                .into_data()
                .to_vec::<f32>()
                .unwrap()
        };
        // c0 - v = (-1, 2): order sqrt(0 + 4) = 2, euclidean 1 + 4 = 5.
        // c1 - v = (3, -1): order sqrt(9 + 0) = 3, euclidean 9 + 1 = 10.
        assert_eq!(score(Measure::Order), vec![-2.0, -3.0]);
        assert_eq!(score(Measure::Euclidean), vec![-5.0, -10.0]);
        assert_eq!(score(Measure::Cosine), vec![0.0, 4.0]);
    }

    #[test]
    fn hinge_values_match_a_hand_computation() {
        // S = v c^T = [[1.0, 0.8], [0.0, 0.6]]; diag = [1.0, 0.6].
        // cost_s (rows): [max(0, .2+.8-1)=0, max(0, .2+0-.6)=0]
        // cost_im (cols): [max(0, .2+0-1)=0, max(0, .2+.8-.6)=0.4]
        let all = loss(&TripletLossConfig::default());
        assert!((all - 0.4).abs() < 1e-6, "{all}");
        let v2t = loss(&TripletLossConfig {
            direction: Direction::V2t,
            ..Default::default()
        });
        assert!(v2t.abs() < 1e-6, "{v2t}");
        let mean = loss(&TripletLossConfig {
            cost_style: CostStyle::Mean,
            ..Default::default()
        });
        assert!((mean - 0.2).abs() < 1e-6, "{mean}");
    }
}
