//! The optimiser's two passes over every gradient as backend operations.
//!
//! - The Adam update: on the CPU a single pass over parameter, gradient and moments instead
//!   of about a dozen tensor operations that each read and write a buffer the size of the
//!   parameter (80 million floats at the paper's sizes). Both forms compute, element by element
//!   and in `f32`, the same expressions in the same order, so they agree to the last bit.
//! - The sum of squares for global-norm clipping: on the CPU one pass whose chunk sums are
//!   added in a fixed order. (Flex's own parallel `sum` combines its chunks in whatever order
//!   rayon's work stealing happens to give, so the norm, the clipping and with them the whole
//!   run could differ in the last bits from one run to the next.)

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use rayon::prelude::*;

use crate::custom_op::{flex_tensor, float, primitive};

#[cfg(any(feature = "cuda", feature = "wgpu"))]
mod cube;

/// The scalars of one update: Adam's (`m = b1 m + (1-b1) g`, `v = b2 v + (1-b2) g^2`,
/// `p -= step_size m / (sqrt(v) / bias2_sqrt + eps)`), or RMSprop's as that update with
/// `b1 = 0` and no bias correction (the network's `optim` module chooses them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamCoefficients {
    /// First-moment decay `b1`.
    pub beta1: f64,
    /// Second-moment decay `b2`.
    pub beta2: f64,
    /// `sqrt(1 - b2^t)`.
    pub bias2_sqrt: f64,
    /// Denominator epsilon.
    pub eps: f64,
    /// `lr / (1 - b1^t)`.
    pub step_size: f64,
}

/// The new parameter, first and second moment.
pub type AdamOutput<B> = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

/// A backend that runs the optimiser's passes (see the module documentation).
pub trait OptimBackend: Backend {
    /// `sum(x^2)` of a flattened tensor, as a one-element tensor.
    fn sum_squares(x: FloatTensor<Self>) -> FloatTensor<Self> {
        primitive(float::<Self, 1>(x).square().sum())
    }

    /// One Adam update of a flattened parameter.
    /// `param`, `grad` and the moments `exp_avg`, `exp_avg_sq` all have the same shape.
    fn adam_update(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        exp_avg: FloatTensor<Self>,
        exp_avg_sq: FloatTensor<Self>,
        c: AdamCoefficients,
    ) -> AdamOutput<Self> {
        plain_update::<Self>(param, grad, exp_avg, exp_avg_sq, c)
    }
}

/// The update as tensor operations (any backend).
fn plain_update<B: Backend>(
    param: FloatTensor<B>,
    grad: FloatTensor<B>,
    exp_avg: FloatTensor<B>,
    exp_avg_sq: FloatTensor<B>,
    c: AdamCoefficients,
) -> AdamOutput<B> {
    let grad = float::<B, 1>(grad);
    let m = float::<B, 1>(exp_avg).mul_scalar(c.beta1) + grad.clone().mul_scalar(1.0 - c.beta1);
    let v = float::<B, 1>(exp_avg_sq).mul_scalar(c.beta2)
        + (grad.clone() * grad).mul_scalar(1.0 - c.beta2);
    let denom = v.clone().sqrt().div_scalar(c.bias2_sqrt).add_scalar(c.eps);
    let param = float::<B, 1>(param) - (m.clone() / denom).mul_scalar(c.step_size);
    (primitive(param), primitive(m), primitive(v))
}

/// The plain tensor operations.
impl<B: Backend, C: CheckpointStrategy> OptimBackend for Autodiff<B, C> {}

/// The GPU backends (CUDA, wgpu): the update as one kernel (`cube`), the norm with
/// Burn's reduction.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
impl<R, F, I, BT> OptimBackend for burn_cubecl::CubeBackend<R, F, I, BT>
where
    R: burn_cubecl::CubeRuntime,
    F: burn_cubecl::FloatElement,
    I: burn_cubecl::IntElement,
    BT: burn_cubecl::BoolElement,
{
    fn adam_update(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        exp_avg: FloatTensor<Self>,
        exp_avg_sq: FloatTensor<Self>,
        c: AdamCoefficients,
    ) -> AdamOutput<Self> {
        cube::adam_update(param, grad, exp_avg, exp_avg_sq, c)
    }
}

/// Chunks of elements handed to one thread.
const CHUNK: usize = 1 << 14;

