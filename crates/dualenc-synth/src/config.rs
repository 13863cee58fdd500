//! What to generate: split sizes, captions per video, feature size, frame counts, seed, AVS.
//!
//! [`SynthConfig::default`] equals the defaults of the `dualenc synth` flags. The textual
//! forms of `--videos` and `--frames` parse through [`FromStr`] so that the CLI and the
//! library share one parser and one error message.

use crate::error::{Result, SynthError};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// Largest accepted number of frames per video (keeps every count inside `u32`).
pub const MAX_FRAMES: usize = 1 << 20;
/// Largest accepted feature dimension.
pub const MAX_DIM: usize = 1 << 16;
/// Largest accepted number of videos over the three splits.
pub const MAX_VIDEOS: usize = 1 << 24;
/// Largest accepted number of captions per video.
pub const MAX_CAPTIONS: usize = 1 << 10;

/// Number of videos in the train, validation and test collections (`--videos 600,100,200`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SplitSizes {
    /// Videos of `{prefix}train`.
    pub train: usize,
    /// Videos of `{prefix}val`.
    pub val: usize,
    /// Videos of `{prefix}test`.
    pub test: usize,
}

impl SplitSizes {
    /// The three sizes in collection order (train, val, test).
    pub fn as_array(&self) -> [usize; 3] {
        [self.train, self.val, self.test]
    }

    /// Videos over all three splits.
    pub fn total(&self) -> usize {
        self.train
            .saturating_add(self.val)
            .saturating_add(self.test)
    }
}

impl FromStr for SplitSizes {
    type Err = SynthError;

    /// Parses `TRAIN,VAL,TEST`, e.g. `600,100,200` (spaces around numbers allowed).
    fn from_str(s: &str) -> Result<Self> {
        let err = || SynthError::Parse {
            option: "--videos",
            value: s.to_owned(),
            expected: "three non-negative integers TRAIN,VAL,TEST (e.g. 600,100,200)",
        };
        match parse_list(s).ok_or_else(err)?.as_slice() {
            [train, val, test] => Ok(SplitSizes {
                train: *train,
                val: *val,
                test: *test,
            }),
            _ => Err(err()),
        }
    }
}

impl fmt::Display for SplitSizes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{}", self.train, self.val, self.test)
    }
}

/// Inclusive range of frames per video (`--frames 6,24`); counts are uniform in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FrameRange {
    /// Fewest frames of a video (at least 1).
    pub min: usize,
    /// Most frames of a video (at least `min`).
    pub max: usize,
}

impl FromStr for FrameRange {
    type Err = SynthError;

    /// Parses `MIN,MAX`, e.g. `6,24`; a single number `N` means `N,N`.
    fn from_str(s: &str) -> Result<Self> {
        let err = || SynthError::Parse {
            option: "--frames",
            value: s.to_owned(),
            expected: "MIN,MAX frames per video (e.g. 6,24) or a single count",
        };
        match parse_list(s).ok_or_else(err)?.as_slice() {
            [n] => Ok(FrameRange { min: *n, max: *n }),
            [min, max] => Ok(FrameRange {
                min: *min,
                max: *max,
            }),
            _ => Err(err()),
        }
    }
}

impl fmt::Display for FrameRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.min, self.max)
    }
}

/// Comma-separated non-negative integers; `None` on any malformed item.
fn parse_list(s: &str) -> Option<Vec<usize>> {
    s.split(',').map(|item| item.trim().parse().ok()).collect()
}

/// Everything that determines a synthetic data set. Same config => same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SynthConfig {
    /// Collection name prefix: collections are `{prefix}train`, `{prefix}val`, `{prefix}test`.
    pub prefix: String,
    /// Feature folder name under `FeatureData/`.
    pub feature: String,
    /// Videos per split.
    pub videos: SplitSizes,
    /// Captions per video (every video has exactly this many).
    pub n_caption: usize,
    /// Dimension of the frame features.
    pub dim: usize,
    /// Frames per video, uniform in this inclusive range.
    pub frames: FrameRange,
    /// Seed of every random choice (ChaCha8 streams).
    pub seed: u64,
    /// Number of AVS topics (with qrels) for the test collection; 0 for none.
    pub avs: usize,
    /// Replace existing collection folders instead of refusing to write.
    pub overwrite: bool,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            prefix: "synth".to_owned(),
            feature: "synfeat".to_owned(),
            videos: SplitSizes {
                train: 600,
                val: 100,
                test: 200,
            },
            n_caption: 5,
            dim: 64,
            frames: FrameRange { min: 6, max: 24 },
            seed: 7,
            avs: 0,
            overwrite: false,
        }
    }
}

