//! Dataset commands: `check`, `frame-info`, `txt2bin` and `combine-features` (the original's
//! `do_format_check.sh`, `do_get_frameInfo.sh`, `txt2bin.py` and `do_combine_features.sh`).

use crate::common::{byte_bar, progress_bar, spinner, RootPath};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use dualenc_data::check::{check_collections, CheckReport, CollectionReport, Role};
use dualenc_data::convert::{
    combine_bigfiles, text_to_bigfile, write_combined_image_set, ImageSetOutcome,
};
use dualenc_data::{write_frame_info, BigFile, Collection};
use dualenc_search::indexer::{check_model_feature, ModelFeatureCheck};
use std::path::{Path, PathBuf};

/// The dataset subcommands.
#[derive(Subcommand)]
pub enum DataCommand {
    /// Check that the train, val and test collections have every file a run needs, and
    /// that those files agree (exit status 1 when a problem is found).
    Check(CheckArgs),
    /// Write video2frames.txt (Python dict literal) and video2frames.json from a
    /// collection's frame ids (VIDEO_FRAMENO).
    FrameInfo(FrameInfoArgs),
    /// Convert text features ("id v1 v2 ..." per line) into a BigFile.
    Txt2bin(Txt2binArgs),
    /// Concatenate several collections' BigFiles into a new collection's BigFile.
    CombineFeatures(CombineArgs),
}