/// One pass over the buffers, chunks in parallel; Adam updates in place where unshared.
impl OptimBackend for Flex {
    fn sum_squares(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let x = dense(x);
        let partial: Vec<f64> = elements(&x)
            .par_chunks(CHUNK)
            .map(|chunk| chunk.iter().map(|&v| f64::from(v * v)).sum())
            .collect();
        flex_tensor(vec![partial.iter().sum::<f64>() as f32], vec![1])
    }

    fn adam_update(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        exp_avg: FloatTensor<Self>,
        exp_avg_sq: FloatTensor<Self>,
        c: AdamCoefficients,
    ) -> AdamOutput<Self> {
        let (mut param, mut m, mut v) = (dense(param), dense(exp_avg), dense(exp_avg_sq));
        let grad = dense(grad);
        let (b1, b2) = (c.beta1 as f32, c.beta2 as f32);
        let (rest1, rest2) = ((1.0 - c.beta1) as f32, (1.0 - c.beta2) as f32);
        let (bias2_sqrt, eps, step) = (c.bias2_sqrt as f32, c.eps as f32, c.step_size as f32);
        elements_mut(&mut param)
            .par_chunks_mut(CHUNK)
            .zip(elements_mut(&mut m).par_chunks_mut(CHUNK))
            .zip(elements_mut(&mut v).par_chunks_mut(CHUNK))
            .zip(elements(&grad).par_chunks(CHUNK))
            .for_each(|(((p, m), v), g)| {
                for (((p, m), v), &g) in p.iter_mut().zip(m).zip(v).zip(g) {
                    *m = *m * b1 + g * rest1;
                    *v = *v * b2 + (g * g) * rest2;
                    let denom = v.sqrt() / bias2_sqrt + eps;
                    *p -= (*m / denom) * step;
                }
            });
        (param, m, v)
    }
}

/// `t` contiguous from offset 0 of its buffer (copied only when it is not).
fn dense(t: FlexTensor) -> FlexTensor {
    let t = if t.is_contiguous() && t.layout().start_offset() == 0 {
        t
    } else {
        t.to_contiguous()
    };
    t
}

/// The elements of a [`dense`] tensor (its buffer may be longer: a view of a larger one).
fn elements(t: &FlexTensor) -> &[f32] {
    &t.storage::<f32>()[..t.layout().num_elements()]
}

/// The elements of a [`dense`] tensor, writable (copied first if the buffer is shared).
fn elements_mut(t: &mut FlexTensor) -> &mut [f32] {
    let len = t.layout().num_elements();
    &mut t.storage_mut::<f32>()[..len]
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, Tensor};

    fn random(len: usize, seed: u64) -> Tensor<Flex, 1> {
        Flex::seed(&Default::default(), seed);
        Tensor::random([len], Distribution::Uniform(-1.0, 1.0), &Default::default())
    }

    #[test]
    fn sum_of_squares_matches_the_tensor_operations() {
        let x = random(CHUNK * 3 + 5, 5);
        let plain = x.clone().square().sum().into_scalar();
        let fused = float::<Flex, 1>(Flex::sum_squares(primitive(x))).into_scalar();
        assert!((fused - plain).abs() <= 1e-5 * plain, "{fused} vs {plain}");
    }

    #[test]
    fn fused_update_equals_the_tensor_operations_bit_for_bit() {
        // More than one chunk, and a second moment that must stay non-negative.
        let len = CHUNK * 2 + 37;
        let c = AdamCoefficients {
            beta1: 0.9,
            beta2: 0.999,
            bias2_sqrt: (1.0f64 - 0.999f64.powi(3)).sqrt(),
            eps: 1e-8,
            step_size: 1e-4 / (1.0 - 0.9f64.powi(3)),
        };
        let inputs = || {
            let v = random(len, 4).abs();
            [random(len, 1), random(len, 2), random(len, 3), v].map(primitive)
        };
        let as_vec = |t: FlexTensor| float::<Flex, 1>(t).into_data().to_vec::<f32>().unwrap();
        let [p, g, m, v] = inputs();
        let (p, m, v) = Flex::adam_update(p, g, m, v, c);
        let fused = [p, m, v].map(as_vec);
        let [p, g, m, v] = inputs();
        let (p, m, v) = plain_update::<Flex>(p, g, m, v, c);
        let plain = [p, m, v].map(as_vec);
        assert_eq!(fused, plain);
    }
}
