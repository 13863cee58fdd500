//! The CubeCL kernels (the ones CUDA runs: the GRU recurrence, the convolutions' window sums
//! and the Adam update) against
//! the tensor-operation definitions on the CPU. With `--features wgpu` (on in `cargo test --workspace`) they run through wgpu: on a
//! machine without a GPU that is Mesa's lavapipe, so the same kernels are checked everywhere;
//! with `--features cuda`, on the CUDA GPU.
//!
//! Tolerance: 1e-4 absolute on values of order 1 for the GRU (the device's `exp` and `tanh`
//! are not the CPU's, and sums run in other orders); window sums: 1e-6 absolute (sums of at
//! most five terms); Adam: 1e-6 relative to each value
//! (element-wise, same expressions; the device's division and square root may round
//! differently in the last bit).
#![cfg(any(feature = "wgpu", feature = "cuda"))]

use burn::backend::Autodiff;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{backend::Backend, Distribution, Tensor, TensorData, TensorPrimitive};
use dualenc_kernels::gru::reference;
use dualenc_kernels::{
    AdamCoefficients, ConvBackend, CpuAutodiffBackend, CpuBackend, GruBackend, OptimBackend,
};
use dualenc_testkit::compare::max_abs_diff;

const TOLERANCE: f32 = 1e-4;

#[cfg(feature = "cuda")]
type Gpu = burn::backend::Cuda;
#[cfg(not(feature = "cuda"))]
type Gpu = burn::backend::wgpu::Wgpu;
type GpuAutodiff = Autodiff<Gpu>;

/// wgpu needs a Vulkan driver (lavapipe where there is no GPU); CUDA its own driver.
fn require_device() {
    #[cfg(not(feature = "cuda"))]
    dualenc_testkit::require_vulkan();
}

fn random(shape: Vec<usize>, seed: u64) -> TensorData {
    CpuBackend::seed(&Default::default(), seed);
    let len = shape.iter().product::<usize>();
    let values = Tensor::<CpuBackend, 1>::random(
        [len],
        Distribution::Uniform(-1.0, 1.0),
        &Default::default(),
    )
    .into_data()
    .to_vec::<f32>()
    .unwrap();
    TensorData::new(values, shape)
}

fn on<B: Backend, const D: usize>(data: &TensorData) -> Tensor<B, D> {
    Tensor::from_data(data.clone(), &Default::default())
}

fn assert_close(what: &str, got: TensorData, want: TensorData) {
    assert_close_to(what, got, want, TOLERANCE);
}

fn assert_close_to(what: &str, got: TensorData, want: TensorData, tolerance: f32) {
    assert_eq!(got.shape, want.shape, "{what}: shapes");
    let got = got.to_vec::<f32>().unwrap();
    let want = want.to_vec::<f32>().unwrap();
    assert!(
        got.iter().all(|v| v.is_finite()),
        "{what}: non-finite values"
    );
    let worst = max_abs_diff(&got, &want);
    assert!(worst <= tolerance, "{what}: largest difference {worst}");
}

/// `gi` `[n, t, 3h]`, `w_hh`, `b_hh`, and the weights `c` `[n, t, h]` of the test loss
/// `sum(c * states)`.
struct Inputs {
    gi: TensorData,
    w_hh: TensorData,
    b_hh: TensorData,
    c: TensorData,
}

fn inputs(n: usize, t: usize, h: usize) -> Inputs {
    Inputs {
        gi: random(vec![n, t, 3 * h], 1),
        w_hh: random(vec![3 * h, h], 2),
        b_hh: random(vec![3 * h], 3),
        c: random(vec![n, t, h], 4),
    }
}

/// Shapes `(n, t, h)`: single steps, odd sizes, and more units than one cube holds.
const SHAPES: [(usize, usize, usize); 5] =
    [(3, 5, 4), (1, 1, 6), (5, 9, 17), (2, 1, 3), (9, 6, 64)];

fn float<B: Backend, const D: usize>(p: B::FloatTensorPrimitive) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(p))
}

fn prim<B: Backend, const D: usize>(t: Tensor<B, D>) -> B::FloatTensorPrimitive {
    t.into_primitive().tensor()
}

#[test]
fn forward_matches_tensor_operations() {
    require_device();
    for (n, t, h) in SHAPES {
        let x = inputs(n, t, h);
        let (want_states, want_tape) =
            reference::forward::<CpuBackend>(on(&x.gi), on(&x.w_hh), on(&x.b_hh));
        let args = || {
            (
                prim(on::<Gpu, 3>(&x.gi)),
                prim(on::<Gpu, 2>(&x.w_hh)),
                prim(on::<Gpu, 1>(&x.b_hh)),
            )
        };
        let (gi, w_hh, b_hh) = args();
        let (states, tape) = Gpu::gru_forward_taped(gi, w_hh, b_hh);
        let what = |name: &str| format!("{name} ({n}, {t}, {h})");
        let want_states = want_states.into_data();
        assert_close(&what("states"), data::<Gpu, 3>(states), want_states.clone());
        assert_close(&what("tape"), data::<Gpu, 3>(tape), want_tape.into_data());
        let (gi, w_hh, b_hh) = args();
        let untaped = Gpu::gru_forward(gi, w_hh, b_hh);
        assert_close(
            &what("untaped states"),
            data::<Gpu, 3>(untaped),
            want_states,
        );
    }
}

