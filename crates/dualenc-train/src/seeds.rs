//! Training quality over seeds: train and test one configuration with several seeds, and
//! summarise the test recall sums per direction (mean, standard deviation, standard error),
//! optionally against another system's results on the same data (the original's, as
//! `train_original.sh` of the reference harness prints them).
//!
//! Seed-to-seed variation on small collections is 10-20 points of R-sum, so claims about
//! training quality compare means over many seeds with their standard errors. Each seed's
//! run folder is `OUT/seed_S`; its result is written to `OUT/seed_S/seed_result.json` once the
//! test is done, so an interrupted study resumes with the seeds still missing.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::pipeline::{run_test, run_training, TrainRequest};
use dualenc_model::TrainBackend;

/// File holding one seed's result inside its run folder.
pub const SEED_RESULT_FILE: &str = "seed_result.json";

/// The test result of one seed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Text-to-video R@1 + R@5 + R@10 on the test collection.
    pub t2v_rsum: f64,
    /// Video-to-text R@1 + R@5 + R@10.
    pub v2t_rsum: f64,
    /// Both sums.
    pub rsum: f64,
    /// 1-based best validation epoch (`None` when the other side did not report it).
    pub best_epoch: Option<usize>,
}

/// Mean, spread and range of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stats {
    /// Sample size.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 for one value.
    pub std: f64,
    /// Standard error of the mean, `std / sqrt(n)`.
    pub se: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Stats {
    /// The statistics of `values`; `None` when it is empty.
    pub fn of(values: &[f64]) -> Option<Self> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = if n > 1 {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        let std = var.sqrt();
        Some(Self {
            n,
            mean,
            std,
            se: std / (n as f64).sqrt(),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

/// Statistics of a set of seeds, per direction and in total.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SeedSummary {
    /// Text-to-video R-sum.
    pub t2v: Stats,
    /// Video-to-text R-sum.
    pub v2t: Stats,
    /// Total R-sum.
    pub rsum: Stats,
}

impl SeedSummary {
    /// The summary of `results`; `None` when there are none.
    pub fn of(results: &[SeedResult]) -> Option<Self> {
        let pick = |f: fn(&SeedResult) -> f64| results.iter().map(f).collect::<Vec<_>>();
        Some(Self {
            t2v: Stats::of(&pick(|r| r.t2v_rsum))?,
            v2t: Stats::of(&pick(|r| r.v2t_rsum))?,
            rsum: Stats::of(&pick(|r| r.rsum))?,
        })
    }
}

/// One quantity of two systems side by side.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Difference {
    /// This system.
    pub ours: Stats,
    /// The other system.
    pub theirs: Stats,
    /// `ours.mean - theirs.mean`.
    pub diff: f64,
    /// Combined standard error `sqrt(se_ours^2 + se_theirs^2)`.
    pub se: f64,
    /// `diff / se` (Welch's t); infinite when both spreads are 0 and the means differ.
    pub t: f64,
    /// `ours.std / theirs.std`.
    pub std_ratio: f64,
}

impl Difference {
    /// Compares two samples' statistics.
    pub fn between(ours: Stats, theirs: Stats) -> Self {
        let diff = ours.mean - theirs.mean;
        let se = (ours.se.powi(2) + theirs.se.powi(2)).sqrt();
        Self {
            ours,
            theirs,
            diff,
            se,
            t: if se > 0.0 {
                diff / se
            } else {
                diff.signum() * f64::INFINITY
            },
            std_ratio: ours.std / theirs.std,
        }
    }

    /// Whether the means agree within two combined standard errors and our spread is at most
    /// `max_std_ratio` times theirs (the training issue's criterion).
    pub fn matches(&self, max_std_ratio: f64) -> bool {
        self.diff.abs() <= 2.0 * self.se && self.std_ratio <= max_std_ratio
    }
}

/// The three comparisons of two seed studies.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SeedComparison {
    /// Text-to-video R-sum.
    pub t2v: Difference,
    /// Video-to-text R-sum.
    pub v2t: Difference,
    /// Total R-sum.
    pub rsum: Difference,
}

impl SeedComparison {
    /// Compares two summaries.
    pub fn between(ours: &SeedSummary, theirs: &SeedSummary) -> Self {
        Self {
            t2v: Difference::between(ours.t2v, theirs.t2v),
            v2t: Difference::between(ours.v2t, theirs.v2t),
            rsum: Difference::between(ours.rsum, theirs.rsum),
        }
    }
}

/// Reads another system's per-seed results: lines `SEED T2V_RSUM V2T_RSUM [TOTAL [...]]`
/// (the output of the reference harness's `train_original.sh`); `#` starts a comment.
pub fn read_seed_results(path: &Path) -> Result<Vec<SeedResult>> {
    let text =
        dualenc_data::untrusted::read_regular_text(path).map_err(|e| TrainError::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        out.push(parse_seed_line(line).map_err(|message| TrainError::Format {
            path: path.to_path_buf(),
            message: format!("line {}: {message}", i + 1),
        })?);
    }
    Ok(out)
}

fn parse_seed_line(line: &str) -> std::result::Result<SeedResult, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let expected = "expected `SEED T2V_RSUM V2T_RSUM [TOTAL ...]`";
    if fields.len() < 3 {
        return Err(format!("{expected}, got {line:?}"));
    }
    let seed = fields[0]
        .parse::<u64>()
        .map_err(|_| format!("{expected}: {:?} is not a seed", fields[0]))?;
    let number = |s: &str| -> std::result::Result<f64, String> {
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("{expected}: {s:?} is not a finite number"))
    };
    let (t2v_rsum, v2t_rsum) = (number(fields[1])?, number(fields[2])?);
    Ok(SeedResult {
        seed,
        t2v_rsum,
        v2t_rsum,
        rsum: t2v_rsum + v2t_rsum,
        best_epoch: None,
    })
}

