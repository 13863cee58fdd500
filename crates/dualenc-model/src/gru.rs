//! Bidirectional GRU with PyTorch's parameter layout and equations.
//!
//! Gates are packed as rows `[r; z; n]` of `weight_ih` `[3H, in]` and `weight_hh` `[3H, H]`,
//! with two bias vectors; `n = tanh(W_in x + b_in + r * (W_hn h + b_hn))` and
//! `h' = (1 - z) * n + z * h`. The input projection of all time steps is one matrix
//! product; the recurrence is one custom operation (`dualenc_kernels::GruBackend`) with its
//! own backward pass.

use burn::module::{Module, Param};
use burn::tensor::{backend::Backend, Int, Tensor, TensorData, TensorPrimitive};

use crate::error::Result;
use crate::named::{Init, ParamMapper, ParamVisitor, TensorSource, TensorSpec};
use dualenc_kernels::precision::{self, MixedPrecisionBackend};
use dualenc_kernels::GruBackend;

/// How the sequences of a batch are presented to the GRU.
#[derive(Debug, Clone, Copy)]
pub enum Packing<'a> {
    /// Zero-padded batch, as PyTorch runs an unpacked tensor: the backward direction starts at
    /// the last padded step `T - 1` for every sequence (the original's video side).
    Padded,
    /// Packed by these lengths: both directions see only the first `L_i` steps, the backward
    /// direction starts at `L_i - 1`, outputs at `t >= L_i` are zero (the text side).
    Packed(&'a [usize]),
}

/// One direction of a GRU layer.
#[derive(Module, Debug)]
pub struct GruDirection<B: Backend> {
    /// Input weights `[3H, in]`, rows `[W_ir; W_iz; W_in]`.
    pub weight_ih: Param<Tensor<B, 2>>,
    /// Hidden weights `[3H, H]`, rows `[W_hr; W_hz; W_hn]`.
    pub weight_hh: Param<Tensor<B, 2>>,
    /// Input bias `[3H]`.
    pub bias_ih: Param<Tensor<B, 1>>,
    /// Hidden bias `[3H]`.
    pub bias_hh: Param<Tensor<B, 1>>,
}

/// Parameter names of one direction, in PyTorch's order; `suffix` is `""` or `"_reverse"`.
fn direction_names(prefix: &str, suffix: &str) -> [String; 4] {
    ["weight_ih", "weight_hh", "bias_ih", "bias_hh"].map(|n| format!("{prefix}{n}_l0{suffix}"))
}

impl<B: Backend> GruDirection<B> {
    fn from_source(
        src: &mut TensorSource,
        prefix: &str,
        suffix: &str,
        device: &B::Device,
    ) -> Result<Self> {
        let [w_ih, w_hh, b_ih, b_hh] = direction_names(prefix, suffix);
        Ok(Self {
            weight_ih: src.param(&w_ih, device)?,
            weight_hh: src.param(&w_hh, device)?,
            bias_ih: src.param(&b_ih, device)?,
            bias_hh: src.param(&b_hh, device)?,
        })
    }

    fn visit_named<V: ParamVisitor<B>>(&self, prefix: &str, suffix: &str, v: &mut V) {
        let [w_ih, w_hh, b_ih, b_hh] = direction_names(prefix, suffix);
        v.visit(&w_ih, &self.weight_ih);
        v.visit(&w_hh, &self.weight_hh);
        v.visit(&b_ih, &self.bias_ih);
        v.visit(&b_hh, &self.bias_hh);
    }

    fn map_named<M: ParamMapper<B>>(self, prefix: &str, suffix: &str, m: &mut M) -> Self {
        let [w_ih, w_hh, b_ih, b_hh] = direction_names(prefix, suffix);
        Self {
            weight_ih: m.map(&w_ih, self.weight_ih),
            weight_hh: m.map(&w_hh, self.weight_hh),
            bias_ih: m.map(&b_ih, self.bias_ih),
            bias_hh: m.map(&b_hh, self.bias_hh),
        }
    }

    /// Runs the recurrence from `h0 = 0` over `x` `[N, T, in]`; returns all states `[N, T, H]`.
    pub fn run(&self, x: Tensor<B, 3>) -> Tensor<B, 3>
    where
        B: GruBackend + MixedPrecisionBackend,
    {
        let [n, t, d] = x.dims();
        let h3 = self.weight_hh.dims()[0];
        let gi = precision::matmul(x.reshape([n * t, d]), self.weight_ih.val().transpose())
            + self.bias_ih.val().unsqueeze_dim::<2>(0);
        let states = B::gru_forward(
            gi.reshape([n, t, h3]).into_primitive().tensor(),
            self.weight_hh.val().into_primitive().tensor(),
            self.bias_hh.val().into_primitive().tensor(),
        );
        Tensor::from_primitive(TensorPrimitive::Float(states))
    }
}

