//! The window sums on the CubeCL backends (CUDA, wgpu): one kernel launch per window width,
//! forward and backward, where the tensor-slice version takes a zero fill, a few slices and an
//! add per row of every window (about 150 launches per training step at the paper's widths).
//! Layouts as in [`super::op`].

use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::CubeRuntime;
use cubecl::prelude::*;

use crate::custom_op::cube::{empty, geometry};

/// Where one window's columns sit: in `Y` (`col`, `width` rows of `filters`) and in the output
/// (`out_col`).
#[derive(Debug, Clone, Copy)]
struct Block {
    width: usize,
    col: usize,
    out_col: usize,
}

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

/// The windows' column blocks for `filters` filters per window.
fn blocks(widths: &[usize], filters: usize) -> Vec<Block> {
    let mut col = 0;
    widths
        .iter()
        .enumerate()
        .map(|(i, &width)| {
            let block = Block {
                width,
                col,
                out_col: i * filters,
            };
            col += width * filters;
            block
        })
        .collect()
}

/// Window sums of `y` `[N, T, sum w_i K]`: `[N, T + max_w - 1, n_windows K]`.
pub(super) fn sums<R: CubeRuntime>(y: CubeTensor<R>, widths: &[usize]) -> CubeTensor<R> {
    let y = into_contiguous(y);
    let [n, steps, cols] = y.meta.shape().dims::<3>();
    let filters = cols / widths.iter().sum::<usize>();
    let positions = steps + widths.iter().max().copied().unwrap_or(1) - 1;
    let out_cols = widths.len() * filters;
    let out = empty(&y, vec![n, positions, out_cols]);
    let units = n * positions * filters;
    let (count, dim) = geometry(&y, units);
    for b in blocks(widths, filters) {
        window_sums::launch::<R>(
            &y.client,
            count.clone(),
            dim,
            y.clone().into_array_arg(),
            out.clone().into_array_arg(),
            units,
            steps,
            cols,
            positions,
            out_cols,
            filters,
            b.width,
            b.col,
            b.out_col,
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
    let cols = widths.iter().sum::<usize>() * filters;
    let dy = empty(&grad, vec![n, steps, cols]);
    for b in blocks(widths, filters) {
        let block = b.width * filters;
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
            cols,
            positions,
            out_cols,
            block,
            b.width,
            b.col,
            b.out_col,
            grad.dtype.into(),
        );
    }
    dy
}
