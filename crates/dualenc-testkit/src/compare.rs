//! Numeric comparisons for tests that fail on NaN.
//!
//! `f32::max` drops a NaN operand (`NaN.max(1.0) == 1.0`), so the usual
//! `fold(0.0, f32::max)` of differences reports a finite worst case for a result full of
//! NaN and a `diff <= tol` assertion passes. These helpers propagate NaN instead.

/// The larger of two differences, NaN when either is NaN.
pub fn nan_max(worst: f32, d: f32) -> f32 {
    if worst.is_nan() || d.is_nan() {
        f32::NAN
    } else {
        worst.max(d)
    }
}

/// Largest `|a - b|` over two equally long slices; NaN when either side holds NaN (or both
/// hold infinities of the same sign).
///
/// # Panics
/// When the lengths differ.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, nan_max)
}

/// Largest `|x|`; NaN when `values` holds NaN.
pub fn max_abs(values: &[f32]) -> f32 {
    values.iter().map(|x| x.abs()).fold(0.0, nan_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_is_never_hidden() {
        assert!(max_abs_diff(&[1.0, f32::NAN], &[1.0, 2.0]).is_nan());
        assert!(max_abs_diff(&[f32::NAN, 1.0], &[2.0, 1.0]).is_nan());
        assert!(max_abs_diff(&[f32::INFINITY], &[f32::INFINITY]).is_nan());
        assert!(max_abs(&[0.5, f32::NAN, -3.0]).is_nan());
        assert_eq!(max_abs_diff(&[1.0, -2.0], &[1.5, -1.0]), 1.0);
        assert_eq!(max_abs(&[0.5, -3.0]), 3.0);
    }
}