/// Specs of the eight tensors under `prefix` (e.g. `"video.rnn."`), PyTorch init
/// `U(-1/sqrt(H), 1/sqrt(H))` for all of them.
pub fn bigru_specs(prefix: &str, input: usize, hidden: usize) -> Vec<TensorSpec> {
    let bound = 1.0 / (hidden as f64).sqrt();
    let shapes = [
        vec![3 * hidden, input],
        vec![3 * hidden, hidden],
        vec![3 * hidden],
        vec![3 * hidden],
    ];
    ["", "_reverse"]
        .iter()
        .flat_map(|suffix| {
            direction_names(prefix, suffix)
                .into_iter()
                .zip(shapes.clone())
        })
        .map(|(name, shape)| TensorSpec {
            name,
            shape,
            init: Init::Uniform(bound),
        })
        .collect()
}

/// Outputs of a bidirectional GRU.
#[derive(Debug, Clone)]
pub struct BiGruOutput<B: Backend> {
    /// `[N, T, 2H]`: `[forward | backward]` at every step (zero past `L_i` when packed).
    pub outputs: Tensor<B, 3>,
    /// `[2, N, H]`: final states, forward (index 0) and backward (index 1).
    pub h_n: Tensor<B, 3>,
}

/// A bidirectional single-layer GRU (`nn.GRU(in, H, batch_first=True, bidirectional=True)`).
#[derive(Module, Debug)]
pub struct BiGru<B: Backend> {
    /// Forward direction (`*_l0`).
    pub forward: GruDirection<B>,
    /// Backward direction (`*_l0_reverse`).
    pub backward: GruDirection<B>,
}

impl<B: Backend> BiGru<B> {
    pub(crate) fn from_source(
        src: &mut TensorSource,
        prefix: &str,
        device: &B::Device,
    ) -> Result<Self> {
        Ok(Self {
            forward: GruDirection::from_source(src, prefix, "", device)?,
            backward: GruDirection::from_source(src, prefix, "_reverse", device)?,
        })
    }

    pub(crate) fn visit_named<V: ParamVisitor<B>>(&self, prefix: &str, v: &mut V) {
        self.forward.visit_named(prefix, "", v);
        self.backward.visit_named(prefix, "_reverse", v);
    }

    pub(crate) fn map_named<M: ParamMapper<B>>(self, prefix: &str, m: &mut M) -> Self {
        Self {
            forward: self.forward.map_named(prefix, "", m),
            backward: self.backward.map_named(prefix, "_reverse", m),
        }
    }

    /// Runs both directions over `x` `[N, T, in]`.
    pub fn run(&self, x: Tensor<B, 3>, packing: Packing<'_>) -> BiGruOutput<B>
    where
        B: GruBackend + MixedPrecisionBackend,
    {
        let [n, t, d] = x.dims();
        let device = x.device();
        let lengths: Vec<usize> = match packing {
            Packing::Padded => vec![t; n],
            Packing::Packed(lengths) => lengths.to_vec(),
        };
        let reverse = reverse_index::<B>(&lengths, t, &device);
        let forward = self.forward.run(x.clone());
        let reversed = x
            .reshape([n * t, d])
            .select(0, reverse.clone())
            .reshape([n, t, d]);
        let backward_rev = self.backward.run(reversed);
        let h = backward_rev.dims()[2];
        let backward = backward_rev
            .clone()
            .reshape([n * t, h])
            .select(0, reverse)
            .reshape([n, t, h]);
        let last = row_index::<B>(
            lengths
                .iter()
                .enumerate()
                .map(|(i, l)| i * t + l.saturating_sub(1)),
            &device,
        );
        let h_fwd = forward.clone().reshape([n * t, h]).select(0, last.clone());
        let h_bwd = backward_rev.reshape([n * t, h]).select(0, last);
        let h_n = Tensor::stack(vec![h_fwd, h_bwd], 0);
        let outputs = Tensor::cat(vec![forward, backward], 2);
        let outputs = match packing {
            Packing::Padded => outputs,
            Packing::Packed(lengths) => {
                outputs * time_mask::<B>(lengths, t, &device).unsqueeze_dim(2)
            }
        };
        BiGruOutput { outputs, h_n }
    }
}

/// Row index into a `[N*T, C]` view that reverses each sequence within its own length and
/// leaves the padding in place (an involution).
fn reverse_index<B: Backend>(lengths: &[usize], t: usize, device: &B::Device) -> Tensor<B, 1, Int> {
    let rows = lengths
        .iter()
        .enumerate()
        .flat_map(|(i, &len)| (0..t).map(move |s| i * t + if s < len { len - 1 - s } else { s }));
    row_index(rows, device)
}

fn row_index<B: Backend>(
    rows: impl Iterator<Item = usize>,
    device: &B::Device,
) -> Tensor<B, 1, Int> {
    let rows: Vec<i64> = rows.map(|r| r as i64).collect();
    let len = rows.len();
    Tensor::from_data(TensorData::new(rows, [len]), device)
}

/// `[N, T]` mask, 1 for `t < L_i`.
pub(crate) fn time_mask<B: Backend>(
    lengths: &[usize],
    t: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    let data: Vec<f32> = lengths
        .iter()
        .flat_map(|&len| (0..t).map(move |s| if s < len { 1.0 } else { 0.0 }))
        .collect();
    Tensor::from_data(TensorData::new(data, [lengths.len(), t]), device)
}
