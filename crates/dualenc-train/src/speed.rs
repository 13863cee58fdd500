//! Measuring the network's speed (`dualenc bench` and the criterion bench): random inputs of
//! chosen sizes (videos of uniformly drawn frame counts, captions of uniformly drawn word
//! counts, deterministic for a seed) and timed training steps and encodings on any backend.

use std::time::{Duration, Instant};

use dualenc_dataset::{collate_pairs, CaptionInput, VideoFrames};
use dualenc_model::{
    train_step, DualEncoding, ModelBackend, ModelConfig, ModelError, OptimConfig, Optimizer,
    PaddingMode, Precision, TrainBackend, TripletLossConfig,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::pipeline::TrainTask;

type Result<T> = std::result::Result<T, ModelError>;

/// Sizes of a benchmark batch; the defaults are those of the reference timings
/// (batch 128, 20-40 frames, 6-20 words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchShape {
    /// Pairs per batch.
    pub batch: usize,
    /// Inclusive range of frames per video.
    pub frames: (usize, usize),
    /// Inclusive range of words per caption (without `<start>`/`<end>`).
    pub words: (usize, usize),
}

impl Default for BenchShape {
    fn default() -> Self {
        Self {
            batch: 128,
            frames: (20, 40),
            words: (6, 20),
        }
    }
}

/// `shape.batch` random videos and captions for a model of `config` (ids drawn from the rnn
/// vocabulary past the four specials, BoW counts over the bow vocabulary).
pub fn random_pairs(
    config: &ModelConfig,
    shape: &BenchShape,
    seed: u64,
) -> Result<(Vec<VideoFrames>, Vec<CaptionInput>)> {
    check_shape(config, shape)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let videos = (0..shape.batch)
        .map(|_| random_video(&mut rng, config.visual_feat_dim, shape.frames))
        .collect::<Result<Vec<_>>>()?;
    let captions = (0..shape.batch)
        .map(|_| random_caption(&mut rng, config, shape.words))
        .collect();
    Ok((videos, captions))
}

fn check_shape(config: &ModelConfig, shape: &BenchShape) -> Result<()> {
    let ranges_ok =
        shape.frames.0 >= 1 && shape.frames.0 <= shape.frames.1 && shape.words.0 <= shape.words.1;
    if shape.batch == 0 || !ranges_ok || config.vocab_size <= 4 || config.bow_vocab_size == 0 {
        return Err(ModelError::Config(format!(
            "benchmark sizes need a batch >= 1, frame range MIN >= 1 and MIN <= MAX, word range \
             MIN <= MAX and a vocabulary; got {shape:?}"
        )));
    }
    Ok(())
}

fn random_video(rng: &mut ChaCha8Rng, dim: usize, frames: (usize, usize)) -> Result<VideoFrames> {
    let n = rng.random_range(frames.0..=frames.1);
    let data = (0..n * dim).map(|_| rng.random::<f32>()).collect();
    Ok(VideoFrames::new(data, dim)?)
}

fn random_caption(
    rng: &mut ChaCha8Rng,
    config: &ModelConfig,
    words: (usize, usize),
) -> CaptionInput {
    let n = rng.random_range(words.0..=words.1);
    let mut ids = vec![1i64];
    ids.extend((0..n).map(|_| rng.random_range(4..config.vocab_size as i64)));
    ids.push(2);
    let mut bow = vec![0.0f32; config.bow_vocab_size];
    for _ in 0..n {
        bow[rng.random_range(0..config.bow_vocab_size)] += 1.0;
    }
    CaptionInput { ids, bow }
}

/// Wall times of `steps` training steps (forward, loss, backward, global-norm clip, Adam) on
/// one random batch, after `warmup` untimed steps. Each step reads its loss back, so the
/// time includes the device's work.
pub fn time_train_steps<B: TrainBackend>(
    config: &ModelConfig,
    shape: &BenchShape,
    warmup: usize,
    steps: usize,
    device: &B::Device,
) -> Result<Vec<Duration>> {
    let (videos, captions) = random_pairs(config, shape, 1)?;
    let v: Vec<&VideoFrames> = videos.iter().collect();
    let c: Vec<&CaptionInput> = captions.iter().collect();
    let batch = collate_pairs(&v, &c, config.video_max_len)?;
    let loss = TripletLossConfig::default();
    let mut model = DualEncoding::<B>::init(config.clone(), 0, None, device)?;
    let mut adam = Optimizer::new(OptimConfig::default());
    let mut times = Vec::with_capacity(steps);
    for i in 0..warmup + steps {
        let start = Instant::now();
        let (next, _report) = train_step(model, &mut adam, &batch, &loss)?;
        model = next;
        if i >= warmup {
            times.push(start.elapsed());
        }
    }
    Ok(times)
}

/// Wall times of encoding one random batch of videos and one of captions (eval mode, the
/// original's batch-dependent padding), `repeats` times each after one untimed warm-up.
/// Returns `(video times, caption times)`; each encoding reads its embeddings back.
pub fn time_encoding<B: ModelBackend>(
    config: &ModelConfig,
    shape: &BenchShape,
    repeats: usize,
    device: &B::Device,
) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let (videos, captions) = random_pairs(config, shape, 1)?;
    let v: Vec<&VideoFrames> = videos.iter().collect();
    let c: Vec<&CaptionInput> = captions.iter().collect();
    let model = DualEncoding::<B>::init(config.clone(), 0, None, device)?;
    let time = |f: &dyn Fn() -> Result<Vec<f32>>| -> Result<Vec<Duration>> {
        f()?;
        (0..repeats)
            .map(|_| {
                let start = Instant::now();
                f().map(|_| start.elapsed())
            })
            .collect()
    };
    let video_times = time(&|| model.encode_videos(&v, shape.batch, PaddingMode::Batch))?;
    let caption_times = time(&|| model.encode_captions(&c, shape.batch, PaddingMode::Batch))?;
    Ok((video_times, caption_times))
}