/// Parses a seed list such as `0-15` or `0,3,7-9`.
pub fn parse_seed_list(text: &str) -> Result<Vec<u64>> {
    let bad = |part: &str| {
        TrainError::Config(format!(
            "seed list {text:?}: {part:?} is not a seed or a range A-B with A <= B"
        ))
    };
    let mut seeds = Vec::new();
    for part in text.split(',').map(str::trim) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.trim().parse::<u64>(), b.trim().parse::<u64>());
                match (a, b) {
                    (Ok(a), Ok(b)) if a <= b && b - a < 100_000 => seeds.extend(a..=b),
                    _ => return Err(bad(part)),
                }
            }
            None => seeds.push(part.parse().map_err(|_| bad(part))?),
        }
    }
    Ok(seeds)
}

/// What a seed study runs: the request of one training run (its seed and run folder are
/// replaced per seed) and the test collection.
#[derive(Debug, Clone)]
pub struct SeedStudy {
    /// The training run; `config.seed` and `options.out_dir` are set per seed.
    pub request: TrainRequest,
    /// Test collection.
    pub test: String,
    /// Captions per test video (`None`: detect).
    pub test_n_caption: Option<usize>,
    /// Folder holding one run folder per seed.
    pub out_dir: PathBuf,
}

impl SeedStudy {
    /// The run folder of `seed`.
    pub fn seed_dir(&self, seed: u64) -> PathBuf {
        self.out_dir.join(format!("seed_{seed}"))
    }

    /// Trains and tests each seed not done yet (in order), calling `done` after each; returns
    /// every seed's result.
    pub fn run<B: TrainBackend>(
        &self,
        seeds: &[u64],
        device: &B::Device,
        done: &mut dyn FnMut(&SeedResult, bool),
    ) -> Result<Vec<SeedResult>> {
        let mut results = Vec::with_capacity(seeds.len());
        for &seed in seeds {
            let (result, fresh) = match self.saved(seed)? {
                Some(result) => (result, false),
                None => (self.run_seed::<B>(seed, device)?, true),
            };
            done(&result, fresh);
            results.push(result);
        }
        Ok(results)
    }

