//! Portable randomness: every draw is a pure function of (seed, stream, position).
//!
//! Each purpose (concept directions, labels, captions, AVS, each video's frames) reads its
//! own ChaCha8 stream of the one seed, so changing, say, `--n-caption` leaves the features
//! untouched. Only operations whose results are fixed bit for bit on every platform are
//! used: ChaCha8 words, integer ranges over `u32` (never `usize`, whose width varies),
//! `f32` from 24 random bits, and normal-like noise as a sum of three uniforms (no `ln`,
//! `exp` or `cos`, whose last bit may differ between math libraries).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Stream of the concept directions.
pub(crate) const STREAM_CONCEPTS: u64 = 0;
/// Stream of the video labels and frame counts.
pub(crate) const STREAM_LABELS: u64 = 1;
/// Stream of the captions.
pub(crate) const STREAM_CAPTIONS: u64 = 2;
/// Stream of the AVS topics and qrels.
pub(crate) const STREAM_AVS: u64 = 3;
/// Video number k's frames use stream `STREAM_VIDEOS + k`.
pub(crate) const STREAM_VIDEOS: u64 = 1 << 32;

/// A seeded ChaCha8 stream with the few portable draws the generator needs.
pub(crate) struct SynthRng(ChaCha8Rng);

impl SynthRng {
    /// The `stream`-th stream of `seed`.
    pub(crate) fn new(seed: u64, stream: u64) -> SynthRng {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        SynthRng(rng)
    }

    /// Uniform index in `0..n` (`n` > 0; counts beyond `u32::MAX` are capped there).
    pub(crate) fn index(&mut self, n: usize) -> usize {
        let n = u32::try_from(n).unwrap_or(u32::MAX).max(1);
        self.0.random_range(0..n) as usize
    }

    /// Uniform integer in the inclusive range `lo..=hi` (`lo <= hi`).
    pub(crate) fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.index(hi - lo + 1)
    }

    /// Uniform `f32` in `[lo, hi)`.
    pub(crate) fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.0.random::<f32>()
    }

    /// Zero-mean, unit-variance noise: the sum of three uniforms on [-1, 1) (variance 1/3
    /// each), bell-shaped and bounded by 3.
    pub(crate) fn noise(&mut self) -> f32 {
        (0..3).map(|_| self.uniform(-1.0, 1.0)).sum()
    }

    /// A uniformly chosen element of a non-empty slice (the generator's constant tables).
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    /// Fisher-Yates shuffle with portable `u32` draws.
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.index(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let draw = |seed, stream| {
            let mut rng = SynthRng::new(seed, stream);
            (0..8).map(|_| rng.index(1000)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7, 1), draw(7, 1));
        assert_ne!(draw(7, 1), draw(7, 2));
        assert_ne!(draw(7, 1), draw(8, 1));
    }

    #[test]
    fn noise_is_centred_with_unit_variance() {
        let mut rng = SynthRng::new(1, 0);
        let xs: Vec<f64> = (0..20_000).map(|_| f64::from(rng.noise())).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        // 20,000 draws: standard error of the mean ~0.007, of the variance ~0.01.
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
        assert!(xs.iter().all(|x| x.abs() <= 3.0));
    }

    #[test]
    fn shuffle_is_a_permutation_and_between_stays_in_range() {
        let mut rng = SynthRng::new(3, 0);
        let mut v: Vec<usize> = (0..50).collect();
        rng.shuffle(&mut v);
        assert_ne!(v, (0..50).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..50).collect::<Vec<_>>());
        assert!((0..500)
            .map(|_| rng.between(6, 9))
            .all(|n| (6..=9).contains(&n)));
    }
}
