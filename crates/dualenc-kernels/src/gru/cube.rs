//! The GRU recurrence on CubeCL backends (CUDA, wgpu): one matrix product and one fused
//! kernel per time step, forward and backward.
//!
//! The tensor-operation version ([`super::reference`]) launches about ten kernels per step
//! forward and thirty backward; on a GPU each launch costs more than its arithmetic, so the
//! step time of a training step grew with every frame. Here a step is `gh = h W_hhᵀ` (Burn's
//! matmul) followed by [`forward_step`], which adds the biases, evaluates the gates, writes the
//! new state into `states` and the tape, and keeps a contiguous copy of the state for the next
//! product. Backward, [`backward_step`] turns the incoming gradient into the gate gradients of
//! one step and the carry `dh z`; `d_gh W_hh` is one product per step, and `d W_hh`, `d b_hh`
//! are one product and one sum over all steps after the loop.
//!
//! One unit of work per `(sequence, hidden unit)`; the kernels read and write the same tape
//! layout as the CPU kernels (`[r, z, n, W_hn h + b_hn]` per step).

use burn::tensor::Tensor;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use cubecl::prelude::*;

use crate::custom_op::cube::{empty, geometry, zeros};
use crate::custom_op::{float, primitive};

/// Forward of one step for unit `(i, j)`: gates from `gi[i, step]`, `gh[i]` (without bias)
/// and `b_hh`, new state into `states[i, step, j]` and `h_next[i, j]`, gates into the tape.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn forward_step<F: Float>(
    gi: &Array<F>,
    gh: &Array<F>,
    b_hh: &Array<F>,
    h_prev: &Array<F>,
    states: &mut Array<F>,
    tape: &mut Array<F>,
    h_next: &mut Array<F>,
    step: usize,
    steps: usize,
    hidden: usize,
    #[comptime] keep_tape: bool,
    #[define(F)] _dtype: StorageType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= h_next.len() {
        terminate!();
    }
    let i = pos / hidden;
    let j = pos % hidden;
    let row = i * steps + step;
    let x = row * 3 * hidden + j;
    let y = i * 3 * hidden + j;
    let one = F::new(1.0);
    let r = one / (one + (-(gi[x] + gh[y] + b_hh[j])).exp());
    let z = one / (one + (-(gi[x + hidden] + gh[y + hidden] + b_hh[j + hidden])).exp());
    let ghn = gh[y + 2 * hidden] + b_hh[j + 2 * hidden];
    let cand = (gi[x + 2 * hidden] + r * ghn).tanh();
    let h = cand + z * (h_prev[pos] - cand);
    states[row * hidden + j] = h;
    h_next[pos] = h;
    if comptime![keep_tape] {
        let g = row * 4 * hidden + j;
        tape[g] = r;
        tape[g + hidden] = z;
        tape[g + 2 * hidden] = cand;
        tape[g + 3 * hidden] = ghn;
    }
}

/// Backward of one step for unit `(i, j)`: `dh = grad[i, step] + carry_z + carry_w` (the
/// carries from step `step + 1`), gate gradients into `d_gi` and `d_gh` (`[N, T, 3H]`) and
/// into `d_gh_step` (`[N, 3H]`, the left factor of the next carry), `dh z` into `carry_z_out`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn backward_step<F: Float>(
    grad: &Array<F>,
    states: &Array<F>,
    tape: &Array<F>,
    carry_z: &Array<F>,
    carry_w: &Array<F>,
    d_gi: &mut Array<F>,
    d_gh: &mut Array<F>,
    d_gh_step: &mut Array<F>,
    carry_z_out: &mut Array<F>,
    step: usize,
    steps: usize,
    hidden: usize,
    #[define(F)] _dtype: StorageType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= carry_z_out.len() {
        terminate!();
    }
    let i = pos / hidden;
    let j = pos % hidden;
    let row = i * steps + step;
    let g = row * 4 * hidden + j;
    let r = tape[g];
    let z = tape[g + hidden];
    let cand = tape[g + 2 * hidden];
    let ghn = tape[g + 3 * hidden];
    let mut h_prev = F::new(0.0);
    if step > 0 {
        h_prev = states[(row - 1) * hidden + j];
    }
    let one = F::new(1.0);
    let dh = grad[row * hidden + j] + carry_z[pos] + carry_w[pos];
    let dn = dh * (one - z) * (one - cand * cand);
    let dz = dh * (h_prev - cand) * z * (one - z);
    let dr = dn * ghn * r * (one - r);
    let x = row * 3 * hidden + j;
    d_gi[x] = dr;
    d_gi[x + hidden] = dz;
    d_gi[x + 2 * hidden] = dn;
    d_gh[x] = dr;
    d_gh[x + hidden] = dz;
    d_gh[x + 2 * hidden] = dn * r;
    let y = i * 3 * hidden + j;
    d_gh_step[y] = dr;
    d_gh_step[y + hidden] = dz;
    d_gh_step[y + 2 * hidden] = dn * r;
    carry_z_out[pos] = dh * z;
}

