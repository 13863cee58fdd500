//! The bank of 1-d convolutions over biGRU outputs (level 3 of both encoders).
//!
//! Each window size `w` is PyTorch's `Conv2d(1, K, (w, C), padding=(w - 1, 0))`: weights
//! `[K, 1, w, C]`, the sequence zero-padded with `w - 1` steps at both ends, ReLU, then a max
//! over all `T + w - 1` positions. Positions whose window covers only padding give
//! `ReLU(bias)` and take part in the max, as in the original. All windows share one matrix
//! product: `Y = G W^T` with `W` the filters' rows stacked, `[sum_w K w, C]` (PyTorch's memory
//! order, read transposed by the GEMM), then each output position sums `w` shifted steps of
//! `Y`, one custom operation (`dualenc_kernels::ConvBackend`) with its own backward pass.

use burn::module::{Module, Param};
use burn::tensor::activation::relu;
use burn::tensor::{backend::Backend, Tensor, TensorData, TensorPrimitive};

use crate::error::Result;
use crate::named::{Init, ParamMapper, ParamVisitor, TensorSource, TensorSpec};
use dualenc_kernels::precision::{self, MixedPrecisionBackend};
use dualenc_kernels::ConvBackend;

/// One window size: `K` filters spanning `w` steps and all `C` channels.
#[derive(Module, Debug)]
pub struct WindowConv<B: Backend> {
    /// `[K, 1, w, C]` as in PyTorch.
    pub weight: Param<Tensor<B, 4>>,
    /// `[K]`.
    pub bias: Param<Tensor<B, 1>>,
}

impl<B: Backend> WindowConv<B> {
    fn width(&self) -> usize {
        self.weight.dims()[2]
    }

    fn filters(&self) -> usize {
        self.weight.dims()[0]
    }

    /// Weight as `[K w, C]`: row `f w + k` is filter `f`'s row `k`. This is the PyTorch
    /// tensor's own memory order, so the reshape copies nothing (the old `[C, w K]` layout
    /// was a strided permute of the whole bank on every call).
    fn rows(&self) -> Tensor<B, 2> {
        let [k, _, w, c] = self.weight.dims();
        self.weight.val().reshape([k * w, c])
    }
}

/// Output of the convolution bank.
#[derive(Debug, Clone)]
pub struct ConvOutput<B: Backend> {
    /// `[N, K * windows]`: the max-pooled ReLU outputs, windows in configuration order.
    pub pooled: Tensor<B, 2>,
    /// Per window, `[N, T + w - 1, K]` convolution outputs before ReLU.
    pub preacts: Vec<Tensor<B, 3>>,
}

/// Specs under `prefix` (e.g. `"video.convs1."`), PyTorch's default Conv2d init:
/// `U(-1/sqrt(w C), 1/sqrt(w C))` for weight and bias.
pub fn conv_bank_specs(
    prefix: &str,
    channels: usize,
    filters: usize,
    widths: &[usize],
) -> Vec<TensorSpec> {
    widths
        .iter()
        .enumerate()
        .flat_map(|(i, &w)| {
            let bound = 1.0 / ((w * channels) as f64).sqrt();
            [
                TensorSpec {
                    name: format!("{prefix}{i}.weight"),
                    shape: vec![filters, 1, w, channels],
                    init: Init::Uniform(bound),
                },
                TensorSpec {
                    name: format!("{prefix}{i}.bias"),
                    shape: vec![filters],
                    init: Init::Uniform(bound),
                },
            ]
        })
        .collect()
}

/// All window sizes of one encoder (`convs1` in the original).
#[derive(Module, Debug)]
pub struct ConvBank<B: Backend> {
    /// One convolution per window size.
    pub convs: Vec<WindowConv<B>>,
}

impl<B: Backend> ConvBank<B> {
    pub(crate) fn from_source(
        src: &mut TensorSource,
        prefix: &str,
        windows: usize,
        device: &B::Device,
    ) -> Result<Self> {
        let convs = (0..windows)
            .map(|i| {
                Ok(WindowConv {
                    weight: src.param(&format!("{prefix}{i}.weight"), device)?,
                    bias: src.param(&format!("{prefix}{i}.bias"), device)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { convs })
    }

    pub(crate) fn visit_named<V: ParamVisitor<B>>(&self, prefix: &str, v: &mut V) {
        for (i, conv) in self.convs.iter().enumerate() {
            v.visit(&format!("{prefix}{i}.weight"), &conv.weight);
            v.visit(&format!("{prefix}{i}.bias"), &conv.bias);
        }
    }

    pub(crate) fn map_named<M: ParamMapper<B>>(self, prefix: &str, m: &mut M) -> Self {
        let convs = self
            .convs
            .into_iter()
            .enumerate()
            .map(|(i, conv)| WindowConv {
                weight: m.map(&format!("{prefix}{i}.weight"), conv.weight),
                bias: m.map(&format!("{prefix}{i}.bias"), conv.bias),
            })
            .collect();
        Self { convs }
    }

    /// Convolves `g` `[N, T, C]`. With `own_lengths`, each row's max only covers the
    /// `L_i + w - 1` positions it would have if padded to its own length (batch-independent
    /// mode); without, the max covers all `T + w - 1` positions (the original).
    pub fn forward(&self, g: Tensor<B, 3>, own_lengths: Option<&[usize]>) -> ConvOutput<B>
    where
        B: ConvBackend + MixedPrecisionBackend,
    {
        let [n, t, c] = g.dims();
        let device = g.device();
        let rows = Tensor::cat(self.convs.iter().map(WindowConv::rows).collect(), 0);
        let y = precision::matmul(g.reshape([n * t, c]), rows.transpose());
        let cols = y.dims()[1];
        let widths: Vec<usize> = self.convs.iter().map(WindowConv::width).collect();
        let sums = B::conv_window_sums(y.reshape([n, t, cols]).into_primitive().tensor(), &widths);
        let sums = Tensor::<B, 3>::from_primitive(TensorPrimitive::Float(sums));
        let mut pooled = Vec::with_capacity(self.convs.len());
        let mut preacts = Vec::with_capacity(self.convs.len());
        for (i, conv) in self.convs.iter().enumerate() {
            let (w, k) = (conv.width(), conv.filters());
            let positions = t + w - 1;
            let pre = sums.clone().narrow(2, i * k, k).narrow(1, 0, positions)
                + conv.bias.val().unsqueeze_dims::<3>(&[0, 1]);
            let act = relu(pre.clone());
            let act = match own_lengths {
                Some(lengths) => act * position_mask::<B>(lengths, w, positions, &device),
                None => act,
            };
            pooled.push(act.max_dim(1).reshape([n, k]));
            preacts.push(pre);
        }
        ConvOutput {
            pooled: Tensor::cat(pooled, 1),
            preacts,
        }
    }
}

/// `[N, P, 1]` mask, 1 for positions `p < L_i + w - 1`. ReLU outputs are non-negative, so
/// zeroing the other positions leaves the max of the kept ones unchanged.
fn position_mask<B: Backend>(
    lengths: &[usize],
    w: usize,
    positions: usize,
    device: &B::Device,
) -> Tensor<B, 3> {
    let data: Vec<f32> = lengths
        .iter()
        .flat_map(|&len| (0..positions).map(move |p| if p < len + w - 1 { 1.0 } else { 0.0 }))
        .collect();
    Tensor::from_data(TensorData::new(data, [lengths.len(), positions, 1]), device)
}
