//! Frame features: a mix of concept directions plus noise, with actions as phase sequences.
//!
//! Every concept gets a fixed random direction (norm about 1) drawn from the seed. A frame
//! of a video is `w_s * subject + w_a * attribute + w_c * scene + w_t * action(t) + noise`,
//! where the per-video weights jitter around fixed levels. The action term walks through
//! [`PHASES`] phase directions of the action's family in temporal order, blending
//! neighbouring phases linearly; an action's opposite plays the same walk backwards (frame
//! t shows what frame T-1-t of the forward action shows). Mean pooling over frames
//! therefore sees the same average for opposite actions, while a recurrent encoder can
//! tell them apart from the order.

use crate::concepts::{self, VideoLabels, ATTRIBUTES, SCENES, SUBJECTS};
use crate::rng::{SynthRng, STREAM_CONCEPTS, STREAM_VIDEOS};

/// Visual phases per action family.
pub const PHASES: usize = 3;
/// Typical weight of the subject direction in a frame.
const SUBJECT_WEIGHT: f32 = 1.0;
/// Typical weight of the attribute direction.
const ATTRIBUTE_WEIGHT: f32 = 0.7;
/// Typical weight of the scene direction.
const SCENE_WEIGHT: f32 = 0.8;
/// Typical weight of the current action phase.
const ACTION_WEIGHT: f32 = 1.0;
/// Per-video weights are the typical weight times a factor uniform in 1 +- this.
const WEIGHT_JITTER: f32 = 0.2;
/// Norm (about) of the per-frame noise vector.
const NOISE_NORM: f32 = 0.6;

/// The concept directions of one seed and dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct ConceptSpace {
    dim: usize,
    subjects: Vec<f32>,
    attributes: Vec<f32>,
    scenes: Vec<f32>,
    /// `families x PHASES` directions, family-major.
    phases: Vec<f32>,
}

impl ConceptSpace {
    /// Draws every concept direction of `dim`-dimensional space from `seed`.
    pub fn new(seed: u64, dim: usize) -> ConceptSpace {
        let mut rng = SynthRng::new(seed, STREAM_CONCEPTS);
        let mut directions = |n: usize| random_directions(&mut rng, n, dim);
        ConceptSpace {
            dim,
            subjects: directions(SUBJECTS.len()),
            attributes: directions(ATTRIBUTES.len()),
            scenes: directions(SCENES.len()),
            phases: directions(concepts::action_families() * PHASES),
        }
    }

    /// Feature dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The noiseless action term of every frame (`n_frames x dim`, row-major): what the
    /// action contributes to frame t before weighting. Opposite actions give the same rows
    /// in reverse order.
    pub fn action_track(&self, action: usize, n_frames: usize) -> Vec<f32> {
        let mut out = vec![0.0; n_frames * self.dim];
        for (t, row) in out.chunks_exact_mut(self.dim.max(1)).enumerate() {
            self.add_action(row, action, t, n_frames, 1.0);
        }
        out
    }

    /// Frames of the video with global number `video` (its noise stream) showing `labels`:
    /// `n_frames x dim` values, row-major.
    pub fn render(
        &self,
        seed: u64,
        video: usize,
        labels: &VideoLabels,
        n_frames: usize,
    ) -> Vec<f32> {
        let mut rng = SynthRng::new(seed, STREAM_VIDEOS.wrapping_add(video as u64));
        let mut jitter = |w: f32| w * rng.uniform(1.0 - WEIGHT_JITTER, 1.0 + WEIGHT_JITTER);
        let (ws, wa, wc, wt) = (
            jitter(SUBJECT_WEIGHT),
            jitter(ATTRIBUTE_WEIGHT),
            jitter(SCENE_WEIGHT),
            jitter(ACTION_WEIGHT),
        );
        let mut base = vec![0.0; self.dim];
        axpy(&mut base, ws, row(&self.subjects, labels.subject, self.dim));
        axpy(
            &mut base,
            wa,
            row(&self.attributes, labels.attribute, self.dim),
        );
        axpy(&mut base, wc, row(&self.scenes, labels.scene, self.dim));
        let noise_scale = NOISE_NORM / (self.dim as f32).sqrt();
        let mut out = Vec::with_capacity(n_frames * self.dim);
        for t in 0..n_frames {
            let start = out.len();
            out.extend_from_slice(&base);
            let frame = &mut out[start..];
            self.add_action(frame, labels.action, t, n_frames, wt);
            for x in frame.iter_mut() {
                *x += noise_scale * rng.noise();
            }
        }
        out
    }