    fn saved(&self, seed: u64) -> Result<Option<SeedResult>> {
        let path = self.seed_dir(seed).join(SEED_RESULT_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = dualenc_data::untrusted::read_regular_file(&path)
            .map_err(|e| TrainError::io(&path, e))?;
        let result: SeedResult =
            serde_json::from_slice(&bytes).map_err(|e| TrainError::Format {
                path: path.clone(),
                message: e.to_string(),
            })?;
        Ok(Some(result))
    }

    fn run_seed<B: TrainBackend>(&self, seed: u64, device: &B::Device) -> Result<SeedResult> {
        let dir = self.seed_dir(seed);
        if dir.exists() {
            // A run interrupted before its test: start it again.
            std::fs::remove_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
        }
        let mut request = self.request.clone();
        request.config.seed = seed;
        request.options.out_dir = dir.clone();
        let summary = run_training::<B>(&request, device, &mut crate::Quiet)?;
        let report = run_test::<B::InnerBackend>(
            &summary.model_best,
            &request.data.rootpath,
            &self.test,
            self.test_n_caption,
            device,
        )?;
        let (t2v, v2t) = (
            report.metrics.t2v.recall_sum(),
            report.metrics.v2t.recall_sum(),
        );
        let result = SeedResult {
            seed,
            t2v_rsum: t2v,
            v2t_rsum: v2t,
            rsum: t2v + v2t,
            best_epoch: summary.best_epoch,
        };
        let path = dir.join(SEED_RESULT_FILE);
        let json = serde_json::to_vec_pretty(&result).map_err(|e| TrainError::Format {
            path: path.clone(),
            message: e.to_string(),
        })?;
        dualenc_data::atomic::write_atomic(&path, |w| std::io::Write::write_all(w, &json))
            .map_err(|e| TrainError::io(&path, e))?;
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_are_the_sample_mean_std_and_standard_error() {
        let s = Stats::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!((s.n, s.mean, s.min, s.max), (4, 2.5, 1.0, 4.0));
        assert!((s.std - (5.0f64 / 3.0).sqrt()).abs() < 1e-12, "{s:?}");
        assert!((s.se - s.std / 2.0).abs() < 1e-12, "{s:?}");
        assert!(Stats::of(&[]).is_none());
        assert_eq!(Stats::of(&[7.0]).unwrap().std, 0.0);
    }

    #[test]
    fn differences_use_the_combined_standard_error() {
        let a = Stats::of(&[10.0, 12.0, 14.0, 16.0]).unwrap();
        let b = Stats::of(&[8.0, 9.0, 10.0, 11.0]).unwrap();
        let d = Difference::between(a, b);
        assert_eq!(d.diff, 3.5);
        assert!((d.se - (a.se.powi(2) + b.se.powi(2)).sqrt()).abs() < 1e-12);
        assert!((d.t - 3.5 / d.se).abs() < 1e-12);
        assert!((d.std_ratio - 2.0).abs() < 1e-12, "{d:?}");
        assert!(!d.matches(1.5));
        let same = Difference::between(b, b);
        assert!(same.matches(1.0) && same.t == 0.0);
    }

    #[test]
    fn seed_lists_and_result_lines_parse_or_fail_by_name() {
        assert_eq!(parse_seed_list("0-3,7, 9").unwrap(), vec![0, 1, 2, 3, 7, 9]);
        let err = parse_seed_list("3-1").unwrap_err().to_string();
        assert!(err.contains("\"3-1\""), "{err}");
        assert!(parse_seed_list("x").is_err());
        let r = parse_seed_line("4 258.3 257.5  515.8 1.49").unwrap();
        assert_eq!((r.seed, r.t2v_rsum, r.v2t_rsum), (4, 258.3, 257.5));
        assert!((r.rsum - 515.8).abs() < 1e-9);
        assert!(parse_seed_line("4 258.3").unwrap_err().contains("expected"));
        assert!(parse_seed_line("4 nan 1").unwrap_err().contains("finite"));
    }

    #[test]
    fn result_files_report_the_line_of_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orig.txt");
        std::fs::write(&path, "# header\n0 250 260 510\n1 x 2\n").unwrap();
        let err = read_seed_results(&path).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("orig.txt"), "{err}");
        std::fs::write(&path, "# header\n0 250 260 510\n\n1 240 250\n").unwrap();
        let seeds: Vec<u64> = read_seed_results(&path)
            .unwrap()
            .iter()
            .map(|r| r.seed)
            .collect();
        assert_eq!(seeds, vec![0, 1]);
    }
}
