//! `dualenc bench`: the network's speed at the paper's sizes (or chosen ones) on the CPU or
//! CUDA: milliseconds per training step, videos and sentences encoded per second, peak memory.

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use dualenc_cnn::{bench_resnet152, CnnDevice, BENCH_BATCH};
use dualenc_infer::DeviceChoice;

use super::extract::cnn_device;
use dualenc_model::ModelConfig;
use dualenc_train::pipeline::train_on;
use dualenc_train::speed::{peak_rss_mb, BenchShape, SpeedPlan, SpeedReport, SpeedTask, SpeedWhat};

use dualenc_model::Precision;

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
    /// Frame features: ResNet-152 at 224x224 (random weights) in images per second, timed
    /// as `scripts/cnn/bench_torchvision.py` times torchvision's.
    Extract,
}

/// Options of `dualenc bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// What to time.
    #[arg(value_enum, default_value_t = BenchWhat::All)]
    what: BenchWhat,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// Timed repetitions (the median is reported).
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Untimed warm-up repetitions before the timed ones.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Pairs per batch (default 128); images per batch for `extract` (default 32, as
    /// `scripts/cnn/bench_torchvision.py`).
    #[arg(long)]
    batch: Option<usize>,
    /// Frames per video, MIN,MAX.
    #[arg(long, default_value = "20,40", value_parser = parse_range)]
    frames: (usize, usize),
    /// Words per sentence, MIN,MAX.
    #[arg(long, default_value = "6,20", value_parser = parse_range)]
    words: (usize, usize),
    /// Precision of the large matrix products (bf16: mixed precision).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    precision: Precision,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_range(text: &str) -> Result<(usize, usize), String> {
    let parse = |s: &str| s.trim().parse::<usize>().map_err(|e| format!("'{s}': {e}"));
    match text.split_once(',') {
        Some((a, b)) => Ok((parse(a)?, parse(b)?)),
        None => Err(format!("expected MIN,MAX, got '{text}'")),
    }
}

impl BenchCommand {
    /// Runs the benchmark and prints its figures.
    pub fn run(self) -> anyhow::Result<()> {
        let BenchCommand::Bench(args) = self;
        anyhow::ensure!(args.steps >= 1, "--steps must be at least 1");
        let what = match args.what {
            BenchWhat::Train => SpeedWhat::Train,
            BenchWhat::Encode => SpeedWhat::Encode,
            BenchWhat::All => SpeedWhat::All,
            BenchWhat::Extract => return bench_extract(&args),
        };
        let plan = SpeedPlan {
            what,
            config: ModelConfig::default()
                .resolve()
                .context("the paper's configuration")?,
            shape: BenchShape {
                batch: args.batch.unwrap_or(128),
                frames: args.frames,
                words: args.words,
            },
            warmup: args.warmup,
            steps: args.steps,
            precision: args.precision,
        };
        let report = train_on(args.device, SpeedTask(&plan))?;
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            print_table(&report);
        }
        Ok(())
    }
}

/// `dualenc bench extract`: ResNet-152's images per second on the chosen device.
fn bench_extract(args: &BenchArgs) -> anyhow::Result<()> {
    let device = cnn_device(args.device)?;
    let batch = args.batch.unwrap_or(BENCH_BATCH);
    let report = bench_resnet152(device, batch, args.steps)?;
    let peak = peak_rss_mb();
    let device = match device {
        CnnDevice::Cpu => "cpu",
        CnnDevice::Cuda => "cuda",
    };
    if args.json {
        let value = serde_json::json!({
            "what": "extract",
            "model": "resnet152",
            "device": device,
            "batch": report.batch,
            "batches": report.batches,
            "input_size": report.input_size,
            "frames_per_second": report.frames_per_second,
            "peak_host_memory_mb": peak,
        });
        println!("{value}");
    } else {
        println!("device            {device}");
        println!(
            "ResNet-152        {:.1} frames/s ({} batches of {} at {}x{})",
            report.frames_per_second,
            report.batches,
            report.batch,
            report.input_size,
            report.input_size
        );
        match peak {
            Some(mb) => println!("peak host memory  {mb:.1} MB"),
            None => println!("peak host memory  -"),
        }
    }
    Ok(())
}

fn print_table(r: &SpeedReport) {
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
