//! Global-norm gradient clipping and the original's two optimisers, Adam and RMSprop, exactly
//! as PyTorch computes them.
//!
//! `clip_grad_norm_`: `total = sqrt(sum_p |g_p|^2)` over ALL parameters, `coef = max / (total
//! + 1e-6)`, every gradient scaled by `coef` when it is below 1 (Burn's
//! `GradientClippingConfig::Norm` clips each tensor separately instead).
//! Adam (PyTorch's single-tensor formula, eps 1e-8 where Burn defaults to 1e-5):
//! `m = b1 m + (1-b1) g`, `v = b2 v + (1-b2) g^2`,
//! `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
//! RMSprop (PyTorch's defaults: alpha 0.99, eps 1e-8, no momentum, not centred):
//! `v = alpha v + (1-alpha) g^2`, `p -= lr * g / (sqrt(v) + eps)`, which is the Adam update
//! with `b1 = 0`, `b2 = alpha` and no bias correction; both run through the same kernel.

use std::collections::HashMap;

use burn::module::Param;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

pub use dualenc_kernels::optim::{AdamCoefficients, OptimBackend};

use crate::error::Result;
use crate::named::{tensor_to_vec, ParamMapper, ParamVisitor};
use dualenc_kernels::custom_op::{float, primitive};

/// Which optimiser updates the parameters (the original's `--optimizer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum OptimizerKind {
    /// Adam (the paper's choice and the original's default).
    #[default]
    Adam,
    /// RMSprop with PyTorch's defaults.
    Rmsprop,
}

/// Optimiser options, with the paper's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimConfig {
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub learning_rate: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// RMSprop's squared-gradient decay (PyTorch's 0.99).
    pub alpha: f64,
    /// Denominator epsilon (PyTorch's 1e-8, for both optimisers).
    pub eps: f64,
    /// Maximum global gradient norm; 0 disables clipping.
    pub grad_clip: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            optimizer: OptimizerKind::Adam,
            learning_rate: 1e-4,
            beta1: 0.9,
            beta2: 0.999,
            alpha: 0.99,
            eps: 1e-8,
            grad_clip: 2.0,
        }
    }
}

impl OptimConfig {
    /// The update's scalars at step `step` (1-based): Adam's, or RMSprop's as an Adam update
    /// without first moment and bias correction.
    pub fn coefficients(&self, step: i32) -> AdamCoefficients {
        match self.optimizer {
            OptimizerKind::Adam => AdamCoefficients {
                beta1: self.beta1,
                beta2: self.beta2,
                bias2_sqrt: (1.0 - self.beta2.powi(step)).sqrt(),
                eps: self.eps,
                step_size: self.learning_rate / (1.0 - self.beta1.powi(step)),
            },
            OptimizerKind::Rmsprop => AdamCoefficients {
                beta1: 0.0,
                beta2: self.alpha,
                bias2_sqrt: 1.0,
                eps: self.eps,
                step_size: self.learning_rate,
            },
        }
    }
}

/// The gradient of one parameter, flattened.
#[derive(Debug, Clone)]
pub struct NamedGrad<B: Backend> {
    /// Prefixed PyTorch name of the parameter.
    pub name: String,
    /// Shape of the parameter.
    pub shape: Vec<usize>,
    /// Gradient, flattened row-major.
    pub grad: Tensor<B, 1>,
}

/// Collects the gradient of every parameter that received one, in optimiser order.
pub struct GradCollector<'a, B: AutodiffBackend> {
    grads: &'a B::Gradients,
    /// Gradients found so far.
    pub out: Vec<NamedGrad<B::InnerBackend>>,
}

impl<'a, B: AutodiffBackend> GradCollector<'a, B> {
    /// A collector reading from the gradients of one backward pass.
    pub fn new(grads: &'a B::Gradients) -> Self {
        Self {
            grads,
            out: Vec::new(),
        }
    }
}

