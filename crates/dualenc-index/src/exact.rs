//! Exact (brute-force) search by dot product over a row-major `rows x dim` matrix.
//!
//! The matrix is usually the memory-mapped `embeddings.f32` of an [`Index`](crate::Index), but
//! any `&[f32]` works. Rows are processed in blocks of [`BLOCK_ROWS`] spread over the rayon
//! pool: one query is a blocked matrix-vector product, a batch of queries a blocked
//! matrix-matrix product (`matrixmultiply`'s SIMD sgemm), and each query keeps a bounded heap
//! of its `k` best rows per worker, merged at the end.
//!
//! Order of results: by descending score; equal scores by ascending row index (the video
//! written first wins), so results are deterministic whatever the thread count.
//!
//! Non-finite numbers are errors, never ranked: a query holding NaN or an infinity is
//! refused ([`IndexError::NonFiniteQuery`]), and a row whose score for a finite query is not
//! finite (the row holds NaN or an infinity, or overflows) fails the search with
//! [`IndexError::NonFiniteScore`] naming the first such row. The check rides on the scan
//! (one comparison per score), so a corrupt row is reported by the first search over it.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use crate::IndexError;

/// Rows per block of work: 1,024 rows of 2,048 floats are 8 MiB, enough to amortise the
/// packing of a query batch in sgemm while leaving many blocks for the workers.
pub const BLOCK_ROWS: usize = 1024;

/// One row of the matrix with its score for a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Row index (0-based).
    pub index: usize,
    /// Dot product of the row and the query.
    pub score: f32,
}

/// The score used for ordering: NaN counts as minus infinity so that it never ranks first.
fn rank_score(score: f32) -> f32 {
    if score.is_nan() {
        f32::NEG_INFINITY
    } else {
        score
    }
}

/// Result order: `Less` when `a` ranks before `b` (higher score, then lower index).
pub fn rank_order(a: &Scored, b: &Scored) -> Ordering {
    rank_score(b.score)
        .total_cmp(&rank_score(a.score))
        .then(a.index.cmp(&b.index))
}

/// Heap entry whose maximum is the worst-ranked element, so the heap top is the one to evict.
#[derive(Debug, Clone, Copy)]
struct Entry(Scored);

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        rank_order(&self.0, &other.0) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        rank_order(&self.0, &other.0)
    }
}

/// The `k` best rows seen so far for one query (a bounded max-heap of the worst kept row),
/// and the first row offered with a non-finite score, which is never kept.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Entry>,
    non_finite: Option<Scored>,
}

impl TopK {
    /// An empty selection of at most `k` rows.
    pub fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k.saturating_add(1).min(1 << 16)),
            non_finite: None,
        }
    }

    /// Offers one row; kept if it ranks before the worst of the `k` kept so far. A
    /// non-finite score is not kept but noted (the lowest such row), for [`TopK::into_result`].
    #[inline]
    pub fn push(&mut self, index: usize, score: f32) {
        if !score.is_finite() {
            self.note_non_finite(Scored { index, score });
            return;
        }
        if self.k == 0 {
            return;
        }
        let candidate = Scored { index, score };
        if self.heap.len() < self.k {
            self.heap.push(Entry(candidate));
            return;
        }
        if let Some(mut worst) = self.heap.peek_mut() {
            if rank_order(&candidate, &worst.0) == Ordering::Less {
                *worst = Entry(candidate);
            }
        }
    }

    fn note_non_finite(&mut self, row: Scored) {
        if self.non_finite.is_none_or(|seen| row.index < seen.index) {
            self.non_finite = Some(row);
        }
    }

    /// Merges another selection for the same query into this one.
    pub fn merge(mut self, other: TopK) -> TopK {
        if let Some(row) = other.non_finite {
            self.note_non_finite(row);
        }
        for Entry(s) in other.heap {
            self.push(s.index, s.score);
        }
        self
    }

    /// The kept rows, best first, or [`IndexError::NonFiniteScore`] for the lowest row
    /// offered with a non-finite score.
    pub fn into_result(self) -> Result<Vec<Scored>, IndexError> {
        match self.non_finite {
            Some(row) => Err(IndexError::NonFiniteScore {
                row: row.index,
                score: row.score,
            }),
            None => Ok(self.into_sorted()),
        }
    }

    /// The kept rows, best first (rows with non-finite scores were not kept).
    pub fn into_sorted(self) -> Vec<Scored> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|e| e.0)
            .collect()
    }
}