    /// Adds `weight` times the action's phase blend at frame `t` of `n_frames` to `frame`.
    fn add_action(&self, frame: &mut [f32], action: usize, t: usize, n_frames: usize, weight: f32) {
        let t = if concepts::is_reversed(action) {
            n_frames - 1 - t
        } else {
            t
        };
        let (phase, next, frac) = phase_blend(t, n_frames);
        let family = concepts::action_family(action) * PHASES;
        axpy(
            frame,
            weight * (1.0 - frac),
            row(&self.phases, family + phase, self.dim),
        );
        axpy(
            frame,
            weight * frac,
            row(&self.phases, family + next, self.dim),
        );
    }
}

/// Where frame `t` of `n` lies on the forward phase walk: the phase before it, the phase
/// after it and the blend fraction towards the latter. Frame centres spread evenly from
/// the first phase to the last.
fn phase_blend(t: usize, n: usize) -> (usize, usize, f32) {
    let position = (t as f32 + 0.5) / n as f32 * (PHASES - 1) as f32;
    let phase = (position as usize).min(PHASES - 2);
    (phase, phase + 1, position - phase as f32)
}

/// `n` random directions of norm about 1 (coordinates of variance 1/dim), row-major.
fn random_directions(rng: &mut SynthRng, n: usize, dim: usize) -> Vec<f32> {
    let scale = 1.0 / (dim as f32).sqrt();
    (0..n * dim).map(|_| scale * rng.noise()).collect()
}

/// Row `i` of a row-major matrix with `dim` columns; empty (adds nothing) when `i` is out
/// of range, so hand-made labels never panic.
fn row(matrix: &[f32], i: usize, dim: usize) -> &[f32] {
    matrix.get(i * dim..(i + 1) * dim).unwrap_or(&[])
}

/// `y += a * x`.
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_rows(m: &[f32], dim: usize) -> Vec<f32> {
        let n = (m.len() / dim) as f32;
        (0..dim)
            .map(|j| m.iter().skip(j).step_by(dim).sum::<f32>() / n)
            .collect()
    }

    #[test]
    fn opposite_actions_have_equal_means_but_reversed_order() {
        let space = ConceptSpace::new(7, 32);
        for n in [2, 7, 12, 24] {
            for a in (0..2 * concepts::ACTION_PAIRS).step_by(2) {
                let fwd = space.action_track(a, n);
                let back = space.action_track(a + 1, n);
                // Same rows summed in a different order: equal up to f32 rounding.
                let (mf, mb) = (mean_rows(&fwd, 32), mean_rows(&back, 32));
                assert!(mf.iter().zip(&mb).all(|(x, y)| (x - y).abs() < 1e-6));
                assert_ne!(fwd, back, "action {a} with {n} frames");
                for t in 0..n {
                    assert_eq!(row(&fwd, t, 32), row(&back, n - 1 - t, 32));
                }
            }
        }
    }

    #[test]
    fn distinct_families_have_distinct_tracks() {
        let space = ConceptSpace::new(7, 32);
        let mean = |a| mean_rows(&space.action_track(a, 10), 32);
        let (m0, m2, m20) = (mean(0), mean(2), mean(20));
        let dist =
            |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(a, b)| (a - b).powi(2)).sum::<f32>();
        assert!(dist(&m0, &m2) > 0.1 && dist(&m0, &m20) > 0.1);
    }

    #[test]
    fn phase_walk_starts_at_the_first_phase_and_ends_at_the_last() {
        let (p, _, f) = phase_blend(0, 100);
        assert_eq!(p, 0);
        assert!(f < 0.02);
        let (p, next, f) = phase_blend(99, 100);
        assert_eq!((p, next), (PHASES - 2, PHASES - 1));
        assert!(f > 0.98);
        assert_eq!(phase_blend(0, 1), (1, 2, 0.0));
    }

    #[test]
    fn rendering_is_deterministic_and_concept_dominated() {
        let space = ConceptSpace::new(5, 64);
        let labels = crate::concepts::VideoLabels::from_array([3, 1, 20, 4]).unwrap();
        let a = space.render(5, 11, &labels, 9);
        assert_eq!(a, space.render(5, 11, &labels, 9));
        assert_ne!(a, space.render(5, 12, &labels, 9));
        assert_eq!(a.len(), 9 * 64);
        // The mean frame points to its subject far more than to any other subject.
        let mean = mean_rows(&a, 64);
        let dot = |i| {
            row(&space.subjects, i, 64)
                .iter()
                .zip(&mean)
                .map(|(x, y)| x * y)
                .sum::<f32>()
        };
        let own = dot(3);
        assert!((0..SUBJECTS.len())
            .filter(|&i| i != 3)
            .all(|i| dot(i) < own - 0.3));
    }
}
