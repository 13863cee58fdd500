//! `dualenc extract`: a folder of video files in, a VisualSearch collection out (frames
//! decoded by ffmpeg, encoded by ResNet-152 in Burn or any ONNX image model).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use dualenc_cnn::{open_resnet_encoder, CnnDevice, OnnxEncoder, ResNetConfig};
use dualenc_infer::{resolve_device, DeviceChoice, ResolvedDevice};
use dualenc_video::{
    extract_collection, Crops, ExtractEvent, ExtractOptions, ExtractReport, FrameEncoder,
    Normalization, ResizeMode, VideoInput, VideoStatus, DEFAULT_BATCH_IMAGES,
};
use indicatif::ProgressBar;

use crate::common::{progress_bar, RootPath};

/// The extraction subcommand.
#[derive(Subcommand)]
pub enum ExtractCommand {
    /// Decode video files with ffmpeg, encode their frames with a CNN and write a VisualSearch
    /// collection (FeatureData, ImageSets, thumbnails), resumably.
    Extract(ExtractArgs),
}

impl ExtractCommand {
    /// Runs the subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            ExtractCommand::Extract(args) => run_extract(args),
        }
    }
}

/// The built-in CNNs.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cnn {
    /// torchvision's ResNet-152 (its `resnet152-*.pth`, or safetensors with the same names).
    Resnet152,
    /// Any torchvision bottleneck ResNet (50, 101, 152, or narrower and shallower ones), its
    /// depth and width read off the weights file.
    Resnet,
}

/// Options of `dualenc extract`.
#[derive(Args, Debug)]
pub struct ExtractArgs {
    /// A folder of video files, one video file, or a text file listing video paths (one per
    /// line, relative to the list's folder). A video's id is its file name without extension.
    videos: PathBuf,
    #[command(flatten)]
    root: RootPath,
    /// The collection to write (ROOT/COLLECTION).
    #[arg(long)]
    collection: String,
    /// The feature name (ROOT/COLLECTION/FeatureData/FEATURE).
    #[arg(long)]
    feature: String,
    /// The built-in CNN that --weights holds.
    #[arg(long, value_enum, default_value_t = Cnn::Resnet152)]
    cnn: Cnn,
    /// Weights of the built-in CNN: torchvision's `resnet152-*.pth`, or a safetensors file
    /// with the same tensor names.
    #[arg(long, required_unless_present = "onnx", conflicts_with = "onnx")]
    weights: Option<PathBuf>,
    /// Any image model as an ONNX file instead (first input N x 3 x S x S, first output the
    /// feature), run on the CPU.
    #[arg(long)]
    onnx: Option<PathBuf>,
    /// Side S of the square crops the model takes.
    #[arg(long, default_value_t = 224)]
    input_size: usize,
    /// Frames kept per second of video (2: the original extractor's rule, frames k with
    /// k % fps == 0 or k % fps == fps / 2).
    #[arg(long, default_value_t = 2.0)]
    fps: f64,
    /// Crops averaged per frame.
    #[arg(long, value_enum, default_value_t = Crops::Ten)]
    crops: Crops,
    /// How frames are resized before cropping.
    #[arg(long, value_enum, default_value_t = ResizeMode::Square)]
    resize: ResizeMode,
    /// Per-channel mean subtracted from pixels scaled to [0, 1], "R,G,B" (default: ImageNet's,
    /// as torchvision's models expect).
    #[arg(long, value_parser = parse_triple)]
    mean: Option<[f32; 3]>,
    /// Per-channel standard deviation the pixels are divided by, "R,G,B" (default: ImageNet's).
    #[arg(long, value_parser = parse_triple)]
    std: Option<[f32; 3]>,
    /// Images (crops) per model batch.
    #[arg(long, default_value_t = DEFAULT_BATCH_IMAGES)]
    batch: usize,
    /// Compute device of the built-in CNN.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// Replace a finished feature folder (without it a finished folder is an error and a
    /// partial one is resumed).
    #[arg(long)]
    overwrite: bool,
    /// Where to write the JSON report (default: ROOT/COLLECTION/extract.FEATURE.json).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Print the report as JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

/// Parses "a,b,c" into three finite numbers.
fn parse_triple(text: &str) -> Result<[f32; 3], String> {
    let values: Vec<f32> = text
        .split(',')
        .map(|v| v.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("expected three numbers \"R,G,B\": {e}"))?;
    match values.as_slice() {
        [r, g, b] if values.iter().all(|v| v.is_finite()) => Ok([*r, *g, *b]),
        _ => Err(format!(
            "expected three finite numbers \"R,G,B\", got {text:?}"
        )),
    }
}

fn run_extract(args: ExtractArgs) -> anyhow::Result<()> {
    let videos = VideoInput::from_arg(&args.videos)?;
    let opts = options(&args)?;
    let mut encoder = open_encoder(&args)?;
    let root = &args.root.rootpath;
    let bar = progress_bar(videos.len(), "videos");
    let mut frames = 0usize;
    let report = extract_collection(
        &videos,
        root,
        &args.collection,
        &args.feature,
        encoder.as_mut(),
        &opts,
        &mut |event| show_progress(&bar, &mut frames, event),
    );
    bar.finish_and_clear();
    let report = report?;
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| ExtractReport::default_path(root, &args.collection, &args.feature));
    report.write_json(&report_path)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(&report, &report_path);
    }
    if report.failed > 0 {
        bail!(
            "{} of {} videos failed (listed above and in {})",
            report.failed,
            report.videos.len(),
            report_path.display()
        );
    }
    Ok(())
}

