//! The Adam update on the CubeCL backends (CUDA, wgpu): one kernel per parameter instead of
//! about a dozen tensor operations, each a launch and a pass over the parameter's size (the
//! network has 40 parameter tensors, so a step spent some 500 launches in the optimiser).
//! Same expressions, in the same order, as the tensor-operation form.

use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::CubeRuntime;
use cubecl::prelude::*;

use super::AdamCoefficients;
use crate::custom_op::cube::{empty, geometry};

/// The update of element `i`: new moments into `m_out`, `v_out`, new value into `param_out`.
/// `rest1`, `rest2` are `1 - beta1`, `1 - beta2`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn adam_step<F: Float>(
    param: &Array<F>,
    grad: &Array<F>,
    m: &Array<F>,
    v: &Array<F>,
    param_out: &mut Array<F>,
    m_out: &mut Array<F>,
    v_out: &mut Array<F>,
    beta1: f32,
    rest1: f32,
    beta2: f32,
    rest2: f32,
    bias2_sqrt: f32,
    eps: f32,
    step_size: f32,
    #[define(F)] _dtype: StorageType,
) {
    let i = ABSOLUTE_POS;
    if i >= param_out.len() {
        terminate!();
    }
    let g = grad[i];
    let m1 = m[i] * F::cast_from(beta1) + g * F::cast_from(rest1);
    let v1 = v[i] * F::cast_from(beta2) + (g * g) * F::cast_from(rest2);
    let denom = v1.sqrt() / F::cast_from(bias2_sqrt) + F::cast_from(eps);
    param_out[i] = param[i] - (m1 / denom) * F::cast_from(step_size);
    m_out[i] = m1;
    v_out[i] = v1;
}

/// One Adam update of a parameter: the new value, first and second moment.
pub(super) fn adam_update<R: CubeRuntime>(
    param: CubeTensor<R>,
    grad: CubeTensor<R>,
    exp_avg: CubeTensor<R>,
    exp_avg_sq: CubeTensor<R>,
    c: AdamCoefficients,
) -> (CubeTensor<R>, CubeTensor<R>, CubeTensor<R>) {
    let [param, grad, m, v] = [param, grad, exp_avg, exp_avg_sq].map(into_contiguous);
    let shape = param.meta.shape().to_vec();
    let len = shape.iter().product::<usize>();
    let [param_out, m_out, v_out] = [0; 3].map(|_| empty(&param, shape.clone()));
    let (count, dim) = geometry(&param, len);
    adam_step::launch::<R>(
        &param.client,
        count,
        dim,
        param.clone().into_array_arg(),
        grad.into_array_arg(),
        m.into_array_arg(),
        v.into_array_arg(),
        param_out.clone().into_array_arg(),
        m_out.clone().into_array_arg(),
        v_out.clone().into_array_arg(),
        c.beta1 as f32,
        (1.0 - c.beta1) as f32,
        c.beta2 as f32,
        (1.0 - c.beta2) as f32,
        c.bias2_sqrt as f32,
        c.eps as f32,
        c.step_size as f32,
        param.dtype.into(),
    );
    (param_out, m_out, v_out)
}
