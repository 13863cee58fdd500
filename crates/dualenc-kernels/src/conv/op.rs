//! The window sums of the convolution bank as a Burn custom operation.
//!
//! With `Y = G W^T` (`[N, T, sum_i w_i K]`, one matrix product for all windows, column
//! `col_i + f w_i + k` holding filter `f`'s row `k` of window `i`: PyTorch's weight order),
//! window `i`'s output for filter `f` at position `p` (`0 <= p < T + w_i - 1`, the sequence
//! zero-padded with `w_i - 1` steps at both ends) is `sum_k Y[t = p + k - (w_i - 1),
//! col_i + f w_i + k]` over the `k` whose `t` is a real step.
//! Written with tensor slices, the backward pass allocates a zero tensor the size of `Y` for
//! every `(i, k)`; as one operation it is a single gather in each direction.
//!
//! Output layout: `[N, T + max_w - 1, n_windows K]`, window `i` in columns `i K ..`, zero at
//! positions `p >= T + w_i - 1`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Flex};
use burn::tensor::ops::FloatTensor;
use burn::tensor::{backend::Backend, Tensor, TensorMetadata};
use rayon::prelude::*;

use crate::custom_op::{f32_vec, flex_tensor, float, primitive};

/// Where window `i` sits: its width and first column in `Y`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub(super) width: usize,
    pub(super) col: usize,
}

/// Sizes shared by the forward and backward passes (of the CPU and GPU kernels).
#[derive(Debug, Clone)]
pub(super) struct Geometry {
    pub(super) n: usize,
    pub(super) t: usize,
    pub(super) filters: usize,
    pub(super) windows: Vec<Window>,
}

impl Geometry {
    pub(super) fn new(y_dims: [usize; 3], widths: &[usize]) -> Self {
        let [n, t, cols] = y_dims;
        let total: usize = widths.iter().sum();
        assert!(
            total > 0 && cols % total == 0,
            "Y has {cols} columns, not a multiple of the widths' sum {total}"
        );
        let filters = cols / total;
        let mut col = 0;
        let windows = widths
            .iter()
            .map(|&width| {
                let window = Window { width, col };
                col += width * filters;
                window
            })
            .collect();
        Self {
            n,
            t,
            filters,
            windows,
        }
    }

    pub(super) fn cols(&self) -> usize {
        self.windows.iter().map(|w| w.width).sum::<usize>() * self.filters
    }

    pub(super) fn positions(&self) -> usize {
        self.t + self.windows.iter().map(|w| w.width).max().unwrap_or(1) - 1
    }

    pub(super) fn out_cols(&self) -> usize {
        self.windows.len() * self.filters
    }

    /// Every `(window index, window, k, t, p)` linking step `t` of `Y` to output position `p`.
    fn links(&self) -> impl Iterator<Item = (usize, Window, usize, usize, usize)> + '_ {
        self.windows.iter().enumerate().flat_map(move |(i, &w)| {
            (0..w.width)
                .flat_map(move |k| (0..self.t).map(move |t| (i, w, k, t, t + w.width - 1 - k)))
        })
    }
}

/// A backend that computes the window sums (see the module documentation).
pub trait ConvBackend: Backend {
    /// Window sums of `y` `[N, T, sum w_i K]` for windows of `widths`.
    fn conv_window_sums(y: FloatTensor<Self>, widths: &[usize]) -> FloatTensor<Self> {
        primitive(reference_sums::<Self>(float(y), widths))
    }

    /// Gradient of `Y` (`[N, t, sum w_i K]`) from the gradient of the window sums.
    fn conv_window_sums_backward(
        grad: FloatTensor<Self>,
        t: usize,
        widths: &[usize],
    ) -> FloatTensor<Self> {
        primitive(reference_backward::<Self>(float(grad), t, widths))
    }
}

/// The window sums with tensor slices (any backend).
fn reference_sums<B: Backend>(y: Tensor<B, 3>, widths: &[usize]) -> Tensor<B, 3> {
    let g = Geometry::new(y.dims(), widths);
    let (k, positions) = (g.filters, g.positions());
    let device = y.device();
    let outputs = g
        .windows
        .iter()
        .map(|w| {
            let mut out = Tensor::<B, 3>::zeros([g.n, positions, k], &device);
            let steps = y
                .clone()
                .narrow(2, w.col, w.width * k)
                .reshape([g.n, g.t, k, w.width]);
            for step in 0..w.width {
                let block = steps.clone().narrow(3, step, 1).reshape([g.n, g.t, k]);
                let first = w.width - 1 - step;
                let summed = out.clone().narrow(1, first, g.t) + block;
                out = out.slice_assign([0..g.n, first..first + g.t, 0..k], summed);
            }
            out
        })
        .collect();
    Tensor::cat(outputs, 2)
}

