//! `synth`: write a synthetic train/val/test data set in the VisualSearch layout.
//!
//! A real test bed rather than noise: latent concepts drive both the frame features and
//! the captions, opposite actions differ only in temporal order, and `--avs N` adds AVS
//! topics with stratified qrels (see the `dualenc-synth` crate).

use crate::common::{progress_bar, RootPath};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use dualenc_synth::{generate_with_progress, FrameRange, SplitSizes, SynthConfig, SynthSummary};

/// The synth subcommands.
#[derive(Subcommand)]
pub enum SynthCommand {
    /// Write synthetic collections {PREFIX}train, {PREFIX}val and {PREFIX}test (same seed,
    /// same bytes on every machine), optionally with AVS topics and qrels.
    Synth(SynthArgs),
}

/// Arguments of `synth`; defaults equal `SynthConfig::default()`.
#[derive(Args)]
pub struct SynthArgs {
    #[command(flatten)]
    root: RootPath,
    /// Collection name prefix.
    #[arg(long, default_value = "synth")]
    prefix: String,
    /// Feature name (folder under FeatureData).
    #[arg(long, default_value = "synfeat")]
    feature: String,
    /// Videos in train, val and test: TRAIN,VAL,TEST.
    #[arg(long, default_value = "600,100,200")]
    videos: SplitSizes,
    /// Captions per video.
    #[arg(long, default_value_t = 5)]
    n_caption: usize,
    /// Frame feature dimension.
    #[arg(long, default_value_t = 64)]
    dim: usize,
    /// Frames per video, uniform in MIN,MAX.
    #[arg(long, default_value = "6,24")]
    frames: FrameRange,
    /// Random seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Number of AVS topics (with qrels) for the test collection; 0 for none.
    #[arg(long, default_value_t = 0)]
    avs: usize,
    /// Replace existing collection folders of the same names (removed first).
    #[arg(long)]
    overwrite: bool,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

impl SynthCommand {
    /// Runs the chosen subcommand.
    pub fn run(self) -> Result<()> {
        match self {
            SynthCommand::Synth(args) => run_synth(args),
        }
    }
}

impl SynthArgs {
    /// The library configuration the flags describe.
    fn config(&self) -> SynthConfig {
        SynthConfig {
            prefix: self.prefix.clone(),
            feature: self.feature.clone(),
            videos: self.videos,
            n_caption: self.n_caption,
            dim: self.dim,
            frames: self.frames,
            seed: self.seed,
            avs: self.avs,
            overwrite: self.overwrite,
        }
    }
}

fn run_synth(args: SynthArgs) -> Result<()> {
    let cfg = args.config();
    let root = &args.root.rootpath;
    tracing::info!(root = %root.display(), seed = cfg.seed, "generating synthetic collections");
    let bar = progress_bar(cfg.videos.total(), "videos written");
    let summary = generate_with_progress(root, &cfg, &mut |done, _| bar.set_position(done as u64))
        .with_context(|| format!("generating synthetic collections under {}", root.display()))?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(())
}

/// Prints the collections as a table, then the extra files.
fn print_summary(s: &SynthSummary) {
    println!(
        "root {}  feature {} (dim {})  seed {}",
        s.root.display(),
        s.feature,
        s.dim,
        s.seed
    );
    println!(
        "{:<20} {:>8} {:>10} {:>10}",
        "collection", "videos", "frames", "captions"
    );
    for c in &s.collections {
        println!(
            "{:<20} {:>8} {:>10} {:>10}",
            c.name, c.videos, c.frames, c.captions
        );
    }
    println!("labels  {}", s.labels_file.display());
    println!("shots   {}", s.shots_file.display());
    if let (Some(topics), Some(qrels)) = (&s.topics_file, &s.qrels_file) {
        println!("topics  {} ({} topics)", topics.display(), s.topics);
        println!("qrels   {} ({} lines)", qrels.display(), s.qrels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// A parser around the synth subcommands alone.
    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: SynthCommand,
    }

    fn config(args: &[&str]) -> SynthConfig {
        let cli = Cli::try_parse_from(["dualenc", "synth"].iter().chain(args)).unwrap();
        let SynthCommand::Synth(args) = cli.command;
        args.config()
    }

    #[test]
    fn flag_defaults_equal_the_library_defaults() {
        assert_eq!(config(&[]), SynthConfig::default());
    }

    #[test]
    fn flags_reach_the_config() {
        let cfg = config(&[
            "--videos", "3,2,1", "--frames", "4,9", "--avs", "2", "--seed", "9",
        ]);
        assert_eq!(cfg.videos.as_array(), [3, 2, 1]);
        assert_eq!(
            (cfg.frames.min, cfg.frames.max, cfg.avs, cfg.seed),
            (4, 9, 2, 9)
        );
    }
}
