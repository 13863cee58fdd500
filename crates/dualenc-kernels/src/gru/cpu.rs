//! The GRU recurrence fused for the CPU: per time step one GEMM (`h W_hh^T`, all rows of the
//! batch, on the `gemm` crate's SIMD kernels with both cores) and one pass over the batch that
//! applies every gate in place, rows in parallel. The backward pass mirrors it: per step the
//! gate derivatives row by row, then one GEMM for `dh W_hh`; the weight gradient is a single
//! GEMM over all steps at the end.
//!
//! All buffers are row-major and batch-major as Burn hands them over: inputs `gi` `[N, T, 3H]`,
//! states `[N, T, H]`, the tape `[N, T, 4H]` (`r`, `z`, `n`, `W_hn h + b_hn` per step, the
//! layout of [`super::reference`]).

use rayon::prelude::*;

/// Rows of one parallel task in the gate passes.
const ROWS_PER_TASK: usize = 4;

/// Products with fewer multiply-adds run on one thread.
const PARALLEL_MIN_MACS: usize = 1 << 22;

/// A strided matrix view into a slice, as the `gemm` crate addresses operands.
#[derive(Debug, Clone, Copy)]
struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// `rows x cols` with consecutive rows `row_stride` apart.
    fn rows(data: &'a [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row_stride,
            col_stride: 1,
        }
    }

    /// The transpose, without moving data.
    fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Panics unless every addressed element lies inside `data` (keeps [`gemm_into`] sound).
    fn assert_in_bounds(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride;
            assert!(last < self.data.len(), "matrix view out of bounds");
        }
    }
}