type Cube<R, F, I, BT> = CubeBackend<R, F, I, BT>;

/// The recurrence from a zero state: `gi` `[N, T, 3H]`, `w_hh` `[3H, H]`, `b_hh` `[3H]`;
/// returns the states `[N, T, H]` and, with `keep_tape`, the tape `[N, T, 4H]`.
pub(super) fn forward<R, F, I, BT>(
    gi: CubeTensor<R>,
    w_hh: CubeTensor<R>,
    b_hh: CubeTensor<R>,
    keep_tape: bool,
) -> (CubeTensor<R>, Option<CubeTensor<R>>)
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    let gi = into_contiguous(gi);
    let b_hh = into_contiguous(b_hh);
    let [n, t, h3] = gi.meta.shape().dims::<3>();
    let h = h3 / 3;
    let w_t = float::<Cube<R, F, I, BT>, 2>(w_hh).transpose();
    let states = empty(&gi, vec![n, t, h]);
    let tape = empty(
        &gi,
        if keep_tape {
            vec![n, t, 4 * h]
        } else {
            vec![1]
        },
    );
    let mut state = zeros(&gi, vec![n, h]);
    let (count, dim) = geometry(&gi, n * h);
    for step in 0..t {
        let gh = primitive(float::<Cube<R, F, I, BT>, 2>(state.clone()).matmul(w_t.clone()));
        let next = empty(&gi, vec![n, h]);
        forward_step::launch::<R>(
            &gi.client,
            count.clone(),
            dim,
            gi.clone().into_array_arg(),
            gh.into_array_arg(),
            b_hh.clone().into_array_arg(),
            state.into_array_arg(),
            states.clone().into_array_arg(),
            tape.clone().into_array_arg(),
            next.clone().into_array_arg(),
            step,
            t,
            h,
            keep_tape,
            gi.dtype.into(),
        );
        state = next;
    }
    (states, keep_tape.then_some(tape))
}

/// Gradients of `gi`, `w_hh`, `b_hh` from `grad` `[N, T, H]`, the forward's `states` and
/// `tape`.
pub(super) fn backward<R, F, I, BT>(
    grad: CubeTensor<R>,
    states: CubeTensor<R>,
    tape: CubeTensor<R>,
    w_hh: CubeTensor<R>,
) -> [CubeTensor<R>; 3]
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    let grad = into_contiguous(grad);
    let states = into_contiguous(states);
    let tape = into_contiguous(tape);
    let [n, t, h] = states.meta.shape().dims::<3>();
    let w = float::<Cube<R, F, I, BT>, 2>(w_hh);
    let d_gi = empty(&states, vec![n, t, 3 * h]);
    let d_gh = empty(&states, vec![n, t, 3 * h]);
    let mut carry_z = zeros(&states, vec![n, h]);
    let mut carry_w = zeros(&states, vec![n, h]);
    let (count, dim) = geometry(&states, n * h);
    for step in (0..t).rev() {
        let d_gh_step = empty(&states, vec![n, 3 * h]);
        let carry_z_out = empty(&states, vec![n, h]);
        backward_step::launch::<R>(
            &states.client,
            count.clone(),
            dim,
            grad.clone().into_array_arg(),
            states.clone().into_array_arg(),
            tape.clone().into_array_arg(),
            carry_z.into_array_arg(),
            carry_w.clone().into_array_arg(),
            d_gi.clone().into_array_arg(),
            d_gh.clone().into_array_arg(),
            d_gh_step.clone().into_array_arg(),
            carry_z_out.clone().into_array_arg(),
            step,
            t,
            h,
            states.dtype.into(),
        );
        carry_z = carry_z_out;
        if step > 0 {
            carry_w = primitive(float::<Cube<R, F, I, BT>, 2>(d_gh_step).matmul(w.clone()));
        }
    }
    let d_gh = float::<Cube<R, F, I, BT>, 3>(d_gh).reshape([n * t, 3 * h]);
    let h_prev = previous_states::<R, F, I, BT>(states, [n, t, h]);
    let d_w = d_gh.clone().transpose().matmul(h_prev);
    let d_b = d_gh.sum_dim(0).reshape([3 * h]);
    [d_gi, primitive(d_w), primitive(d_b)]
}

/// `[N T, H]`: the state before each step (zero before the first).
fn previous_states<R, F, I, BT>(
    states: CubeTensor<R>,
    [n, t, h]: [usize; 3],
) -> Tensor<Cube<R, F, I, BT>, 2>
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    let first = float::<Cube<R, F, I, BT>, 3>(zeros(&states, vec![n, 1, h]));
    let mut parts = vec![first];
    if t > 1 {
        parts.push(float::<Cube<R, F, I, BT>, 3>(states).narrow(1, 0, t - 1));
    }
    Tensor::cat(parts, 1).reshape([n * t, h])
}