/// The backward pass with tensor slices (any backend).
fn reference_backward<B: Backend>(grad: Tensor<B, 3>, t: usize, widths: &[usize]) -> Tensor<B, 3> {
    let out_cols = grad.dims()[2];
    let filters = out_cols / widths.len().max(1);
    let n = grad.dims()[0];
    let blocks = widths
        .iter()
        .enumerate()
        .map(|(i, &width)| {
            let steps = (0..width)
                .map(|step| {
                    grad.clone()
                        .narrow(1, width - 1 - step, t)
                        .narrow(2, i * filters, filters)
                })
                .collect();
            Tensor::stack::<4>(steps, 3).reshape([n, t, filters * width])
        })
        .collect::<Vec<_>>();
    Tensor::cat(blocks, 2)
}

/// The CPU backend gathers row blocks directly, sequences in parallel.
impl ConvBackend for Flex {
    fn conv_window_sums(y: FloatTensor<Self>, widths: &[usize]) -> FloatTensor<Self> {
        let g = Geometry::new(y.shape().dims::<3>(), widths);
        let y = f32_vec(y);
        let (cols, positions, out_cols, k) = (g.cols(), g.positions(), g.out_cols(), g.filters);
        let mut out = vec![0.0f32; g.n * positions * out_cols];
        out.par_chunks_mut(positions * out_cols)
            .zip(y.par_chunks(g.t * cols))
            .for_each(|(out, y)| {
                for (i, w, step, t, p) in g.links() {
                    let row = &y[t * cols + w.col..][..w.width * k];
                    let src = row.iter().skip(step).step_by(w.width);
                    let dst = &mut out[p * out_cols + i * k..][..k];
                    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                }
            });
        flex_tensor(out, vec![g.n, positions, out_cols])
    }

    fn conv_window_sums_backward(
        grad: FloatTensor<Self>,
        t: usize,
        widths: &[usize],
    ) -> FloatTensor<Self> {
        let [n, positions, out_cols] = grad.shape().dims::<3>();
        let filters = out_cols / widths.len().max(1);
        let cols = widths.iter().sum::<usize>() * filters;
        let g = Geometry::new([n, t, cols], widths);
        let grad = f32_vec(grad);
        let mut dy = vec![0.0f32; n * t * cols];
        dy.par_chunks_mut(t * cols)
            .zip(grad.par_chunks(positions * out_cols))
            .for_each(|(dy, grad)| {
                for (i, w, step, at, p) in g.links() {
                    let src = &grad[p * out_cols + i * filters..][..filters];
                    let row = &mut dy[at * cols + w.col..][..w.width * filters];
                    let dst = row.iter_mut().skip(step).step_by(w.width);
                    dst.zip(src).for_each(|(d, s)| *d = *s);
                }
            });
        flex_tensor(dy, vec![n, t, cols])
    }
}

/// The GPU backends (CUDA, wgpu): one kernel per window width ([`super::cube`]).
#[cfg(any(feature = "cuda", feature = "wgpu"))]
impl<R, F, I, BT> ConvBackend for burn_cubecl::CubeBackend<R, F, I, BT>
where
    R: burn_cubecl::CubeRuntime,
    F: burn_cubecl::FloatElement,
    I: burn_cubecl::IntElement,
    BT: burn_cubecl::BoolElement,
{
    fn conv_window_sums(y: FloatTensor<Self>, widths: &[usize]) -> FloatTensor<Self> {
        super::cube::sums(y, widths)
    }

    fn conv_window_sums_backward(
        grad: FloatTensor<Self>,
        t: usize,
        widths: &[usize],
    ) -> FloatTensor<Self> {
        super::cube::sums_backward(grad, t, widths)
    }
}