impl<B: AutodiffBackend> ParamVisitor<B> for GradCollector<'_, B> {
    fn visit<const D: usize>(&mut self, name: &str, param: &Param<Tensor<B, D>>) {
        if let Some(grad) = param.val().grad(self.grads) {
            let shape = grad.dims().to_vec();
            let numel = shape.iter().product::<usize>();
            self.out.push(NamedGrad {
                name: name.to_string(),
                shape,
                grad: grad.reshape([numel]),
            });
        }
    }
}

/// Scales `grads` so that their global norm is at most `max_norm` (PyTorch's
/// `clip_grad_norm_`); returns the norm before clipping. `max_norm <= 0` only measures.
pub fn clip_global_norm<B: OptimBackend>(grads: &mut [NamedGrad<B>], max_norm: f64) -> Result<f32> {
    let Some(first) = grads.first() else {
        return Ok(0.0);
    };
    let device = first.grad.device();
    let squares: Vec<Tensor<B, 1>> = grads
        .iter()
        .map(|g| float(B::sum_squares(primitive(g.grad.clone()))))
        .collect();
    let total = Tensor::cat(squares, 0).sum().sqrt();
    let total = tensor_to_vec(total)?.first().copied().unwrap_or(0.0);
    let coef = (max_norm / (f64::from(total) + 1e-6)) as f32;
    if max_norm > 0.0 && coef < 1.0 {
        let scale = Tensor::<B, 1>::from_floats([coef], &device);
        for g in grads.iter_mut() {
            g.grad = g.grad.clone() * scale.clone();
        }
    }
    Ok(total)
}

/// The optimiser's moments of one parameter.
#[derive(Debug, Clone)]
pub struct OptimState<B: Backend> {
    /// Number of steps taken for this parameter.
    pub step: i32,
    /// First moment, flattened (RMSprop: the last gradient, which it does not read).
    pub exp_avg: Tensor<B, 1>,
    /// Second moment, flattened (RMSprop's `square_avg`).
    pub exp_avg_sq: Tensor<B, 1>,
}

/// Adam or RMSprop over named parameters, state kept on the inner (non-autodiff) backend.
#[derive(Debug, Clone)]
pub struct Optimizer<B: Backend> {
    config: OptimConfig,
    states: HashMap<String, OptimState<B>>,
}

impl<B: Backend> Optimizer<B> {
    /// A fresh optimiser.
    pub fn new(config: OptimConfig) -> Self {
        Self {
            config,
            states: HashMap::new(),
        }
    }

    /// Current options.
    pub fn config(&self) -> &OptimConfig {
        &self.config
    }

    /// Changes the learning rate (the trainer's decay schedule).
    pub fn set_learning_rate(&mut self, lr: f64) {
        self.config.learning_rate = lr;
    }

    /// State of the parameter `name`, once it has been stepped.
    pub fn state(&self, name: &str) -> Option<&OptimState<B>> {
        self.states.get(name)
    }

    /// Restores the state of parameter `name` (resuming from a checkpoint): the next update
    /// continues from these moments and step count as if training had never stopped.
    pub fn set_state(&mut self, name: String, state: OptimState<B>) {
        self.states.insert(name, state);
    }

    /// One update of the flattened parameter `value` with gradient `grad`.
    pub fn update(&mut self, name: &str, value: Tensor<B, 1>, grad: Tensor<B, 1>) -> Tensor<B, 1>
    where
        B: OptimBackend,
    {
        let c = &self.config;
        // Taken out of the map so that the moments' buffers are unshared and updated in place.
        let OptimState {
            step,
            exp_avg,
            exp_avg_sq,
        } = self.states.remove(name).unwrap_or_else(|| OptimState {
            step: 0,
            exp_avg: grad.zeros_like(),
            exp_avg_sq: grad.zeros_like(),
        });
        let step = step + 1;
        let coefficients = c.coefficients(step);
        let (value, exp_avg, exp_avg_sq) = B::adam_update(
            primitive(value),
            primitive(grad),
            primitive(exp_avg),
            primitive(exp_avg_sq),
            coefficients,
        );
        let state = OptimState {
            step,
            exp_avg: float(exp_avg),
            exp_avg_sq: float(exp_avg_sq),
        };
        self.states.insert(name.to_string(), state);
        float(value)
    }
}

