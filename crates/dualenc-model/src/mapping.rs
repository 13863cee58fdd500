//! The mapping into the common space: Linear, BatchNorm1d, dropout, L2 normalisation.
//!
//! BatchNorm is implemented here (rather than with `burn::nn::BatchNorm`) so that the
//! train-mode statistics and the running-stat update follow PyTorch exactly: normalise with
//! the biased batch variance, update `running_var` with the unbiased one (`n / (n - 1)`).

use burn::module::{Module, Param};
use burn::tensor::{backend::Backend, Distribution, Tensor};

use crate::error::Result;
use crate::named::{
    named_from_tensor, Init, NamedTensor, ParamMapper, ParamVisitor, TensorSource, TensorSpec,
};
use dualenc_kernels::precision::{self, MixedPrecisionBackend};

/// BatchNorm1d epsilon (PyTorch default).
pub const BN_EPS: f64 = 1e-5;
/// BatchNorm1d momentum (PyTorch default).
pub const BN_MOMENTUM: f64 = 0.1;

/// Whether a forward pass trains (batch statistics, dropout) or evaluates (running
/// statistics, no dropout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Training: BatchNorm on batch statistics, dropout active.
    Train,
    /// Evaluation: BatchNorm on running statistics, dropout off.
    Eval,
}

/// Inverted dropout with keep probability `1 - p`, active only in training.
pub fn dropout<B: Backend, const D: usize>(x: Tensor<B, D>, p: f64, mode: Mode) -> Tensor<B, D> {
    if mode == Mode::Eval || p <= 0.0 {
        return x;
    }
    let keep = Tensor::<B, D>::random(x.shape(), Distribution::Bernoulli(1.0 - p), &x.device());
    x * keep.div_scalar(1.0 - p)
}

/// Batch statistics of one train-mode BatchNorm call, detached from the graph.
#[derive(Debug, Clone)]
pub struct BatchStats<B: Backend> {
    /// Per-feature batch mean.
    pub mean: Tensor<B, 1>,
    /// Per-feature unbiased batch variance (`n / (n - 1)` times the biased one).
    pub var_unbiased: Tensor<B, 1>,
}

/// BatchNorm1d with PyTorch's parameters and buffers.
#[derive(Module, Debug)]
pub struct BatchNorm<B: Backend> {
    /// Scale `[F]`.
    pub weight: Param<Tensor<B, 1>>,
    /// Shift `[F]`.
    pub bias: Param<Tensor<B, 1>>,
    /// Running mean `[F]` (buffer).
    pub running_mean: Tensor<B, 1>,
    /// Running variance `[F]` (buffer).
    pub running_var: Tensor<B, 1>,
    /// Number of train-mode batches seen (buffer).
    pub num_batches_tracked: i64,
}

impl<B: Backend> BatchNorm<B> {
    /// Normalises `x` `[N, F]`; in training also returns the batch statistics for
    /// [`BatchNorm::update`].
    pub fn forward(&self, x: Tensor<B, 2>, mode: Mode) -> (Tensor<B, 2>, Option<BatchStats<B>>) {
        let (mean, var, stats) = match mode {
            Mode::Eval => (
                self.running_mean.clone().unsqueeze_dim::<2>(0),
                self.running_var.clone().unsqueeze_dim::<2>(0),
                None,
            ),
            Mode::Train => {
                let [rows, features] = x.dims();
                let n = rows as f64;
                let mean = x.clone().mean_dim(0);
                let var = (x.clone() - mean.clone()).square().mean_dim(0);
                let stats = BatchStats {
                    mean: mean.clone().detach().reshape([features]),
                    var_unbiased: var
                        .clone()
                        .detach()
                        .reshape([features])
                        .mul_scalar(n / (n - 1.0)),
                };
                (mean, var, Some(stats))
            }
        };
        let y = (x - mean) / var.add_scalar(BN_EPS).sqrt();
        let y = y * self.weight.val().unsqueeze_dim::<2>(0) + self.bias.val().unsqueeze_dim::<2>(0);
        (y, stats)
    }

    /// Folds one batch's statistics into the running ones (momentum 0.1) and counts it.
    pub fn update(self, stats: BatchStats<B>) -> Self {
        let keep = 1.0 - BN_MOMENTUM;
        Self {
            running_mean: self.running_mean.mul_scalar(keep) + stats.mean.mul_scalar(BN_MOMENTUM),
            running_var: self.running_var.mul_scalar(keep)
                + stats.var_unbiased.mul_scalar(BN_MOMENTUM),
            num_batches_tracked: self.num_batches_tracked + 1,
            ..self
        }
    }
}

/// Result of the mapping, with its intermediates.
#[derive(Debug, Clone)]
pub struct MappingOutput<B: Backend> {
    /// Linear output `[N, out]`.
    pub fc1_out: Tensor<B, 2>,
    /// BatchNorm output `[N, out]` (the embedding before dropout and normalisation).
    pub bn_out: Tensor<B, 2>,
    /// Final embedding `[N, out]`.
    pub embedding: Tensor<B, 2>,
    /// Train-mode batch statistics of the BatchNorm.
    pub stats: Option<BatchStats<B>>,
}

