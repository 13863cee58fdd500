//! Which decoded frames are kept: the original extractor's rule, and a rate option.
//!
//! The original (video-cnn-feat, SPEC section 10) takes `fps = int(CAP_PROP_FPS)` and keeps
//! frame `k` (0-based, decode order) when `k % fps == 0` or `k % fps == fps / 2`: two frames
//! a second, the first of each second and the one half a second later.
//!
//! [`FrameSampler`] generalises this to `rate` frames a second: the sample times are
//! `t_i = i * fps / rate` (in frames, `i = 0, 1, 2, ...`) and frame `k` is kept when some
//! `t_i` falls in `[k, k + 1)`, i.e. the kept frames are `floor(i * fps / rate)`.
//! Equivalently `k` is kept when `ceil(k * rate / fps)` changes between `k` and `k + 1`.
//! For `rate = 2` the sample times are `m * fps` and `m * fps + fps / 2`, which gives
//! exactly the original's frames (the sample at `m * fps + fps / 2` floors to
//! `m * fps + fps / 2` in integer division). A rate at or above `fps` keeps every frame;
//! a rate below 1 keeps one frame every `fps / rate` frames.

/// The original extractor's rate: two frames a second.
pub const DEFAULT_RATE: f64 = 2.0;

/// Decides, frame by frame, which frames of a video are kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameSampler {
    fps: u64,
    rate: f64,
}

impl FrameSampler {
    /// A sampler for a stream of `frame_rate` frames a second keeping `rate` frames a second.
    /// The stream rate is truncated to an integer as the original does; a rate that
    /// truncates to 0 (or is unknown) counts as 1. `rate` must be positive and finite (the
    /// extraction options check it).
    pub fn new(frame_rate: f64, rate: f64) -> FrameSampler {
        FrameSampler {
            fps: integer_fps(frame_rate),
            rate,
        }
    }

    /// The integer stream rate the rule uses.
    pub fn fps(&self) -> u64 {
        self.fps
    }

    /// Whether frame `k` (0-based, decode order) is kept.
    pub fn keeps(&self, k: u64) -> bool {
        let fps = self.fps as f64;
        let at = |frame: u64| (frame as f64 * self.rate / fps).ceil();
        at(k) < at(k + 1)
    }
}

/// `int(fps)` with the guard of the original's callers: 0, negative or unknown becomes 1.
pub fn integer_fps(frame_rate: f64) -> u64 {
    if frame_rate.is_finite() && frame_rate >= 1.0 {
        frame_rate.trunc() as u64
    } else {
        1
    }
}

/// A frame id as the original writes it: `VIDEO_k`, with the source frame number.
pub fn frame_id(video: &str, frame: u64) -> String {
    format!("{video}_{frame}")
}