/// The median of `times` (the upper middle for an even count); zero when empty.
pub fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_middle() {
        let ms = |v: u64| Duration::from_millis(v);
        assert_eq!(median(&[ms(5), ms(1), ms(3)]), ms(3));
        assert_eq!(median(&[]), Duration::ZERO);
    }

    #[test]
    fn timings_run_on_a_tiny_model() {
        let config = ModelConfig {
            visual_feat_dim: 8,
            visual_rnn_size: 4,
            visual_kernel_num: 2,
            text_rnn_size: 4,
            text_kernel_num: 2,
            word_dim: 4,
            vocab_size: 20,
            bow_vocab_size: 16,
            visual_mapping_layers: vec![0, 8],
            text_mapping_layers: vec![0, 8],
            ..ModelConfig::default()
        }
        .resolve()
        .unwrap();
        let shape = BenchShape {
            batch: 4,
            frames: (2, 5),
            words: (1, 3),
        };
        let device = Default::default();
        let steps =
            time_train_steps::<dualenc_model::CpuAutodiffBackend>(&config, &shape, 1, 2, &device)
                .unwrap();
        assert_eq!(steps.len(), 2);
        let (v, c) =
            time_encoding::<dualenc_model::CpuBackend>(&config, &shape, 3, &device).unwrap();
        assert_eq!((v.len(), c.len()), (3, 3));
    }

    #[test]
    fn sizes_stay_in_range_and_seed_decides() {
        let config = ModelConfig {
            visual_feat_dim: 8,
            vocab_size: 20,
            bow_vocab_size: 16,
            ..ModelConfig::default()
        };
        let shape = BenchShape {
            batch: 6,
            frames: (2, 5),
            words: (1, 3),
        };
        let (videos, captions) = random_pairs(&config, &shape, 3).unwrap();
        assert_eq!(videos.len(), 6);
        assert!(videos.iter().all(|v| (2..=5).contains(&v.frames())));
        assert!(captions.iter().all(|c| (3..=5).contains(&c.ids.len())));
        assert_eq!(random_pairs(&config, &shape, 3).unwrap().1, captions);
        let bad = BenchShape { batch: 0, ..shape };
        assert!(random_pairs(&config, &bad, 3).is_err());
    }
}

/// What [`SpeedTask`] times: training steps, encoding, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeedWhat {
    /// Training steps (forward, loss, backward, clip, optimiser).
    Train,
    /// Eval-mode encoding of a batch of videos and one of sentences.
    Encode,
    /// Both.
    All,
}

/// A speed measurement: the network, the batch shape, the repetitions and the precision.
#[derive(Debug, Clone)]
pub struct SpeedPlan {
    /// What to time.
    pub what: SpeedWhat,
    /// The network (the paper's sizes for `dualenc bench`).
    pub config: ModelConfig,
    /// Batch size, frames and words.
    pub shape: BenchShape,
    /// Untimed warm-up repetitions.
    pub warmup: usize,
    /// Timed repetitions (the median is reported).
    pub steps: usize,
    /// Precision of the large matrix products.
    pub precision: Precision,
}

/// The figures of a speed measurement.
#[derive(Serialize, Debug, Default, Clone, PartialEq)]
pub struct SpeedReport {
    /// The device, as the backend names it.
    pub device: String,
    /// `f32` or `bf16`.
    pub precision: String,
    /// Pairs per batch.
    pub batch: usize,
    /// Frames per video, min and max.
    pub frames: (usize, usize),
    /// Words per sentence, min and max.
    pub words: (usize, usize),
    /// Median milliseconds per training step.
    pub train_step_ms: Option<f64>,
    /// Videos encoded per second (median batch).
    pub videos_per_s: Option<f64>,
    /// Sentences encoded per second (median batch).
    pub sentences_per_s: Option<f64>,
    /// The process's peak resident memory, where the OS reports it.
    pub peak_host_memory_mb: Option<f64>,
}

/// Runs a [`SpeedPlan`] on the chosen device (through [`crate::pipeline::train_on`]).
pub struct SpeedTask<'a>(pub &'a SpeedPlan);

impl TrainTask for SpeedTask<'_> {
    type Output = SpeedReport;

    fn run<B: TrainBackend>(self, device: B::Device) -> crate::Result<SpeedReport> {
        let plan = self.0;
        let _precision = plan.precision.scope();
        let shape = plan.shape;
        let per_second = |t: Duration| shape.batch as f64 / t.as_secs_f64();
        let mut report = SpeedReport {
            device: format!("{device:?}"),
            precision: plan.precision.to_string(),
            batch: shape.batch,
            frames: shape.frames,
            words: shape.words,
            ..SpeedReport::default()
        };
        if plan.what != SpeedWhat::Train {
            let (v, c) =
                time_encoding::<B::InnerBackend>(&plan.config, &shape, plan.steps, &device)?;
            report.videos_per_s = Some(per_second(median(&v)));
            report.sentences_per_s = Some(per_second(median(&c)));
        }
        if plan.what != SpeedWhat::Encode {
            let times =
                time_train_steps::<B>(&plan.config, &shape, plan.warmup, plan.steps, &device)?;
            report.train_step_ms = Some(median(&times).as_secs_f64() * 1e3);
        }
        report.peak_host_memory_mb = peak_rss_mb();
        Ok(report)
    }
}

/// The process's peak resident memory in MB (`VmHWM`), where the OS reports it; also read
/// by the CLI after timing frame extraction.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