/// `MFC` of the original with one Linear layer, BatchNorm, dropout, and optional L2 norm.
#[derive(Module, Debug)]
pub struct Mapping<B: Backend> {
    /// Linear weight `[out, in]` (`fc1.weight`).
    pub fc1_weight: Param<Tensor<B, 2>>,
    /// Linear bias `[out]` (`fc1.bias`).
    pub fc1_bias: Param<Tensor<B, 1>>,
    /// `bn_1`.
    pub bn_1: BatchNorm<B>,
    /// Dropout probability after the BatchNorm.
    pub dropout: f64,
    /// Whether the output is L2-normalised.
    pub normalize: bool,
}

/// Specs under `prefix` (e.g. `"video.visual_mapping."`): Xavier-uniform weight, zero bias,
/// BatchNorm weight 1, bias 0, running mean 0, var 1, counter 0.
pub fn mapping_specs(prefix: &str, input: usize, output: usize) -> Vec<TensorSpec> {
    let xavier = (6.0 / (input + output) as f64).sqrt();
    let vector = |name: &str, value: f32| TensorSpec {
        name: format!("{prefix}{name}"),
        shape: vec![output],
        init: Init::Constant(value),
    };
    vec![
        TensorSpec {
            name: format!("{prefix}fc1.weight"),
            shape: vec![output, input],
            init: Init::Uniform(xavier),
        },
        vector("fc1.bias", 0.0),
        vector("bn_1.weight", 1.0),
        vector("bn_1.bias", 0.0),
        vector("bn_1.running_mean", 0.0),
        vector("bn_1.running_var", 1.0),
        TensorSpec {
            name: format!("{prefix}bn_1.num_batches_tracked"),
            shape: vec![],
            init: Init::Constant(0.0),
        },
    ]
}

const PARAMS: [&str; 4] = ["fc1.weight", "fc1.bias", "bn_1.weight", "bn_1.bias"];

impl<B: Backend> Mapping<B> {
    pub(crate) fn from_source(
        src: &mut TensorSource,
        prefix: &str,
        dropout: f64,
        normalize: bool,
        device: &B::Device,
    ) -> Result<Self> {
        let name = |n: &str| format!("{prefix}{n}");
        Ok(Self {
            fc1_weight: src.param(&name(PARAMS[0]), device)?,
            fc1_bias: src.param(&name(PARAMS[1]), device)?,
            bn_1: BatchNorm {
                weight: src.param(&name(PARAMS[2]), device)?,
                bias: src.param(&name(PARAMS[3]), device)?,
                running_mean: src.tensor(&name("bn_1.running_mean"), device)?,
                running_var: src.tensor(&name("bn_1.running_var"), device)?,
                num_batches_tracked: src.counter(&name("bn_1.num_batches_tracked"))?,
            },
            dropout,
            normalize,
        })
    }

    pub(crate) fn visit_named<V: ParamVisitor<B>>(&self, prefix: &str, v: &mut V) {
        v.visit(&format!("{prefix}{}", PARAMS[0]), &self.fc1_weight);
        v.visit(&format!("{prefix}{}", PARAMS[1]), &self.fc1_bias);
        v.visit(&format!("{prefix}{}", PARAMS[2]), &self.bn_1.weight);
        v.visit(&format!("{prefix}{}", PARAMS[3]), &self.bn_1.bias);
    }

    pub(crate) fn map_named<M: ParamMapper<B>>(self, prefix: &str, m: &mut M) -> Self {
        let bn_1 = BatchNorm {
            weight: m.map(&format!("{prefix}{}", PARAMS[2]), self.bn_1.weight),
            bias: m.map(&format!("{prefix}{}", PARAMS[3]), self.bn_1.bias),
            ..self.bn_1
        };
        Self {
            fc1_weight: m.map(&format!("{prefix}{}", PARAMS[0]), self.fc1_weight),
            fc1_bias: m.map(&format!("{prefix}{}", PARAMS[1]), self.fc1_bias),
            bn_1,
            ..self
        }
    }

    /// The BatchNorm buffers as named tensors (running stats and the batch counter).
    pub(crate) fn buffers(&self, prefix: &str) -> Result<Vec<NamedTensor>> {
        Ok(vec![
            named_from_tensor(
                format!("{prefix}bn_1.running_mean"),
                self.bn_1.running_mean.clone(),
            )?,
            named_from_tensor(
                format!("{prefix}bn_1.running_var"),
                self.bn_1.running_var.clone(),
            )?,
            (
                format!("{prefix}bn_1.num_batches_tracked"),
                vec![],
                vec![self.bn_1.num_batches_tracked as f32],
            ),
        ])
    }

    /// Maps `x` `[N, in]` into the common space.
    pub fn forward(&self, x: Tensor<B, 2>, mode: Mode) -> MappingOutput<B>
    where
        B: MixedPrecisionBackend,
    {
        let fc1_out = precision::matmul(x, self.fc1_weight.val().transpose())
            + self.fc1_bias.val().unsqueeze_dim::<2>(0);
        let (bn_out, stats) = self.bn_1.forward(fc1_out.clone(), mode);
        let dropped = dropout(bn_out.clone(), self.dropout, mode);
        let embedding = if self.normalize {
            l2_normalize(dropped)
        } else {
            dropped
        };
        MappingOutput {
            fc1_out,
            bn_out,
            embedding,
            stats,
        }
    }
}

/// Divides each row by its Euclidean norm (no epsilon, as the original).
pub fn l2_normalize<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let norm = x.clone().square().sum_dim(1).sqrt();
    x / norm
}
