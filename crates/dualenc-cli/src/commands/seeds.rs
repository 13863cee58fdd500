//! `dualenc seeds`: one training configuration over several seeds, its test R-sums summarised
//! (and compared with the original's results on the same data).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use dualenc_data::Collection;
use dualenc_model::TrainBackend;
use dualenc_train::pipeline::{train_on, TrainTask};
use dualenc_train::seeds::{
    parse_seed_list, read_seed_results, Difference, SeedComparison, SeedResult, SeedStudy,
    SeedSummary, Stats,
};

use crate::commands::train::{request, ModelArgs, RunName, RunPlace};
use crate::common::RootPath;

/// Arguments of `seeds`.
#[derive(Args, Clone, Debug)]
pub struct SeedsArgs {
    #[command(flatten)]
    root: RootPath,
    /// Training collection.
    train: String,
    /// Validation collection.
    val: String,
    /// Test collection.
    test: String,
    /// Captions per video of the validation and test collections (default: detected).
    #[arg(long)]
    n_caption: Option<usize>,
    #[command(flatten)]
    model: ModelArgs,
    /// Seeds to train, e.g. `0-15` or `0,2,5-7`.
    #[arg(long, default_value = "0-15")]
    seeds: String,
    /// Folder of the runs, one `seed_S` folder each; seeds already tested there are not run
    /// again (default: ROOT/TRAIN/dualenc/VAL/FEATURE_concate_C_seeds).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The original's results on the same data (`SEED T2V V2T [TOTAL ...]` lines, as the
    /// reference harness's train_original.sh prints them): adds the differences of the means
    /// with their combined standard errors and the ratio of the standard deviations.
    #[arg(long)]
    compare: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

/// Trains and tests the seeds on the chosen device.
struct SeedsJob<'a> {
    study: &'a SeedStudy,
    seeds: &'a [u64],
}

impl TrainTask for SeedsJob<'_> {
    type Output = Vec<SeedResult>;

    fn run<B: TrainBackend>(self, device: B::Device) -> dualenc_train::Result<Vec<SeedResult>> {
        self.study.run::<B>(self.seeds, &device, &mut |r, fresh| {
            eprintln!(
                "seed {}: test R-sum {:.1} (t2v {:.1}, v2t {:.1}){}",
                r.seed,
                r.rsum,
                r.t2v_rsum,
                r.v2t_rsum,
                if fresh { "" } else { " (done before)" }
            );
        })
    }
}

/// Runs `seeds`.
pub fn run_seeds(args: SeedsArgs) -> Result<()> {
    let root = &args.root.rootpath;
    let seeds = parse_seed_list(&args.seeds)?;
    let out = args.out.clone().unwrap_or_else(|| {
        let concate = format!("{:?}", args.model.concate).to_lowercase();
        Collection::new(root, &args.train)
            .dir()
            .join("dualenc")
            .join(&args.val)
            .join(format!("{}_concate_{concate}_seeds", args.model.feature))
    });
    let run = RunName {
        concate: args.model.concate,
        seed: 0,
    };
    let place = RunPlace {
        out: out.clone(),
        resume: false,
    };
    let template = request(
        root,
        (&args.train, &args.val),
        args.n_caption,
        &args.model,
        run,
        place,
    )?;
    let study = SeedStudy {
        request: template,
        test: args.test.clone(),
        test_n_caption: args.n_caption,
        out_dir: out.clone(),
    };
    let reference = match &args.compare {
        Some(path) => Some(read_seed_results(path)?),
        None => None,
    };
    let job = SeedsJob {
        study: &study,
        seeds: &seeds,
    };
    let results = train_on(args.model.device, job)
        .with_context(|| format!("seed study in {}", out.display()))?;
    report(&results, reference.as_deref(), args.json)
}

fn report(results: &[SeedResult], reference: Option<&[SeedResult]>, json: bool) -> Result<()> {
    let summary = SeedSummary::of(results).context("no seed was run")?;
    let theirs = match reference {
        Some(r) => Some(SeedSummary::of(r).context("the --compare file lists no seed")?),
        None => None,
    };
    let comparison = theirs.map(|t| SeedComparison::between(&summary, &t));
    if json {
        let value = serde_json::json!({
            "seeds": results,
            "summary": summary,
            "reference": theirs,
            "comparison": comparison,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!(
        "{:>6} {:>10} {:>10} {:>10} {:>10}",
        "seed", "t2v R-sum", "v2t R-sum", "R-sum", "best epoch"
    );
    for r in results {
        let best = r.best_epoch.map_or("-".to_string(), |e| e.to_string());
        println!(
            "{:>6} {:>10.1} {:>10.1} {:>10.1} {:>10}",
            r.seed, r.t2v_rsum, r.v2t_rsum, r.rsum, best
        );
    }
    println!();
    println!("{:<6} {}", "", stats_header());
    for (name, s) in [
        ("t2v", summary.t2v),
        ("v2t", summary.v2t),
        ("R-sum", summary.rsum),
    ] {
        println!("{name:<6} {}", stats_row(&s));
    }
    if let Some(c) = comparison {
        println!();
        println!(
            "{:<6} {:>22} {:>22} {:>17} {:>6} {:>9}",
            "", "dualenc mean ± std", "reference mean ± std", "diff ± SE", "t", "std ratio"
        );
        for (name, d) in [("t2v", c.t2v), ("v2t", c.v2t), ("R-sum", c.rsum)] {
            println!("{name:<6} {}", difference_row(&d));
        }
    }
    Ok(())
}

fn stats_header() -> String {
    format!(
        "{:>4} {:>8} {:>7} {:>6} {:>8} {:>8}",
        "n", "mean", "std", "SE", "min", "max"
    )
}

fn stats_row(s: &Stats) -> String {
    format!(
        "{:>4} {:>8.2} {:>7.2} {:>6.2} {:>8.1} {:>8.1}",
        s.n, s.mean, s.std, s.se, s.min, s.max
    )
}

fn difference_row(d: &Difference) -> String {
    let mean_std = |s: &Stats| format!("{:.1} ± {:.1} ({})", s.mean, s.std, s.n);
    format!(
        "{:>22} {:>22} {:>17} {:>6.2} {:>9.2}",
        mean_std(&d.ours),
        mean_std(&d.theirs),
        format!("{:+.1} ± {:.1}", d.diff, d.se),
        d.t,
        d.std_ratio
    )
}