/// Dot product of two rows of equal length; uses AVX2 when the CPU has it (checked at run
/// time, so the binary still runs on any x86-64), the portable code otherwise.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { dot_avx2(a, b) };
        }
    }
    dot_portable(a, b)
}

/// [`dot_portable`] compiled for AVX2 (8-lane registers).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_portable(a, b)
}

/// Dot product with 16 independent accumulators, so that the compiler vectorises it.
#[inline(always)]
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Refuses a query holding NaN or an infinity; `what` names it in the error.
pub fn check_query(query: &[f32], what: &str) -> Result<(), IndexError> {
    match query.iter().position(|v| !v.is_finite()) {
        Some(position) => Err(IndexError::NonFiniteQuery {
            what: what.into(),
            position,
            value: query[position],
        }),
        None => Ok(()),
    }
}

/// The first row of `matrix` (`n x dim`) holding NaN or an infinity, with that value.
pub fn first_non_finite(matrix: &[f32], dim: usize) -> Option<(usize, f32)> {
    let position = matrix.par_iter().position_first(|v| !v.is_finite())?;
    Some((position / dim.max(1), matrix[position]))
}

/// Checks that `matrix` is whole rows of `dim` and `query` one finite row; returns the row
/// count.
fn check_shapes(
    matrix: &[f32],
    dim: usize,
    query: &[f32],
    what: &str,
) -> Result<usize, IndexError> {
    let query_len = query.len();
    if dim == 0 || !matrix.len().is_multiple_of(dim) {
        return Err(IndexError::DimMismatch {
            what: "matrix (not a whole number of rows)".into(),
            expected: dim,
            found: matrix.len(),
        });
    }
    if query_len != dim {
        return Err(IndexError::DimMismatch {
            what: what.into(),
            expected: dim,
            found: query_len,
        });
    }
    check_query(query, what)?;
    Ok(matrix.len() / dim)
}

/// Scores of every row for one query (row order), e.g. to rank a whole test collection.
pub fn scores(matrix: &[f32], dim: usize, query: &[f32]) -> Result<Vec<f32>, IndexError> {
    check_shapes(matrix, dim, query, "query")?;
    let scores: Vec<f32> = matrix
        .par_chunks_exact(dim)
        .map(|row| dot(row, query))
        .collect();
    match scores.iter().position(|s| !s.is_finite()) {
        Some(row) => Err(IndexError::NonFiniteScore {
            row,
            score: scores[row],
        }),
        None => Ok(scores),
    }
}

/// The `k` best rows for one query, best first (ties: lower row index first).
pub fn top_k(
    matrix: &[f32],
    dim: usize,
    query: &[f32],
    k: usize,
) -> Result<Vec<Scored>, IndexError> {
    top_k_from(matrix, dim, query, k, 0)?.into_result()
}

/// The selection of the `k` best rows for one query, rows numbered from `first` (the
/// index of the matrix's first row in a larger one).
pub fn top_k_from(
    matrix: &[f32],
    dim: usize,
    query: &[f32],
    k: usize,
    first: usize,
) -> Result<TopK, IndexError> {
    check_shapes(matrix, dim, query, "query")?;
    let top = matrix
        .par_chunks(BLOCK_ROWS * dim)
        .enumerate()
        .fold(
            || TopK::new(k),
            |mut top, (block, rows)| {
                let start = first + block * BLOCK_ROWS;
                for (i, row) in rows.chunks_exact(dim).enumerate() {
                    top.push(start + i, dot(row, query));
                }
                top
            },
        )
        .reduce(|| TopK::new(k), TopK::merge);
    Ok(top)
}

