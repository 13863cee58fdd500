//! The window sums on the CubeCL backends (CUDA, wgpu): one kernel launch per window width,
//! forward and backward, where the tensor-slice version takes a zero fill, a few slices and an
//! add per row of every window (about 150 launches per training step at the paper's widths).
//! Layouts and sizes ([`Geometry`]) as in [`super::op`].

use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::CubeRuntime;
use cubecl::prelude::*;

use super::op::Geometry;
use crate::custom_op::cube::{empty, geometry};

/// Output `[n, p, out_col + f]` = sum over `k < width` of `Y[n, p + k - (width - 1), col + f
/// width + k]`, for the steps that exist (zero where none does).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn window_sums<F: Float>(
    y: &Array<F>,
    out: &mut Array<F>,
    units: usize,
    steps: usize,
    cols: usize,
    positions: usize,
    out_cols: usize,
    filters: usize,
    width: usize,
    col: usize,
    out_col: usize,
    #[define(F)] _dtype: StorageType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= units {
        terminate!();
    }
    let f = pos % filters;
    let p = (pos / filters) % positions;
    let n = pos / (filters * positions);
    let mut sum = F::new(0.0);
    for k in 0..width {
        let shifted = p + k;
        if shifted + 1 >= width && shifted + 1 - width < steps {
            let t = shifted + 1 - width;
            sum += y[(n * steps + t) * cols + col + f * width + k];
        }
    }
    out[(n * positions + p) * out_cols + out_col + f] = sum;
}

/// `dY[n, t, col + f width + k]` = `grad[n, t + width - 1 - k, out_col + f]`; one unit per
/// element of the window's `block = width filters` columns.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn window_sums_backward<F: Float>(
    grad: &Array<F>,
    dy: &mut Array<F>,
    units: usize,
    steps: usize,
    cols: usize,
    positions: usize,
    out_cols: usize,
    block: usize,
    width: usize,
    col: usize,
    out_col: usize,
    #[define(F)] _dtype: StorageType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= units {
        terminate!();
    }
    let c = pos % block;
    let row = pos / block;
    let t = row % steps;
    let n = row / steps;
    let p = t + width - 1 - c % width;
    dy[row * cols + col + c] = grad[(n * positions + p) * out_cols + out_col + c / width];
}

/// Window sums of `y` `[N, T, sum w_i K]`: `[N, T + max_w - 1, n_windows K]`.
pub(super) fn sums<R: CubeRuntime>(y: CubeTensor<R>, widths: &[usize]) -> CubeTensor<R> {
    let y = into_contiguous(y);
    let g = Geometry::new(y.meta.shape().dims::<3>(), widths);
    let (positions, out_cols) = (g.positions(), g.out_cols());
    let out = empty(&y, vec![g.n, positions, out_cols]);
    let units = g.n * positions * g.filters;
    let (count, dim) = geometry(&y, units);
    for (i, w) in g.windows.iter().enumerate() {
        window_sums::launch::<R>(
            &y.client,
            count.clone(),
            dim,
            y.clone().into_array_arg(),
            out.clone().into_array_arg(),
            units,
            g.t,
            g.cols(),
            positions,
            out_cols,
            g.filters,
            w.width,
            w.col,
            i * g.filters,
            y.dtype.into(),
        );
    }
    out
}

/// Gradient of `Y` (`[N, steps, sum w_i K]`) from the gradient of the window sums.
pub(super) fn sums_backward<R: CubeRuntime>(
    grad: CubeTensor<R>,
    steps: usize,
    widths: &[usize],
) -> CubeTensor<R> {
    let grad = into_contiguous(grad);
    let [n, positions, out_cols] = grad.meta.shape().dims::<3>();
    let filters = out_cols / widths.len().max(1);
    let g = Geometry::new([n, steps, widths.iter().sum::<usize>() * filters], widths);
    let dy = empty(&grad, vec![n, steps, g.cols()]);
    for (i, w) in g.windows.iter().enumerate() {
        let block = w.width * g.filters;
        let units = n * steps * block;
        let (count, dim) = geometry(&grad, units);
        window_sums_backward::launch::<R>(
            &grad.client,
            count,
            dim,
            grad.clone().into_array_arg(),
            dy.clone().into_array_arg(),
            units,
            steps,
            g.cols(),
            positions,
            out_cols,
            block,
            w.width,
            w.col,
            i * g.filters,
            grad.dtype.into(),
        );
    }
    dy
}
