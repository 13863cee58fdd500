//! The GRU recurrence and its backward pass written with Burn tensor operations, for any
//! backend (used as is on CUDA, and as the yardstick of the fused CPU kernels).
//!
//! Layout of the tape saved by the forward pass: `gates` `[N, T, 4H]` holds, per step, the
//! reset gate `r`, the update gate `z`, the candidate `n` and `W_hn h + b_hn` (needed for the
//! reset gate's gradient); the states `[N, T, H]` are the forward's output.

use burn::tensor::activation::sigmoid;
use burn::tensor::{backend::Backend, Tensor};

/// Gradients of the recurrence's three inputs.
#[derive(Debug, Clone)]
pub struct RecurrenceGrads<B: Backend> {
    /// `[N, T, 3H]` gradient of the input projections.
    pub gi: Tensor<B, 3>,
    /// `[3H, H]` gradient of `weight_hh`.
    pub w_hh: Tensor<B, 2>,
    /// `[3H]` gradient of `bias_hh`.
    pub b_hh: Tensor<B, 1>,
}

/// Runs `h_t = GRU(gi_t, h_{t-1})` from `h_{-1} = 0`; `gi` `[N, T, 3H]` holds the input
/// projections (bias included). Returns the states `[N, T, H]` and the gates tape `[N, T, 4H]`.
pub fn forward<B: Backend>(
    gi: Tensor<B, 3>,
    w_hh: Tensor<B, 2>,
    b_hh: Tensor<B, 1>,
) -> (Tensor<B, 3>, Tensor<B, 3>) {
    let [n, t, h3] = gi.dims();
    let h = h3 / 3;
    let w_hh_t = w_hh.transpose();
    let b_hh = b_hh.unsqueeze_dim::<2>(0);
    let mut state = Tensor::<B, 2>::zeros([n, h], &gi.device());
    let mut states = Vec::with_capacity(t);
    let mut gates = Vec::with_capacity(t);
    for step in 0..t {
        let gi_t = gi.clone().narrow(1, step, 1).reshape([n, h3]);
        let gh = state.clone().matmul(w_hh_t.clone()) + b_hh.clone();
        let rz = sigmoid(gi_t.clone().narrow(1, 0, 2 * h) + gh.clone().narrow(1, 0, 2 * h));
        let r = rz.clone().narrow(1, 0, h);
        let z = rz.clone().narrow(1, h, h);
        let ghn = gh.narrow(1, 2 * h, h);
        let cand = (gi_t.narrow(1, 2 * h, h) + r * ghn.clone()).tanh();
        state = cand.clone() + z * (state - cand.clone());
        states.push(state.clone());
        gates.push(Tensor::cat(vec![rz, cand, ghn], 1));
    }
    (Tensor::stack(states, 1), Tensor::stack(gates, 1))
}

/// Back-propagates `grad` `[N, T, H]` (the loss's gradient w.r.t. every state) through the
/// recurrence whose forward produced `states` and `gates`.
pub fn backward<B: Backend>(
    grad: Tensor<B, 3>,
    states: Tensor<B, 3>,
    gates: Tensor<B, 3>,
    w_hh: Tensor<B, 2>,
) -> RecurrenceGrads<B> {
    let [n, t, h] = states.dims();
    let device = states.device();
    let mut dh_next = Tensor::<B, 2>::zeros([n, h], &device);
    let mut d_gi = Vec::with_capacity(t);
    let mut d_gh = Vec::with_capacity(t);
    for step in (0..t).rev() {
        let at = |x: &Tensor<B, 3>, start: usize, len: usize| {
            x.clone()
                .narrow(1, step, 1)
                .narrow(2, start, len)
                .reshape([n, len])
        };
        let r = at(&gates, 0, h);
        let z = at(&gates, h, h);
        let cand = at(&gates, 2 * h, h);
        let ghn = at(&gates, 3 * h, h);
        let h_prev = if step == 0 {
            Tensor::zeros([n, h], &device)
        } else {
            states.clone().narrow(1, step - 1, 1).reshape([n, h])
        };
        let dh = at(&grad, 0, h) + dh_next;
        let dn_pre =
            dh.clone() * (z.clone().neg() + 1.0) * (cand.clone().powi_scalar(2).neg() + 1.0);
        let dz_pre = dh.clone() * (h_prev - cand) * z.clone() * (z.clone().neg() + 1.0);
        let dr_pre = dn_pre.clone() * ghn * r.clone() * (r.clone().neg() + 1.0);
        let d_gh_t = Tensor::cat(vec![dr_pre.clone(), dz_pre.clone(), dn_pre.clone() * r], 1);
        dh_next = dh * z + d_gh_t.clone().matmul(w_hh.clone());
        d_gi.push(Tensor::cat(vec![dr_pre, dz_pre, dn_pre], 1));
        d_gh.push(d_gh_t);
    }
    d_gi.reverse();
    d_gh.reverse();
    let d_gh = Tensor::stack::<3>(d_gh, 1).reshape([n * t, 3 * h]);
    let mut h_prev = vec![Tensor::zeros([n, 1, h], &device)];
    if t > 1 {
        h_prev.push(states.narrow(1, 0, t - 1));
    }
    let h_prev = Tensor::cat(h_prev, 1).reshape([n * t, h]);
    RecurrenceGrads {
        gi: Tensor::stack(d_gi, 1),
        w_hh: d_gh.clone().transpose().matmul(h_prev),
        b_hh: d_gh.sum_dim(0).reshape([3 * h]),
    }
}
