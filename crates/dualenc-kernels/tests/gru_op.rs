//! The GRU recurrence operation against its definitions: the CPU's fused kernels against the
//! tensor-operation version, and both backward passes against Burn's automatic
//! differentiation of the tensor-operation forward. Tolerance: 1e-5 absolute on values of
//! order 1 (f32 sums in different orders).

use burn::tensor::{backend::Backend, Distribution, Tensor, TensorPrimitive};
use dualenc_kernels::gru::reference;
use dualenc_kernels::{CpuAutodiffBackend, CpuBackend, GruBackend};
use dualenc_testkit::compare::max_abs_diff;

const TOLERANCE: f32 = 1e-5;

fn random<B: Backend, const D: usize>(shape: [usize; D], seed: u64) -> Tensor<B, D> {
    B::seed(&Default::default(), seed);
    Tensor::random(shape, Distribution::Uniform(-1.0, 1.0), &Default::default())
}

fn assert_close<B: Backend, const D: usize>(what: &str, a: Tensor<B, D>, b: Tensor<B, D>) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes");
    let a = a.into_data().to_vec::<f32>().unwrap();
    let b = b.into_data().to_vec::<f32>().unwrap();
    let worst = max_abs_diff(&a, &b);
    assert!(worst <= TOLERANCE, "{what}: largest difference {worst}");
}

fn prim<B: Backend, const D: usize>(t: Tensor<B, D>) -> B::FloatTensorPrimitive {
    t.into_primitive().tensor()
}

fn tensor<B: Backend, const D: usize>(p: B::FloatTensorPrimitive) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(p))
}

/// Inputs of one recurrence: `gi` `[n, t, 3h]`, `w_hh`, `b_hh`.
struct Inputs<B: Backend> {
    gi: Tensor<B, 3>,
    w_hh: Tensor<B, 2>,
    b_hh: Tensor<B, 1>,
}

fn inputs<B: Backend>(n: usize, t: usize, h: usize) -> Inputs<B> {
    Inputs {
        gi: random([n, t, 3 * h], 1).mul_scalar(2.0),
        w_hh: random([3 * h, h], 2),
        b_hh: random([3 * h], 3),
    }
}

const SHAPES: [(usize, usize, usize); 4] = [(3, 5, 4), (1, 1, 6), (5, 9, 17), (2, 1, 3)];

#[test]
fn fused_cpu_forward_matches_tensor_operations() {
    for (n, t, h) in SHAPES {
        let x = inputs::<CpuBackend>(n, t, h);
        let (states, tape) = CpuBackend::gru_forward_taped(
            prim(x.gi.clone()),
            prim(x.w_hh.clone()),
            prim(x.b_hh.clone()),
        );
        let (want_states, want_tape) =
            reference::forward(x.gi.clone(), x.w_hh.clone(), x.b_hh.clone());
        assert_close(
            "states",
            tensor::<CpuBackend, 3>(states),
            want_states.clone(),
        );
        assert_close("tape", tensor::<CpuBackend, 3>(tape), want_tape);
        // The same inputs (drawing them again would race with the other tests over the
        // backend's global seed).
        let untaped = CpuBackend::gru_forward(prim(x.gi), prim(x.w_hh), prim(x.b_hh));
        assert_close(
            "untaped states",
            tensor::<CpuBackend, 3>(untaped),
            want_states,
        );
    }
}

#[test]
fn fused_cpu_backward_matches_tensor_operations() {
    for (n, t, h) in SHAPES {
        let x = inputs::<CpuBackend>(n, t, h);
        let grad = random::<CpuBackend, 3>([n, t, h], 4);
        let (states, tape) = reference::forward(x.gi, x.w_hh.clone(), x.b_hh);
        let want = reference::backward(grad.clone(), states.clone(), tape.clone(), x.w_hh.clone());
        let [gi, w_hh, b_hh] =
            CpuBackend::gru_backward(prim(grad), prim(states), prim(tape), prim(x.w_hh));
        assert_close("d gi", tensor::<CpuBackend, 3>(gi), want.gi);
        assert_close("d w_hh", tensor::<CpuBackend, 2>(w_hh), want.w_hh);
        assert_close("d b_hh", tensor::<CpuBackend, 1>(b_hh), want.b_hh);
    }
}

/// Gradients of `sum(states * weights)` w.r.t. the three inputs, on the autodiff CPU backend.
fn gradients(
    x: &Inputs<CpuAutodiffBackend>,
    weights: &Tensor<CpuAutodiffBackend, 3>,
    custom_op: bool,
) -> [Vec<f32>; 3] {
    let gi = x.gi.clone().require_grad();
    let w_hh = x.w_hh.clone().require_grad();
    let b_hh = x.b_hh.clone().require_grad();
    let states: Tensor<CpuAutodiffBackend, 3> = if custom_op {
        tensor(CpuAutodiffBackend::gru_forward(
            prim(gi.clone()),
            prim(w_hh.clone()),
            prim(b_hh.clone()),
        ))
    } else {
        reference::forward(gi.clone(), w_hh.clone(), b_hh.clone()).0
    };
    let grads = (states * weights.clone()).sum().backward();
    let values = |g: Option<Vec<f32>>| g.expect("every input receives a gradient");
    [
        values(gi.grad(&grads).map(|g| g.into_data().to_vec().unwrap())),
        values(w_hh.grad(&grads).map(|g| g.into_data().to_vec().unwrap())),
        values(b_hh.grad(&grads).map(|g| g.into_data().to_vec().unwrap())),
    ]
}

#[test]
fn custom_backward_matches_automatic_differentiation() {
    for (n, t, h) in SHAPES {
        let x = inputs::<CpuAutodiffBackend>(n, t, h);
        let weights = random::<CpuAutodiffBackend, 3>([n, t, h], 5);
        let fused = gradients(&x, &weights, true);
        let automatic = gradients(&x, &weights, false);
        for (name, (a, b)) in ["gi", "w_hh", "b_hh"]
            .iter()
            .zip(fused.iter().zip(&automatic))
        {
            assert_eq!(a.len(), b.len(), "{name}: sizes");
            let worst = max_abs_diff(a, b);
            assert!(
                worst <= TOLERANCE,
                "d {name} ({n}x{t}x{h}): largest difference {worst}"
            );
        }
    }
}