/// Arguments of `check`.
#[derive(Args)]
pub struct CheckArgs {
    #[command(flatten)]
    root: RootPath,
    /// Training collection.
    train: String,
    /// Validation collection.
    val: String,
    /// Test collection.
    test: String,
    /// Feature name (folder under FeatureData).
    #[arg(long)]
    feature: String,
    /// Model folder to check against the collections: a warning when it was trained on
    /// another feature than --feature, a problem when its frame dimension differs.
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `frame-info`.
#[derive(Args)]
pub struct FrameInfoArgs {
    #[command(flatten)]
    root: RootPath,
    /// Collection whose BigFile ids are grouped.
    collection: String,
    /// Feature name (folder under FeatureData).
    #[arg(long)]
    feature: String,
}

/// Arguments of `txt2bin`.
#[derive(Args)]
pub struct Txt2binArgs {
    /// Text feature files, read in order; the first row of a repeated id wins.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output BigFile folder.
    #[arg(long)]
    out: PathBuf,
    /// Feature dimension (default: inferred from the first row).
    #[arg(long)]
    dim: Option<usize>,
    /// Replace an existing BigFile in --out.
    #[arg(long)]
    overwrite: bool,
}

/// Arguments of `combine-features`.
#[derive(Args)]
pub struct CombineArgs {
    #[command(flatten)]
    root: RootPath,
    /// New collection receiving the combined features.
    target: String,
    /// Feature name (the same in every collection).
    feature: String,
    /// Source collections, in order; the first row of a repeated id wins.
    #[arg(required = true)]
    subs: Vec<String>,
    /// Replace an existing target BigFile and image set.
    #[arg(long)]
    overwrite: bool,
}

impl DataCommand {
    /// Runs the chosen subcommand.
    pub fn run(self) -> Result<()> {
        match self {
            DataCommand::Check(args) => run_check(args),
            DataCommand::FrameInfo(args) => run_frame_info(args),
            DataCommand::Txt2bin(args) => run_txt2bin(args),
            DataCommand::CombineFeatures(args) => run_combine(args),
        }
    }
}

/// `check`: runs the format check (and the model's feature check with `--model`), prints
/// the table (or JSON), fails on any problem.
fn run_check(args: CheckArgs) -> Result<()> {
    let plan = vec![
        (Role::Train, args.train),
        (Role::Val, args.val),
        (Role::Test, args.test),
    ];
    let bar = spinner();
    let report = check_collections(&args.root.rootpath, &plan, &args.feature, |name| {
        bar.set_message(format!("checking {name}"));
        tracing::info!("checking {name}");
    });
    bar.finish_and_clear();
    let model = match &args.model {
        Some(dir) => Some(check_model_feature(dir, &report).context("cannot check the model")?),
        None => None,
    };
    let problems = report.problem_count() + model.as_ref().map_or(0, |m| m.problems.len());
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        if let Some(model) = &model {
            value["model"] = serde_json::to_value(model)?;
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print_check_report(&report);
        if let Some(model) = &model {
            print_model_check(model);
        }
        if problems == 0 {
            println!("format check passed (feature {})", report.feature);
        }
    }
    if problems > 0 {
        bail!("format check failed: {problems} problem(s)");
    }
    Ok(())
}

/// The model's warnings and problems, one line each.
fn print_model_check(check: &ModelFeatureCheck) {
    for w in &check.warnings {
        println!("model: warning: {w}");
    }
    for p in &check.problems {
        println!("model: problem: {p}");
    }
}

/// The per-collection table, then every problem and warning.
fn print_check_report(report: &CheckReport) {
    let header = [
        "role",
        "collection",
        "videos",
        "captions",
        "frames",
        "dim",
        "status",
    ];
    let rows: Vec<Vec<String>> = report.collections.iter().map(check_row).collect();
    print_table(&header, &rows);
    for c in &report.collections {
        for p in &c.problems {
            println!("{}: problem: {p}", c.name);
        }
        for w in &c.warnings {
            println!("{}: warning: {w}", c.name);
        }
    }
    for p in &report.problems {
        println!("problem: {p}");
    }
}

/// One table row of a collection report.
fn check_row(c: &CollectionReport) -> Vec<String> {
    let count = |x: Option<usize>| x.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let roles: Vec<String> = c.roles.iter().map(Role::to_string).collect();
    let status = if c.problems.is_empty() {
        "ok".to_owned()
    } else {
        format!("{} problem(s)", c.problems.len())
    };
    vec![
        roles.join(","),
        c.name.clone(),
        count(c.videos),
        count(c.captions),
        count(c.frames),
        count(c.dim),
        status,
    ]
}

/// `frame-info`: groups the BigFile's frame ids by video and writes both file forms.
fn run_frame_info(args: FrameInfoArgs) -> Result<()> {
    let collection = Collection::new(&args.root.rootpath, args.collection);
    let info = write_frame_info(&collection, &args.feature)
        .context("cannot write the collection's frame info")?;
    println!(
        "{} videos, {} frames -> {} and {}",
        info.videos,
        info.frames,
        info.txt.display(),
        info.json.display()
    );
    Ok(())
}

/// `txt2bin`: converts text features into a BigFile and prints what was kept.
fn run_txt2bin(args: Txt2binArgs) -> Result<()> {
    refuse_existing(&args.out, args.overwrite)?;
    let total: u64 = args
        .inputs
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    let bar = byte_bar(total);
    let stats = text_to_bigfile(&args.inputs, &args.out, args.dim, |n| bar.inc(n))?;
    bar.finish_and_clear();
    if stats.duplicates > 0 {
        tracing::warn!("{} lines skipped: id already seen", stats.duplicates);
    }
    if stats.non_finite > 0 {
        tracing::warn!("{} lines skipped: NaN or infinite value", stats.non_finite);
    }
    print_table(
        &[
            "lines",
            "written",
            "duplicates",
            "non-finite",
            "dim",
            "output",
        ],
        &[vec![
            stats.lines.to_string(),
            stats.written.to_string(),
            stats.duplicates.to_string(),
            stats.non_finite.to_string(),
            stats.dim.to_string(),
            args.out.display().to_string(),
        ]],
    );
    Ok(())
}

/// `combine-features`: concatenates the sources' BigFiles and writes the target image set.
fn run_combine(args: CombineArgs) -> Result<()> {
    let root = &args.root.rootpath;
    let target = Collection::new(root, args.target.as_str());
    let out = target.feature_dir(&args.feature);
    refuse_existing(&out, args.overwrite)?;
    let sources: Vec<BigFile> = args
        .subs
        .iter()
        .map(|sub| {
            let dir = Collection::new(root, sub.as_str()).feature_dir(&args.feature);
            BigFile::open(&dir).with_context(|| format!("cannot read the features of {sub}"))
        })
        .collect::<Result<_>>()?;
    let rows: u64 = sources.iter().map(|s| s.len() as u64).sum();
    let bar = progress_bar(rows as usize, "rows");
    let stats = combine_bigfiles(&sources, &out, |n| bar.inc(n))?;
    bar.finish_and_clear();
    if stats.duplicates > 0 {
        tracing::warn!(
            "{} rows skipped: id already taken from an earlier collection",
            stats.duplicates
        );
    }
    let image_set = match write_combined_image_set(&target, &args.subs, &sources, args.overwrite)? {
        ImageSetOutcome::Kept(path) => format!("kept the existing image set {}", path.display()),
        ImageSetOutcome::Written { path, videos } => {
            format!("{videos} videos -> {}", path.display())
        }
    };
    print_table(
        &["collections", "written", "duplicates", "dim", "output"],
        &[vec![
            args.subs.join("+"),
            stats.written.to_string(),
            stats.duplicates.to_string(),
            stats.dim.to_string(),
            out.display().to_string(),
        ]],
    );
    println!("{image_set}");
    Ok(())
}

/// Fails when `dir` already holds a BigFile and `overwrite` is off.
fn refuse_existing(dir: &Path, overwrite: bool) -> Result<()> {
    let existing = dir.join("feature.bin");
    if existing.exists() && !overwrite {
        bail!(
            "{} exists; pass --overwrite to replace it",
            existing.display()
        );
    }
    Ok(())
}

/// Prints a left-aligned text table with a header rule.
fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    let rules: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    line(rules.iter().map(String::as_str).collect());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