/// `dst = a b` (or `dst += a b` with `accumulate`); `dst` is row-major `[a.rows, b.cols]`.
fn gemm_into(dst: &mut [f32], a: MatRef<'_>, b: MatRef<'_>, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows, "inner dimensions differ");
    assert_eq!(dst.len(), m * n, "destination size");
    a.assert_in_bounds();
    b.assert_in_bounds();
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return;
    }
    let parallelism = if m * n * k >= PARALLEL_MIN_MACS {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the three views were checked to lie inside their slices, `dst` is exclusively
    // borrowed and does not overlap the shared operands.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Sizes of one recurrence: batch `n`, steps `t`, hidden size `h`.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    /// Sequences in the batch.
    pub n: usize,
    /// Time steps.
    pub t: usize,
    /// Hidden size (the gates have `3h` rows).
    pub h: usize,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// One row of one step: gates from `gi` and `gh` (`3H` each), new state into `out`, the tape
/// (`4H`) when kept.
fn forward_row(
    gi: &[f32],
    gh: &[f32],
    prev: Option<&[f32]>,
    out: &mut [f32],
    tape: Option<&mut [f32]>,
) {
    let h = out.len();
    let (gi_r, rest) = gi.split_at(h);
    let (gi_z, gi_n) = rest.split_at(h);
    let (gh_r, rest) = gh.split_at(h);
    let (gh_z, gh_n) = rest.split_at(h);
    let mut tape = tape;
    for j in 0..h {
        let r = sigmoid(gi_r[j] + gh_r[j]);
        let z = sigmoid(gi_z[j] + gh_z[j]);
        let cand = (gi_n[j] + r * gh_n[j]).tanh();
        let before = prev.map_or(0.0, |p| p[j]);
        out[j] = cand + z * (before - cand);
        if let Some(tape) = tape.as_deref_mut() {
            tape[j] = r;
            tape[h + j] = z;
            tape[2 * h + j] = cand;
            tape[3 * h + j] = gh_n[j];
        }
    }
}

/// Runs the recurrence from a zero state; returns the states `[N, T, H]` and, with
/// `keep_tape`, the tape `[N, T, 4H]` the backward pass needs.
pub fn forward(
    gi: &[f32],
    w_hh: &[f32],
    b_hh: &[f32],
    dims: Dims,
    keep_tape: bool,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let Dims { n, t, h } = dims;
    assert_eq!(gi.len(), n * t * 3 * h, "input projections size");
    assert_eq!(w_hh.len(), 3 * h * h, "weight_hh size");
    assert_eq!(b_hh.len(), 3 * h, "bias_hh size");
    let mut states = vec![0.0f32; n * t * h];
    let mut tape = keep_tape.then(|| vec![0.0f32; n * t * 4 * h]);
    let mut gh = vec![0.0f32; n * 3 * h];
    let w_hh_t = MatRef::rows(w_hh, 3 * h, h, h).t();
    for s in 0..t {
        for row in gh.chunks_mut(3 * h) {
            row.copy_from_slice(b_hh);
        }
        if s > 0 {
            let prev = MatRef::rows(&states[(s - 1) * h..], n, h, t * h);
            gemm_into(&mut gh, prev, w_hh_t, true);
        }
        let step_row = |i: usize, seq: &mut [f32], tape: Option<&mut [f32]>| {
            let (done, rest) = seq.split_at_mut(s * h);
            let prev = (s > 0).then(|| &done[(s - 1) * h..]);
            let gi_row = &gi[(i * t + s) * 3 * h..][..3 * h];
            let tape = tape.map(|tp| &mut tp[s * 4 * h..][..4 * h]);
            forward_row(
                gi_row,
                &gh[i * 3 * h..][..3 * h],
                prev,
                &mut rest[..h],
                tape,
            );
        };
        let rows = states
            .par_chunks_mut(t * h)
            .with_min_len(ROWS_PER_TASK)
            .enumerate();
        match tape.as_mut() {
            Some(tape) => rows
                .zip(tape.par_chunks_mut(t * 4 * h))
                .for_each(|((i, seq), tp)| step_row(i, seq, Some(tp))),
            None => rows.for_each(|(i, seq)| step_row(i, seq, None)),
        }
    }
    (states, tape)
}

/// Gradients of the recurrence's inputs, row-major.
#[derive(Debug)]
pub struct Grads {
    /// `[N, T, 3H]`.
    pub gi: Vec<f32>,
    /// `[3H, H]`.
    pub w_hh: Vec<f32>,
    /// `[3H]`.
    pub b_hh: Vec<f32>,
}

/// One row of one backward step: adds the output gradient into `dh` (the gradient reaching
/// this step's state), writes the pre-activation gradients, and leaves in `dh` the part of
/// the previous state's gradient that skips `W_hh`.
fn backward_row(
    grad: &[f32],
    tape: &[f32],
    prev: Option<&[f32]>,
    dh: &mut [f32],
    d_gi: &mut [f32],
    d_gh: &mut [f32],
) {
    let h = dh.len();
    for j in 0..h {
        let (r, z, cand, gh_n) = (tape[j], tape[h + j], tape[2 * h + j], tape[3 * h + j]);
        let before = prev.map_or(0.0, |p| p[j]);
        let d = dh[j] + grad[j];
        let dn = d * (1.0 - z) * (1.0 - cand * cand);
        let dz = d * (before - cand) * z * (1.0 - z);
        let dr = dn * gh_n * r * (1.0 - r);
        d_gi[j] = dr;
        d_gi[h + j] = dz;
        d_gi[2 * h + j] = dn;
        d_gh[j] = dr;
        d_gh[h + j] = dz;
        d_gh[2 * h + j] = dn * r;
        dh[j] = d * z;
    }
}

/// Back-propagates `grad` `[N, T, H]` through the recurrence that produced `states` and
/// `tape` with weights `w_hh`.
pub fn backward(grad: &[f32], states: &[f32], tape: &[f32], w_hh: &[f32], dims: Dims) -> Grads {
    let Dims { n, t, h } = dims;
    assert_eq!(grad.len(), n * t * h, "state gradient size");
    assert_eq!(states.len(), n * t * h, "states size");
    assert_eq!(tape.len(), n * t * 4 * h, "tape size");
    assert_eq!(w_hh.len(), 3 * h * h, "weight_hh size");
    let mut dh = vec![0.0f32; n * h];
    let mut d_gi = vec![0.0f32; n * t * 3 * h];
    let mut d_gh = vec![0.0f32; n * t * 3 * h];
    let w = MatRef::rows(w_hh, 3 * h, h, h);
    for s in (0..t).rev() {
        dh.par_chunks_mut(h)
            .zip(d_gi.par_chunks_mut(t * 3 * h))
            .zip(d_gh.par_chunks_mut(t * 3 * h))
            .with_min_len(ROWS_PER_TASK)
            .enumerate()
            .for_each(|(i, ((dh_i, d_gi_i), d_gh_i))| {
                let at = |step: usize, width: usize| (i * t + step) * width;
                let prev = (s > 0).then(|| &states[at(s - 1, h)..][..h]);
                backward_row(
                    &grad[at(s, h)..][..h],
                    &tape[at(s, 4 * h)..][..4 * h],
                    prev,
                    dh_i,
                    &mut d_gi_i[s * 3 * h..][..3 * h],
                    &mut d_gh_i[s * 3 * h..][..3 * h],
                );
            });
        if s > 0 {
            let d_gh_s = MatRef::rows(&d_gh[s * 3 * h..], n, 3 * h, t * 3 * h);
            gemm_into(&mut dh, d_gh_s, w, true);
        }
    }
    let b_hh = column_sums(&d_gh, 3 * h);
    Grads {
        gi: d_gi,
        w_hh: weight_grad(d_gh, states, dims),
        b_hh,
    }
}

/// `sum_{i, s >= 1} d_gh[i, s]^T h[i, s - 1]`: one GEMM over the rows of all steps, pairing
/// row `k` of `d_gh` with row `k - 1` of the states after zeroing the rows of step 0 (their
/// previous state is the zero initial state).
fn weight_grad(mut d_gh: Vec<f32>, states: &[f32], dims: Dims) -> Vec<f32> {
    let Dims { n, t, h } = dims;
    let mut out = vec![0.0f32; 3 * h * h];
    if n * t < 2 {
        return out;
    }
    for seq in d_gh.chunks_mut(t * 3 * h) {
        seq[..3 * h].fill(0.0);
    }
    let rows = n * t - 1;
    let lhs = MatRef::rows(&d_gh[3 * h..], rows, 3 * h, 3 * h).t();
    let rhs = MatRef::rows(states, rows, h, h);
    gemm_into(&mut out, lhs, rhs, false);
    out
}

/// Sums of the columns of a row-major matrix with `width` columns. Blocks of rows are summed
/// in parallel, then the partial sums in block order, so the result does not depend on how
/// the threads split the work (a resumed run must repeat an uninterrupted one bit for bit).
fn column_sums(m: &[f32], width: usize) -> Vec<f32> {
    let partials: Vec<Vec<f32>> = m
        .par_chunks(width * 64)
        .map(|block| {
            let mut acc = vec![0.0f32; width];
            for row in block.chunks(width) {
                acc.iter_mut().zip(row).for_each(|(a, x)| *a += x);
            }
            acc
        })
        .collect();
    let mut total = vec![0.0f32; width];
    for partial in &partials {
        total.iter_mut().zip(partial).for_each(|(t, p)| *t += p);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain triple loop, the yardstick of `gemm_into`'s strides.
    fn naive(a: MatRef<'_>, b: MatRef<'_>) -> Vec<f32> {
        let mut out = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                out[i * b.cols + j] = (0..a.cols)
                    .map(|k| {
                        a.data[i * a.row_stride + k * a.col_stride]
                            * b.data[k * b.row_stride + j * b.col_stride]
                    })
                    .sum();
            }
        }
        out
    }

    #[test]
    fn gemm_into_follows_strides_and_transposes() {
        let data: Vec<f32> = (0..60).map(|v| (v as f32 * 0.37).sin()).collect();
        let a = MatRef::rows(&data, 3, 4, 7);
        let b = MatRef::rows(&data[5..], 5, 4, 9).t();
        let mut out = vec![1.0; 15];
        gemm_into(&mut out, a, b, false);
        let expected = naive(a, b);
        for (x, y) in out.iter().zip(&expected) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
        gemm_into(&mut out, a, b, true);
        for (x, y) in out.iter().zip(&expected) {
            assert!((x - 2.0 * y).abs() < 1e-5, "{x} vs 2 * {y}");
        }
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn gemm_into_refuses_views_past_the_slice() {
        let data = vec![0.0f32; 10];
        let mut out = vec![0.0; 9];
        gemm_into(
            &mut out,
            MatRef::rows(&data, 3, 3, 4),
            MatRef::rows(&data, 3, 3, 3),
            false,
        );
    }

    #[test]
    fn column_sums_add_every_row() {
        let m: Vec<f32> = (0..3 * 200).map(|v| (v % 3) as f32 + 1.0).collect();
        assert_eq!(column_sums(&m, 3), vec![200.0, 400.0, 600.0]);
    }
}
