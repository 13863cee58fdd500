//! Pieces shared by the two encoders: inputs, the trace of intermediates, the padding mode.

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};

use crate::mapping::BatchStats;

/// How an item's embedding may depend on the other items of its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PaddingMode {
    /// As the original: the video biGRU runs through the batch's padding and CNN windows over
    /// padding take part in the max, so an embedding depends on the batch's longest item.
    #[default]
    Batch,
    /// Each item behaves as if padded only to its own length (the original's result for a
    /// batch of one), whatever the batch.
    Item,
}

/// A collated video batch on a device.
#[derive(Debug, Clone)]
pub struct VideoInput<B: Backend> {
    /// `[N, T, D]` first `min(n_i, max_len)` frames, zero padded.
    pub frames: Tensor<B, 3>,
    /// `[N, D]` mean over all frames (level 1).
    pub origin: Tensor<B, 2>,
    /// `[N, T]` 1 for real frames.
    pub mask: Tensor<B, 2>,
    /// Frames per video entering levels 2-3, each in `1..=T`.
    pub lengths: Vec<usize>,
}

/// A collated caption batch on a device.
#[derive(Debug, Clone)]
pub struct TextInput<B: Backend> {
    /// `[N, L]` word ids with `<start>`/`<end>`, zero padded.
    pub ids: Tensor<B, 2, Int>,
    /// `[N, V_bow]` bag-of-words counts (level 1).
    pub bows: Tensor<B, 2>,
    /// `[N, L]` 1 for real tokens.
    pub mask: Tensor<B, 2>,
    /// Tokens per caption, each in `1..=L`.
    pub lengths: Vec<usize>,
}

/// Every intermediate of one encoder's forward pass (the names of the reference fixtures).
#[derive(Debug, Clone)]
pub struct EncoderTrace<B: Backend> {
    /// Level 1 (mean frame / BoW); `None` in the reduced configuration.
    pub level1: Option<Tensor<B, 2>>,
    /// Level 2: mean biGRU output over the real steps, before dropout.
    pub level2: Tensor<B, 2>,
    /// Level 3: concatenated conv max-pools, before dropout.
    pub level3: Tensor<B, 2>,
    /// The mapping's input.
    pub concat: Tensor<B, 2>,
    /// Linear output.
    pub fc1_out: Tensor<B, 2>,
    /// BatchNorm output.
    pub bn_out: Tensor<B, 2>,
    /// Final embedding.
    pub embedding: Tensor<B, 2>,
    /// Per window `[N, T + w - 1, K]` conv outputs before ReLU.
    pub conv_preacts: Vec<Tensor<B, 3>>,
    /// `[N, T, 2H]` biGRU outputs as the CNN sees them.
    pub gru_out: Tensor<B, 3>,
    /// `[2, N, H]` final biGRU states.
    pub gru_h_n: Tensor<B, 3>,
    /// Train-mode BatchNorm statistics.
    pub bn_stats: Option<BatchStats<B>>,
}

/// Mean over the first `L_i` steps of `x` `[N, T, C]`, given its `[N, T]` 0/1 mask.
pub(crate) fn masked_mean<B: Backend>(
    x: Tensor<B, 3>,
    mask: Tensor<B, 2>,
    lengths: &[usize],
) -> Tensor<B, 2> {
    let [n, _, c] = x.dims();
    let counts: Vec<f32> = lengths.iter().map(|&l| l as f32).collect();
    let counts = Tensor::<B, 2>::from_data(TensorData::new(counts, [n, 1]), &x.device());
    (x * mask.unsqueeze_dim(2)).sum_dim(1).reshape([n, c]) / counts
}