fn data<B: Backend, const D: usize>(p: B::FloatTensorPrimitive) -> TensorData {
    float::<B, D>(p).into_data()
}

/// Gradients of `sum(c * states)` for `gi`, `w_hh` and `b_hh`, with `states` from `run`.
fn gradients<B: AutodiffBackend>(
    x: &Inputs,
    run: impl Fn(Tensor<B, 3>, Tensor<B, 2>, Tensor<B, 1>) -> Tensor<B, 3>,
) -> [TensorData; 3] {
    let gi = on::<B, 3>(&x.gi).require_grad();
    let w_hh = on::<B, 2>(&x.w_hh).require_grad();
    let b_hh = on::<B, 1>(&x.b_hh).require_grad();
    let states = run(gi.clone(), w_hh.clone(), b_hh.clone());
    let grads = (states * on::<B, 3>(&x.c)).sum().backward();
    [
        gi.grad(&grads).expect("gi is tracked").into_data(),
        w_hh.grad(&grads).expect("w_hh is tracked").into_data(),
        b_hh.grad(&grads).expect("b_hh is tracked").into_data(),
    ]
}

/// The recurrence as the custom operation of backend `B`.
fn custom_op<B: GruBackend>(
    gi: Tensor<B, 3>,
    w_hh: Tensor<B, 2>,
    b_hh: Tensor<B, 1>,
) -> Tensor<B, 3> {
    float(B::gru_forward(prim(gi), prim(w_hh), prim(b_hh)))
}

#[test]
fn backward_matches_automatic_differentiation_of_tensor_operations() {
    require_device();
    for (n, t, h) in SHAPES {
        let x = inputs(n, t, h);
        let got = gradients::<GpuAutodiff>(&x, custom_op);
        let want = gradients::<CpuAutodiffBackend>(&x, |gi, w, b| reference::forward(gi, w, b).0);
        let names = ["d gi", "d w_hh", "d b_hh"];
        for (name, (got, want)) in names.iter().zip(got.into_iter().zip(want)) {
            assert_close(&format!("{name} ({n}, {t}, {h})"), got, want);
        }
    }
}

#[test]
fn adam_update_matches_the_cpu() {
    require_device();
    let len = 70_001;
    let c = AdamCoefficients {
        beta1: 0.9,
        beta2: 0.999,
        bias2_sqrt: (1.0f64 - 0.999f64.powi(3)).sqrt(),
        eps: 1e-8,
        step_size: 1e-4 / (1.0 - 0.9f64.powi(3)),
    };
    let squared = |d: TensorData| {
        let v: Vec<f32> = d.to_vec::<f32>().unwrap().iter().map(|x| x * x).collect();
        TensorData::new(v, [len])
    };
    let inputs = [
        random(vec![len], 1),
        random(vec![len], 2),
        random(vec![len], 3),
        squared(random(vec![len], 4)),
    ];
    let [p, g, m, v] = inputs.clone().map(|d| prim(on::<CpuBackend, 1>(&d)));
    let want = CpuBackend::adam_update(p, g, m, v, c);
    let [p, g, m, v] = inputs.map(|d| prim(on::<Gpu, 1>(&d)));
    let got = Gpu::adam_update(p, g, m, v, c);
    let pairs = [
        (
            "param",
            data::<Gpu, 1>(got.0),
            data::<CpuBackend, 1>(want.0),
        ),
        (
            "exp_avg",
            data::<Gpu, 1>(got.1),
            data::<CpuBackend, 1>(want.1),
        ),
        (
            "exp_avg_sq",
            data::<Gpu, 1>(got.2),
            data::<CpuBackend, 1>(want.2),
        ),
    ];
    for (name, got, want) in pairs {
        let got = got.to_vec::<f32>().unwrap();
        let want = want.to_vec::<f32>().unwrap();
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!(
                (a - b).abs() <= 1e-6 * b.abs().max(1e-3),
                "{name}[{i}]: {a} vs {b}"
            );
        }
    }
}

#[test]
fn window_sums_match_the_cpu() {
    require_device();
    // (n, t, filters, widths): the text and video banks, and sequences shorter than a window.
    let cases: [(usize, usize, usize, &[usize]); 3] = [
        (3, 7, 4, &[2, 3, 4]),
        (2, 5, 3, &[2, 3, 4, 5]),
        (4, 1, 2, &[2, 3, 4]),
    ];
    for (n, t, filters, widths) in cases {
        let cols = widths.iter().sum::<usize>() * filters;
        let y = random(vec![n, t, cols], 5);
        let want = CpuBackend::conv_window_sums(prim(on::<CpuBackend, 3>(&y)), widths);
        let got = Gpu::conv_window_sums(prim(on::<Gpu, 3>(&y)), widths);
        let want = data::<CpuBackend, 3>(want);
        let what = format!("window sums ({n}, {t}, {filters}, {widths:?})");
        let grad = random(want.shape.to_vec(), 6);
        assert_close_to(&what, data::<Gpu, 3>(got), want, 1e-6);
        let want =
            CpuBackend::conv_window_sums_backward(prim(on::<CpuBackend, 3>(&grad)), t, widths);
        let got = Gpu::conv_window_sums_backward(prim(on::<Gpu, 3>(&grad)), t, widths);
        assert_close_to(
            &format!("{what} backward"),
            data::<Gpu, 3>(got),
            data::<CpuBackend, 3>(want),
            1e-6,
        );
    }
}