/// Applies one optimiser step to every parameter of an autodiff model that has a gradient.
pub struct OptimizerStep<'a, B: AutodiffBackend> {
    /// The optimiser.
    pub adam: &'a mut Optimizer<B::InnerBackend>,
    /// Gradients by parameter name (already clipped).
    pub grads: HashMap<String, Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend<InnerBackend: OptimBackend>> ParamMapper<B> for OptimizerStep<'_, B> {
    fn map<const D: usize>(
        &mut self,
        name: &str,
        param: Param<Tensor<B, D>>,
    ) -> Param<Tensor<B, D>> {
        let Some(grad) = self.grads.remove(name) else {
            return param;
        };
        let (id, tensor, mapper) = param.consume();
        let dims = tensor.dims();
        let numel = dims.iter().product::<usize>();
        let value = tensor.inner().reshape([numel]);
        let updated = self.adam.update(name, value, grad).reshape(dims);
        Param::from_mapped_value(id, Tensor::from_inner(updated).require_grad(), mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn first_adam_step_moves_by_lr_times_sign() {
        // At t = 1, m / sqrt(v) (bias-corrected) is sign(g) up to eps: p moves by ~lr.
        let device = Default::default();
        let mut adam = Optimizer::<Flex>::new(OptimConfig::default());
        let p = Tensor::<Flex, 1>::from_floats([1.0, 1.0], &device);
        let g = Tensor::<Flex, 1>::from_floats([0.5, -3.0], &device);
        let out = tensor_to_vec(adam.update("p", p, g)).unwrap();
        assert!((out[0] - (1.0 - 1e-4)).abs() < 1e-7, "{out:?}");
        assert!((out[1] - (1.0 + 1e-4)).abs() < 1e-7, "{out:?}");
    }

    #[test]
    fn rmsprop_follows_pytorchs_formula() {
        // v = 0.01 g^2 at step 1, then 0.99 v + 0.01 g^2; p -= lr g / (sqrt(v) + eps).
        let device = Default::default();
        let config = OptimConfig {
            optimizer: OptimizerKind::Rmsprop,
            learning_rate: 1e-2,
            ..OptimConfig::default()
        };
        let mut rms = Optimizer::<Flex>::new(config);
        let mut p = Tensor::<Flex, 1>::from_floats([1.0, -2.0], &device);
        let (mut expected, mut v) = ([1.0f64, -2.0], [0.0f64; 2]);
        for (step, g) in [[0.5f32, -3.0], [0.25, 1.0], [-1.0, 2.0]]
            .iter()
            .enumerate()
        {
            p = rms.update("p", p, Tensor::from_floats(*g, &device));
            for i in 0..2 {
                let g = f64::from(g[i]);
                v[i] = 0.99 * v[i] + 0.01 * g * g;
                expected[i] -= 1e-2 * g / (v[i].sqrt() + 1e-8);
            }
            let got = tensor_to_vec(p.clone()).unwrap();
            for i in 0..2 {
                let diff = (f64::from(got[i]) - expected[i]).abs();
                assert!(diff < 1e-6, "step {step}: {got:?} vs {expected:?}");
            }
        }
    }

    #[test]
    fn clipping_scales_to_the_global_norm() {
        let device = Default::default();
        let mut grads = vec![
            NamedGrad::<Flex> {
                name: "a".into(),
                shape: vec![1],
                grad: Tensor::from_floats([3.0], &device),
            },
            NamedGrad::<Flex> {
                name: "b".into(),
                shape: vec![1],
                grad: Tensor::from_floats([4.0], &device),
            },
        ];
        let total = clip_global_norm(&mut grads, 2.0).unwrap();
        assert!((total - 5.0).abs() < 1e-6);
        let a = tensor_to_vec(grads[0].grad.clone()).unwrap()[0];
        assert!((a - 3.0 * 2.0 / 5.0).abs() < 1e-5, "{a}");
    }
}
