//! Global-norm gradient clipping and Adam, exactly as PyTorch computes them.
//!
//! `clip_grad_norm_`: `total = sqrt(sum_p |g_p|^2)` over ALL parameters, `coef = max / (total
//! + 1e-6)`, every gradient scaled by `coef` when it is below 1 (Burn's
//! `GradientClippingConfig::Norm` clips each tensor separately instead).
//! Adam (PyTorch's single-tensor formula, eps 1e-8 where Burn defaults to 1e-5):
//! `m = b1 m + (1-b1) g`, `v = b2 v + (1-b2) g^2`,
//! `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.

use std::collections::HashMap;

use burn::module::Param;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

mod backend;
#[cfg(any(feature = "cuda", feature = "wgpu"))]
mod cube;

pub use backend::{AdamCoefficients, OptimBackend};

use crate::custom_op::{float, primitive};
use crate::error::Result;
use crate::named::{tensor_to_vec, ParamMapper, ParamVisitor};

/// Optimiser options, with the paper's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimConfig {
    /// Learning rate.
    pub learning_rate: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator epsilon (PyTorch's 1e-8).
    pub eps: f64,
    /// Maximum global gradient norm; 0 disables clipping.
    pub grad_clip: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            learning_rate: 1e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            grad_clip: 2.0,
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

/// Adam moments of one parameter.
#[derive(Debug, Clone)]
pub struct AdamState<B: Backend> {
    /// Number of steps taken for this parameter.
    pub step: i32,
    /// First moment, flattened.
    pub exp_avg: Tensor<B, 1>,
    /// Second moment, flattened.
    pub exp_avg_sq: Tensor<B, 1>,
}

/// Adam over named parameters, state kept on the inner (non-autodiff) backend.
#[derive(Debug, Clone)]
pub struct Adam<B: Backend> {
    config: OptimConfig,
    states: HashMap<String, AdamState<B>>,
}

impl<B: Backend> Adam<B> {
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
    pub fn state(&self, name: &str) -> Option<&AdamState<B>> {
        self.states.get(name)
    }

    /// Restores the state of parameter `name` (resuming from a checkpoint): the next update
    /// continues from these moments and step count as if training had never stopped.
    pub fn set_state(&mut self, name: String, state: AdamState<B>) {
        self.states.insert(name, state);
    }

    /// One Adam update of the flattened parameter `value` with gradient `grad`.
    pub fn update(&mut self, name: &str, value: Tensor<B, 1>, grad: Tensor<B, 1>) -> Tensor<B, 1>
    where
        B: OptimBackend,
    {
        let c = &self.config;
        // Taken out of the map so that the moments' buffers are unshared and updated in place.
        let AdamState {
            step,
            exp_avg,
            exp_avg_sq,
        } = self.states.remove(name).unwrap_or_else(|| AdamState {
            step: 0,
            exp_avg: grad.zeros_like(),
            exp_avg_sq: grad.zeros_like(),
        });
        let step = step + 1;
        let coefficients = AdamCoefficients {
            beta1: c.beta1,
            beta2: c.beta2,
            bias2_sqrt: (1.0 - c.beta2.powi(step)).sqrt(),
            eps: c.eps,
            step_size: c.learning_rate / (1.0 - c.beta1.powi(step)),
        };
        let (value, exp_avg, exp_avg_sq) = B::adam_update(
            primitive(value),
            primitive(grad),
            primitive(exp_avg),
            primitive(exp_avg_sq),
            coefficients,
        );
        let state = AdamState {
            step,
            exp_avg: float(exp_avg),
            exp_avg_sq: float(exp_avg_sq),
        };
        self.states.insert(name.to_string(), state);
        float(value)
    }
}

/// Applies one Adam step to every parameter of an autodiff model that has a gradient.
pub struct AdamStep<'a, B: AutodiffBackend> {
    /// The optimiser.
    pub adam: &'a mut Adam<B::InnerBackend>,
    /// Gradients by parameter name (already clipped).
    pub grads: HashMap<String, Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend<InnerBackend: OptimBackend>> ParamMapper<B> for AdamStep<'_, B> {
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
        let mut adam = Adam::<Flex>::new(OptimConfig::default());
        let p = Tensor::<Flex, 1>::from_floats([1.0, 1.0], &device);
        let g = Tensor::<Flex, 1>::from_floats([0.5, -3.0], &device);
        let out = tensor_to_vec(adam.update("p", p, g)).unwrap();
        assert!((out[0] - (1.0 - 1e-4)).abs() < 1e-7, "{out:?}");
        assert!((out[1] - (1.0 + 1e-4)).abs() < 1e-7, "{out:?}");
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