/// The `k` best rows of each query of a batch (`queries` is `q x dim`, row-major).
///
/// Scores come from one sgemm per block of rows, so a batch of 64 queries costs little more
/// memory traffic than one. Results are in query order, each best first.
pub fn top_k_batch(
    matrix: &[f32],
    dim: usize,
    queries: &[f32],
    k: usize,
) -> Result<Vec<Vec<Scored>>, IndexError> {
    if dim == 0 || !queries.len().is_multiple_of(dim) {
        return Err(IndexError::DimMismatch {
            what: "query batch (not a whole number of queries)".into(),
            expected: dim,
            found: queries.len(),
        });
    }
    for (i, query) in queries.chunks_exact(dim).enumerate() {
        check_shapes(matrix, dim, query, &format!("query {i} of the batch"))?;
    }
    let q = queries.len() / dim;
    if q == 0 {
        return Ok(Vec::new());
    }
    let fresh = || (vec![TopK::new(k); q], Vec::<f32>::new());
    let (tops, _) = matrix
        .par_chunks(BLOCK_ROWS * dim)
        .enumerate()
        .fold(fresh, |(mut tops, mut block_scores), (block, rows)| {
            let n = rows.len() / dim;
            block_scores.resize(n * q, 0.0);
            block_product(rows, queries, dim, &mut block_scores);
            let first = block * BLOCK_ROWS;
            for (i, row_scores) in block_scores.chunks_exact(q).enumerate() {
                for (top, &s) in tops.iter_mut().zip(row_scores) {
                    top.push(first + i, s);
                }
            }
            (tops, block_scores)
        })
        .reduce(fresh, |(a, buf), (b, _)| {
            (a.into_iter().zip(b).map(|(x, y)| x.merge(y)).collect(), buf)
        });
    tops.into_iter().map(TopK::into_result).collect()
}

/// `out[i * q + j] = rows[i] . queries[j]` for a block of `n` rows and `q` queries.
fn block_product(rows: &[f32], queries: &[f32], dim: usize, out: &mut [f32]) {
    let n = rows.len() / dim;
    let q = queries.len() / dim;
    assert!(rows.len() == n * dim && queries.len() == q * dim && out.len() == n * q);
    // SAFETY: the assertion above guarantees that every element sgemm addresses exists:
    // A is n x dim with strides (dim, 1), B = queries^T is dim x q with strides (1, dim),
    // C is n x q with strides (q, 1); the three slices do not overlap (`out` is `&mut`).
    unsafe {
        matrixmultiply::sgemm(
            n,
            dim,
            q,
            1.0,
            rows.as_ptr(),
            dim as isize,
            1,
            queries.as_ptr(),
            1,
            dim as isize,
            0.0,
            out.as_mut_ptr(),
            q as isize,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_keeps_best_and_breaks_ties_by_lower_index() {
        let mut top = TopK::new(3);
        for (i, s) in [0.5, 0.9, 0.5, f32::NAN, 0.5, 0.1].into_iter().enumerate() {
            top.push(i, s);
        }
        let got: Vec<usize> = top.into_sorted().iter().map(|s| s.index).collect();
        assert_eq!(got, vec![1, 0, 2]);
    }

    #[test]
    fn zero_k_and_short_query_are_handled() {
        let m = [1.0, 0.0, 0.0, 1.0];
        assert!(top_k(&m, 2, &[1.0, 0.0], 0).unwrap().is_empty());
        let err = top_k(&m, 2, &[1.0], 1).unwrap_err();
        assert!(err.to_string().contains("expected 2 values"), "{err}");
    }

    #[test]
    fn dot_matches_naive_sum_on_odd_lengths() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.25).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.5).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        // Summation order differs: relative tolerance 1e-5.
        assert!((dot(&a, &b) - naive).abs() <= 1e-5 * naive.abs().max(1.0));
    }
}