impl SynthConfig {
    /// The three collection names in split order: train, val, test.
    pub fn collection_names(&self) -> [String; 3] {
        ["train", "val", "test"].map(|split| format!("{}{split}", self.prefix))
    }

    /// Checks every value; the error names the option and the accepted range.
    pub fn validate(&self) -> Result<()> {
        check_name("--prefix", &self.prefix)?;
        check_name("--feature", &self.feature)?;
        check_range("--dim", self.dim, 1, MAX_DIM)?;
        check_range("--n-caption", self.n_caption, 1, MAX_CAPTIONS)?;
        check_range("--frames (minimum)", self.frames.min, 1, MAX_FRAMES)?;
        check_range(
            "--frames (maximum)",
            self.frames.max,
            self.frames.min,
            MAX_FRAMES,
        )?;
        check_range("--videos (train)", self.videos.train, 1, MAX_VIDEOS)?;
        check_range("--videos (val)", self.videos.val, 1, MAX_VIDEOS)?;
        check_range("--videos (test)", self.videos.test, 1, MAX_VIDEOS)?;
        check_range("--videos (total)", self.videos.total(), 3, MAX_VIDEOS)
    }
}

/// A name used in file names: non-empty ASCII letters, digits, `_`, `-`, `.`, not only dots.
fn check_name(option: &'static str, name: &str) -> Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if name.is_empty() || !name.chars().all(allowed) || name.chars().all(|c| c == '.') {
        return Err(SynthError::InvalidConfig {
            option,
            message: format!(
                "{name:?} is not a usable name: use ASCII letters, digits, '_', '-' or '.'"
            ),
        });
    }
    Ok(())
}

/// `value` must lie in `min..=max`.
fn check_range(option: &'static str, value: usize, min: usize, max: usize) -> Result<()> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(SynthError::InvalidConfig {
            option,
            message: format!("{value} is outside {min}..={max}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_split_sizes_and_frame_ranges() {
        let sizes: SplitSizes = " 600, 100,200".parse().unwrap();
        assert_eq!(sizes.as_array(), [600, 100, 200]);
        assert_eq!(sizes.total(), 900);
        assert_eq!(
            "6,24".parse::<FrameRange>().unwrap(),
            FrameRange { min: 6, max: 24 }
        );
        assert_eq!(
            "8".parse::<FrameRange>().unwrap(),
            FrameRange { min: 8, max: 8 }
        );
    }

    #[test]
    fn malformed_lists_name_the_option_and_the_form() {
        for bad in ["600,100", "600,100,200,5", "a,b,c", "600,-1,200", ""] {
            let msg = bad.parse::<SplitSizes>().unwrap_err().to_string();
            assert!(
                msg.contains("--videos") && msg.contains("TRAIN,VAL,TEST"),
                "{msg}"
            );
        }
        let msg = "6,x".parse::<FrameRange>().unwrap_err().to_string();
        assert!(msg.contains("--frames"), "{msg}");
    }

    #[test]
    fn validation_rejects_out_of_range_values() {
        assert!(SynthConfig::default().validate().is_ok());
        let bad = [
            SynthConfig {
                frames: FrameRange { min: 9, max: 3 },
                ..SynthConfig::default()
            },
            SynthConfig {
                n_caption: 0,
                ..SynthConfig::default()
            },
            SynthConfig {
                prefix: "a b".to_owned(),
                ..SynthConfig::default()
            },
            SynthConfig {
                videos: SplitSizes {
                    train: 5,
                    val: 5,
                    test: 0,
                },
                ..SynthConfig::default()
            },
        ];
        for cfg in bad {
            assert!(
                matches!(cfg.validate(), Err(SynthError::InvalidConfig { .. })),
                "{cfg:?}"
            );
        }
    }

    #[test]
    fn collection_names_follow_the_prefix() {
        let cfg = SynthConfig {
            prefix: "toy".to_owned(),
            ..SynthConfig::default()
        };
        assert_eq!(cfg.collection_names(), ["toytrain", "toyval", "toytest"]);
    }
}