/// Records the window sums as one node of the autodiff graph.
impl<B: ConvBackend, C: CheckpointStrategy> ConvBackend for Autodiff<B, C> {
    fn conv_window_sums(y: FloatTensor<Self>, widths: &[usize]) -> FloatTensor<Self> {
        let t = y.primitive.shape().dims::<3>()[1];
        let prep = WindowSumsBackward {
            t,
            widths: widths.to_vec(),
        }
        .prepare::<C>([y.node.clone()])
        .compute_bound()
        .stateful();
        match prep {
            OpsKind::Tracked(prep) => prep.finish((), B::conv_window_sums(y.primitive, widths)),
            OpsKind::UnTracked(prep) => prep.finish(B::conv_window_sums(y.primitive, widths)),
        }
    }
}

/// Backward of [`ConvBackend::conv_window_sums`] under autodiff.
#[derive(Debug)]
struct WindowSumsBackward {
    t: usize,
    widths: Vec<usize>,
}

impl<B: ConvBackend> Backward<B, 1> for WindowSumsBackward {
    type State = ();

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let [parent] = ops.parents;
        if let Some(parent) = parent {
            let dy = B::conv_window_sums_backward(grad, self.t, &self.widths);
            grads.register::<B>(parent.id, dy);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    type Ad = Autodiff<Flex>;

    fn random<B: Backend>(shape: [usize; 3], seed: u64) -> Tensor<B, 3> {
        B::seed(&Default::default(), seed);
        Tensor::random(shape, Distribution::Uniform(-1.0, 1.0), &Default::default())
    }

    fn worst_difference<B: Backend>(a: Tensor<B, 3>, b: Tensor<B, 3>) -> f32 {
        assert_eq!(a.dims(), b.dims());
        let a = a.into_data().to_vec::<f32>().unwrap();
        let b = b.into_data().to_vec::<f32>().unwrap();
        dualenc_testkit::compare::max_abs_diff(&a, &b)
    }

    /// `(N, T, K, widths)` cases, including one step and a single window.
    const CASES: [(usize, usize, usize, &[usize]); 3] =
        [(3, 5, 4, &[2, 3, 4]), (2, 1, 3, &[1, 2]), (1, 7, 2, &[3])];

    #[test]
    fn cpu_window_sums_match_tensor_slices_both_ways() {
        for (n, t, k, widths) in CASES {
            let cols = widths.iter().sum::<usize>() * k;
            let y = random::<Flex>([n, t, cols], 7);
            let fused = float::<Flex, 3>(Flex::conv_window_sums(primitive(y.clone()), widths));
            let sliced = reference_sums(y, widths);
            assert!(worst_difference(fused, sliced.clone()) < 1e-6);
            let grad = random::<Flex>(sliced.dims(), 8);
            let fused = Flex::conv_window_sums_backward(primitive(grad.clone()), t, widths);
            let sliced = reference_backward(grad, t, widths);
            assert!(worst_difference(float::<Flex, 3>(fused), sliced) < 1e-6);
        }
    }

    #[test]
    fn window_sums_backward_matches_automatic_differentiation() {
        for (n, t, k, widths) in CASES {
            let cols = widths.iter().sum::<usize>() * k;
            let weights = random::<Ad>(
                [n, t + widths.iter().max().unwrap() - 1, widths.len() * k],
                9,
            );
            // Drawn once: drawing again would race with other tests over the global seed.
            let y0 = random::<Ad>([n, t, cols], 10);
            let grad_of = |custom: bool| {
                let y = y0.clone().detach().require_grad();
                let sums = if custom {
                    float::<Ad, 3>(Ad::conv_window_sums(primitive(y.clone()), widths))
                } else {
                    reference_sums(y.clone(), widths)
                };
                let grads = (sums * weights.clone()).sum().backward();
                y.grad(&grads).expect("Y receives a gradient")
            };
            assert!(worst_difference(grad_of(true), grad_of(false)) < 1e-6);
        }
    }

    #[test]
    fn window_positions_past_their_length_stay_zero() {
        let (n, t, k, widths) = (2, 4, 3, [2usize, 4]);
        let y = random::<Flex>([n, t, 6 * k], 11);
        let sums = float::<Flex, 3>(Flex::conv_window_sums(primitive(y), &widths));
        // Window 0 (width 2) has t + 1 = 5 positions of the 7.
        let tail = sums.narrow(1, t + 1, 2).narrow(2, 0, k);
        assert!(tail.abs().max().into_scalar() == 0.0);
    }
}
