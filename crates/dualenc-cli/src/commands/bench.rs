//! `dualenc bench`: the network's speed at the paper's sizes (or chosen ones) on the CPU or
//! CUDA: milliseconds per training step, videos and sentences encoded per second, peak memory.

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use dualenc_infer::DeviceChoice;
use dualenc_model::speed::{median, time_encoding, time_train_steps, BenchShape};
use dualenc_model::ModelConfig;
use dualenc_model::{Precision, TrainBackend};
use dualenc_train::pipeline::{train_on, TrainTask};
use serde::Serialize;
use std::time::Duration;

use super::infer::{DeviceArg, PrecisionArg};

/// The benchmark subcommand.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Time training steps and/or encoding at the paper's sizes (2048-d frames, GRUs 1024/512,
    /// 512 kernels, 2048-d space, vocabulary 7,807; batch 128, 20-40 frames, 6-20 words).
    Bench(BenchArgs),
}

/// What to time.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchWhat {
    /// Training steps (forward, loss, backward, clip, Adam).
    Train,
    /// Eval-mode encoding of a batch of videos and one of sentences.
    Encode,
    /// Both.
    All,
}

/// Options of `dualenc bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// What to time.
    #[arg(value_enum, default_value_t = BenchWhat::All)]
    what: BenchWhat,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    device: DeviceArg,
    /// Timed repetitions (the median is reported).
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Untimed warm-up repetitions before the timed ones.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Pairs per batch.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Frames per video, MIN,MAX.
    #[arg(long, default_value = "20,40", value_parser = parse_range)]
    frames: (usize, usize),
    /// Words per sentence, MIN,MAX.
    #[arg(long, default_value = "6,20", value_parser = parse_range)]
    words: (usize, usize),
    /// Precision of the large matrix products (bf16: mixed precision).
    #[arg(long, value_enum, default_value_t = PrecisionArg::F32)]
    precision: PrecisionArg,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// The figures `dualenc bench` reports (`--json` prints this object).
#[derive(Serialize, Debug, Default)]
struct BenchReport {
    device: String,
    precision: String,
    batch: usize,
    frames: (usize, usize),
    words: (usize, usize),
    train_step_ms: Option<f64>,
    videos_per_s: Option<f64>,
    sentences_per_s: Option<f64>,
    peak_host_memory_mb: Option<f64>,
}

fn parse_range(text: &str) -> Result<(usize, usize), String> {
    let parse = |s: &str| s.trim().parse::<usize>().map_err(|e| format!("'{s}': {e}"));
    match text.split_once(',') {
        Some((a, b)) => Ok((parse(a)?, parse(b)?)),
        None => Err(format!("expected MIN,MAX, got '{text}'")),
    }
}

struct BenchTask<'a> {
    args: &'a BenchArgs,
    config: ModelConfig,
}

impl TrainTask for BenchTask<'_> {
    type Output = BenchReport;

    fn run<B: TrainBackend>(self, device: B::Device) -> dualenc_train::Result<BenchReport> {
        let _precision = Precision::from(self.args.precision).scope();
        let shape = BenchShape {
            batch: self.args.batch,
            frames: self.args.frames,
            words: self.args.words,
        };
        let per_second = |t: Duration| shape.batch as f64 / t.as_secs_f64();
        let mut report = BenchReport {
            device: format!("{device:?}"),
            precision: Precision::from(self.args.precision).to_string(),
            batch: shape.batch,
            frames: shape.frames,
            words: shape.words,
            ..BenchReport::default()
        };
        if self.args.what != BenchWhat::Train {
            let (v, c) =
                time_encoding::<B::InnerBackend>(&self.config, &shape, self.args.steps, &device)?;
            report.videos_per_s = Some(per_second(median(&v)));
            report.sentences_per_s = Some(per_second(median(&c)));
        }
        if self.args.what != BenchWhat::Encode {
            let times = time_train_steps::<B>(
                &self.config,
                &shape,
                self.args.warmup,
                self.args.steps,
                &device,
            )?;
            report.train_step_ms = Some(median(&times).as_secs_f64() * 1e3);
        }
        report.peak_host_memory_mb = peak_rss_mb();
        Ok(report)
    }
}

/// The process's peak resident memory (`VmHWM`), where the OS reports it.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

impl BenchCommand {
    /// Runs the benchmark and prints its figures.
    pub fn run(self) -> anyhow::Result<()> {
        let BenchCommand::Bench(args) = self;
        anyhow::ensure!(args.steps >= 1, "--steps must be at least 1");
        let config = ModelConfig::default()
            .resolve()
            .context("the paper's configuration")?;
        let task = BenchTask {
            args: &args,
            config,
        };
        let report = train_on(DeviceChoice::from(args.device), task)?;
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            print_table(&report);
        }
        Ok(())
    }
}

fn print_table(r: &BenchReport) {
    let show = |v: Option<f64>, unit: &str| match v {
        Some(x) => format!("{x:.1} {unit}"),
        None => "-".to_string(),
    };
    println!("device            {}", r.device);
    println!("precision         {}", r.precision);
    println!(
        "batch             {} pairs, {}-{} frames, {}-{} words",
        r.batch, r.frames.0, r.frames.1, r.words.0, r.words.1
    );
    println!("train step        {}", show(r.train_step_ms, "ms (median)"));
    println!("videos encoded    {}", show(r.videos_per_s, "/s"));
    println!("sentences encoded {}", show(r.sentences_per_s, "/s"));
    println!("peak host memory  {}", show(r.peak_host_memory_mb, "MB"));
}