/// The extraction options the arguments ask for.
fn options(args: &ExtractArgs) -> anyhow::Result<ExtractOptions> {
    let imagenet = Normalization::imagenet();
    let opts = ExtractOptions {
        fps: args.fps,
        resize: args.resize,
        crops: args.crops,
        normalization: Normalization {
            mean: args.mean.unwrap_or(imagenet.mean),
            std: args.std.unwrap_or(imagenet.std),
            ..imagenet
        },
        batch_size: args.batch,
        overwrite: args.overwrite,
    };
    opts.validate()?;
    Ok(opts)
}

/// The model the arguments name, on the device they ask for.
fn open_encoder(args: &ExtractArgs) -> anyhow::Result<Box<dyn FrameEncoder + Send>> {
    if let Some(onnx) = &args.onnx {
        if args.device == DeviceChoice::Cuda {
            bail!("--onnx runs on the CPU; leave out --device cuda");
        }
        let encoder = OnnxEncoder::open(onnx, args.input_size)
            .with_context(|| format!("loading the ONNX model {}", onnx.display()))?;
        return Ok(Box::new(encoder));
    }
    let weights = args.weights.as_deref().context("--weights or --onnx")?;
    let device = cnn_device(args.device)?;
    let config = match args.cnn {
        Cnn::Resnet152 => Some(ResNetConfig::resnet152()),
        Cnn::Resnet => None,
    };
    open_resnet_encoder(weights, config, device, args.input_size)
        .with_context(|| format!("loading the CNN weights {}", weights.display()))
}

/// The device `choice` resolves to, for the CNN (`auto`: CUDA when built with it and a GPU
/// answers).
pub fn cnn_device(choice: DeviceChoice) -> anyhow::Result<CnnDevice> {
    Ok(match resolve_device(choice).map_err(anyhow::Error::msg)? {
        ResolvedDevice::Cpu => CnnDevice::Cpu,
        ResolvedDevice::Cuda => CnnDevice::Cuda,
    })
}

/// Advances the bar on each finished video; its message shows frames per second.
fn show_progress(bar: &ProgressBar, frames: &mut usize, event: ExtractEvent) {
    match event {
        ExtractEvent::VideoStarted { video, .. } => bar.set_message(video),
        ExtractEvent::FramesEncoded { frames: n, .. } => {
            *frames += n;
            let seconds = bar.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("{:.1} frames/s", *frames as f64 / seconds));
        }
        ExtractEvent::VideoFinished { .. } => bar.inc(1),
        ExtractEvent::Assembling { videos, frames } => {
            tracing::info!("writing the feature folder: {videos} videos, {frames} frames")
        }
    }
}

fn print_summary(report: &ExtractReport, report_path: &Path) {
    for video in report
        .videos
        .iter()
        .filter(|v| v.status == VideoStatus::Failed)
    {
        println!(
            "failed  {} ({}): {}",
            video.video,
            video.path.display(),
            video.message.as_deref().unwrap_or("")
        );
    }
    println!(
        "{} videos: {} extracted, {} already done, {} failed; {} frames of {} dimensions in {}",
        report.videos.len(),
        report.ok,
        report.skipped,
        report.failed,
        report.frames,
        report.dim,
        report.feature_dir.display()
    );
    println!(
        "{} frames encoded in {:.1} s ({:.1} frames/s); report: {}",
        report.encoded_frames,
        report.seconds,
        report.frames_per_second,
        report_path.display()
    );
}
