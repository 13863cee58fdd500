//! Training: `train` (the original's trainer.py with its schedule, resumable), `all` (vocab,
//! frame info, train and test in one go, skipping finished steps, like do_all.sh) and `demo`
//! (a synthetic collection, a small model trained on the CPU, its metrics and example
//! searches).

use dualenc_model::TrainBackend;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use dualenc_data::Collection;
use dualenc_infer::tester::metrics_table;
use dualenc_infer::DeviceChoice;
use dualenc_model::config::parse_size_list;
use dualenc_model::triplet_loss::{CostStyle, Direction, Measure};
use dualenc_model::{Concate, ModelConfig, OptimConfig, OptimizerKind, TripletLossConfig};
use dualenc_train::all::{AllRequest, AllStep, AllTask};
use dualenc_train::data::DataSpec;
use dualenc_train::demo::{Demo, DemoStep, DemoTask};
use dualenc_train::pipeline::{run_training, train_on, TrainRequest, TrainTask};
use dualenc_train::trainer::epoch_line;
use dualenc_train::{
    EpochRecord, RunOptions, ScheduleConfig, StepRecord, TrainConfig, TrainProgress, TrainSummary,
    ValMetric,
};

use crate::commands::seeds::{run_seeds, SeedsArgs};
use crate::common::{progress_bar, RootPath};
use dualenc_model::Precision;

/// The training subcommands.
#[derive(Subcommand)]
pub enum TrainCommand {
    /// Train a model with the original's schedule (validation each epoch, best model kept,
    /// lr decay, halving and early stop); Ctrl-C or a kill keeps the last epoch's checkpoint
    /// and `--resume DIR` continues it.
    Train(Box<TrainArgs>),
    /// Vocabulary, frame info, training and test in one go, skipping steps already done.
    All(Box<AllArgs>),
    /// Generate a synthetic collection, train a small model on the CPU, test it and show
    /// example searches (deterministic for a seed).
    Demo(DemoArgs),
    /// Train and test one configuration with several seeds; print the test R-sums per seed
    /// and their mean, standard deviation and standard error per direction (`--compare`: side
    /// by side with the original's results on the same data).
    Seeds(Box<SeedsArgs>),
}

/// Every option of the original trainer; defaults are the paper's.
#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// Frame feature (folder under FeatureData).
    #[arg(long, default_value = "resnet-152-img1k-flatten0_outputos")]
    pub(crate) feature: String,
    /// Levels entering the common space.
    #[arg(long, value_enum, default_value = "full")]
    pub(crate) concate: Concate,
    /// Dropout rate.
    #[arg(long, default_value_t = 0.2)]
    dropout: f64,
    /// Vocabulary name under TRAIN/TextData/vocabulary/{bow,rnn}/ (.json or .pkl).
    #[arg(long, default_value = "word_vocab_5")]
    vocab: String,
    /// Word embedding size (500 starts from word2vec when available).
    #[arg(long, default_value_t = 500)]
    word_dim: usize,
    /// Text biGRU size per direction.
    #[arg(long, default_value_t = 512)]
    text_rnn_size: usize,
    /// Text CNN filters per window size.
    #[arg(long, default_value_t = 512)]
    text_kernel_num: usize,
    /// Text CNN window sizes.
    #[arg(long, default_value = "2-3-4")]
    text_kernel_sizes: String,
    /// Video biGRU size per direction.
    #[arg(long, default_value_t = 1024)]
    visual_rnn_size: usize,
    /// Video CNN filters per window size.
    #[arg(long, default_value_t = 512)]
    visual_kernel_num: usize,
    /// Video CNN window sizes.
    #[arg(long, default_value = "2-3-4-5")]
    visual_kernel_sizes: String,
    /// Text mapping `in-out` (`in` is computed).
    #[arg(long, default_value = "0-2048")]
    text_mapping_layers: String,
    /// Video mapping `in-out` (`in` is computed).
    #[arg(long, default_value = "0-2048")]
    visual_mapping_layers: String,
    /// Similarity measure of the loss and the validation.
    #[arg(long, value_enum, default_value = "cosine")]
    measure: Measure,
    /// Leave text embeddings unnormalised (the original's default without --text_norm;
    /// not with the cosine measure, which needs unit vectors).
    #[arg(long)]
    no_text_norm: bool,
    /// Leave video embeddings unnormalised (as --no-text-norm).
    #[arg(long)]
    no_visual_norm: bool,
    /// Ranking-loss margin.
    #[arg(long, default_value_t = 0.2)]
    margin: f64,
    /// Sum over all negatives instead of the hardest one (the paper uses the hardest).
    #[arg(long)]
    no_max_violation: bool,
    /// Loss directions.
    #[arg(long, value_enum, default_value = "all")]
    direction: Direction,
    /// Loss reduction.
    #[arg(long, value_enum, default_value = "sum")]
    cost_style: CostStyle,
    /// Optimiser.
    #[arg(long, value_enum, default_value = "adam")]
    optimizer: OptimizerKind,
    /// Initial learning rate.
    #[arg(long, default_value_t = 1e-4)]
    learning_rate: f64,
    /// Learning-rate factor per epoch.
    #[arg(long, default_value_t = 0.99)]
    lr_decay_rate: f64,
    /// Global gradient-norm clip (0: off).
    #[arg(long, default_value_t = 2.0)]
    grad_clip: f64,
    /// Validation criterion.
    #[arg(long, value_enum, default_value = "recall")]
    val_metric: ValMetric,
    /// Most epochs.
    #[arg(long, default_value_t = 50)]
    num_epochs: usize,
    /// Pairs per batch.
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Word vectors (BigFile or word2vec binary) for the embeddings (default: ROOT/word2vec/
    /// flickr/vec500flickr30m when --word-dim is 500).
    #[arg(long)]
    word2vec: Option<PathBuf>,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub(crate) device: DeviceChoice,
    /// Precision of the training steps' large matrix products (validation and tests run in
    /// f32).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    precision: Precision,
}

/// Arguments of `train`.
#[derive(Args, Clone, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    root: RootPath,
    /// Training collection.
    train: String,
    /// Validation collection.
    val: String,
    /// Test collection (named in the command printed at the end).
    test: String,
    /// Captions per validation video (default: detected from the caption file).
    #[arg(long)]
    n_caption: Option<usize>,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    seed: SeedArg,
    /// Run folder (default: ROOT/TRAIN/dualenc/VAL/FEATURE_concate_C_seed_S).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in this folder from its last complete epoch.
    #[arg(long, conflicts_with = "out")]
    resume: Option<PathBuf>,
    /// Remove an existing run folder first.
    #[arg(long)]
    overwrite: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Start from these weights (safetensors with the original's state-dict names, e.g. a
    /// model folder's model.safetensors) instead of a seeded draw.
    #[arg(long, conflicts_with = "resume")]
    init_weights: Option<PathBuf>,
    /// Visit the training captions in these orders (JSON: one list of caption indices, in
    /// caption-file order, per epoch) instead of seeded shuffles.
    #[arg(long)]
    sample_order: Option<PathBuf>,
    /// Write a step-by-step trace (JSON lines: loss, gradient norm, lr and BatchNorm
    /// statistics per step, validation per epoch).
    #[arg(long)]
    trace: Option<PathBuf>,
}

/// Arguments of `all`.
#[derive(Args, Clone, Debug)]
pub struct AllArgs {
    #[command(flatten)]
    root: RootPath,
    /// Training collection.
    train: String,
    /// Validation collection.
    val: String,
    /// Test collection.
    test: String,
    /// `full` or `reduced` (as do_all.sh's last argument).
    #[arg(value_enum, default_value = "full")]
    variant: Concate,
    /// Captions per video of the validation and test collections (default: detected).
    #[arg(long)]
    n_caption: Option<usize>,
    /// Word-count threshold of the vocabulary.
    #[arg(long, default_value_t = 5)]
    threshold: u64,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    seed: SeedArg,
    /// Run folder (default as for `train`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Redo every step.
    #[arg(long)]
    overwrite: bool,
}

/// Arguments of `demo`.
#[derive(Args, Clone, Debug)]
pub struct DemoArgs {
    /// Folder for the synthetic collections and the model.
    #[arg(long, default_value = "dualenc-demo")]
    dir: PathBuf,
    /// Seed of the data, the weights and training.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Epochs.
    #[arg(long, default_value_t = 12)]
    epochs: usize,
    /// A much smaller collection and model (seconds; for tests).
    #[arg(long)]
    quick: bool,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// Precision of the training steps' large matrix products.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    precision: Precision,
}

impl TrainCommand {
    /// Runs the chosen subcommand.
    pub fn run(self) -> Result<()> {
        match self {
            TrainCommand::Train(args) => run_train(*args),
            TrainCommand::All(args) => run_all(*args),
            TrainCommand::Demo(args) => run_demo(args),
            TrainCommand::Seeds(args) => run_seeds(*args),
        }
    }
}

impl ModelArgs {
    /// The trainer's options (data-dependent sizes are filled in from the data).
    fn config(&self, concate: Concate, seed: u64) -> Result<TrainConfig> {
        let model = ModelConfig {
            visual_rnn_size: self.visual_rnn_size,
            visual_kernel_num: self.visual_kernel_num,
            visual_kernel_sizes: parse_size_list(&self.visual_kernel_sizes)?,
            visual_mapping_layers: parse_size_list(&self.visual_mapping_layers)?,
            word_dim: self.word_dim,
            text_rnn_size: self.text_rnn_size,
            text_kernel_num: self.text_kernel_num,
            text_kernel_sizes: parse_size_list(&self.text_kernel_sizes)?,
            text_mapping_layers: parse_size_list(&self.text_mapping_layers)?,
            concate,
            dropout: self.dropout,
            text_norm: !self.no_text_norm,
            visual_norm: !self.no_visual_norm,
            ..ModelConfig::default()
        };
        let measure = self.measure;
        if measure == Measure::Cosine && (self.no_text_norm || self.no_visual_norm) {
            bail!("--measure cosine needs normalised embeddings: drop --no-text-norm/--no-visual-norm or choose --measure order|euclidean");
        }
        let loss = TripletLossConfig {
            margin: self.margin,
            max_violation: !self.no_max_violation,
            direction: self.direction,
            cost_style: self.cost_style,
            measure,
        };
        Ok(TrainConfig {
            model,
            loss,
            optim: OptimConfig {
                optimizer: self.optimizer,
                learning_rate: self.learning_rate,
                grad_clip: self.grad_clip,
                ..OptimConfig::default()
            },
            schedule: ScheduleConfig {
                learning_rate: self.learning_rate,
                lr_decay_rate: self.lr_decay_rate,
                num_epochs: self.num_epochs,
                ..ScheduleConfig::default()
            },
            batch_size: self.batch_size,
            val_metric: self.val_metric,
            seed,
            precision: self.precision,
            ..TrainConfig::default()
        })
    }

    fn default_out(&self, root: &Path, (train, val): (&str, &str), run: RunName) -> PathBuf {
        let concate = format!("{:?}", run.concate).to_lowercase();
        Collection::new(root, train)
            .dir()
            .join("dualenc")
            .join(val)
            .join(format!(
                "{}_concate_{concate}_seed_{}",
                self.feature, run.seed
            ))
    }
}

/// What names a run's default folder besides the collections.
#[derive(Clone, Copy)]
pub(crate) struct RunName {
    pub(crate) concate: Concate,
    pub(crate) seed: u64,
}

/// Seed of the initial weights, the epoch shuffles and dropout.
#[derive(Args, Clone, Debug)]
pub struct SeedArg {
    /// Seed of the weights, the shuffles and dropout.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Trains a [`TrainRequest`] on the chosen device, showing progress.
struct TrainJob(TrainRequest);

impl TrainTask for TrainJob {
    type Output = TrainSummary;

    fn run<B: TrainBackend>(self, device: B::Device) -> dualenc_train::Result<TrainSummary> {
        let mut progress = EpochProgress::new(self.0.config.schedule.num_epochs);
        run_training::<B>(&self.0, &device, &mut progress)
    }
}

/// Training progress on stderr (stdout is kept for results, e.g. `--json`): a bar per epoch
/// and each epoch's summary line.
pub(crate) struct EpochProgress {
    num_epochs: usize,
    bar: Option<indicatif::ProgressBar>,
}

impl EpochProgress {
    /// Progress of a run of at most `num_epochs` epochs.
    pub(crate) fn new(num_epochs: usize) -> Self {
        Self {
            num_epochs,
            bar: None,
        }
    }
}

impl TrainProgress for EpochProgress {
    fn epoch_start(&mut self, epoch: usize, batches: usize) {
        let bar = progress_bar(batches, "batches");
        bar.set_prefix(format!("epoch {}/{}", epoch + 1, self.num_epochs));
        self.bar = Some(bar);
    }

    fn step(&mut self, record: &StepRecord) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("loss {:.3}", record.loss));
            bar.inc(1);
        }
    }

    fn epoch_end(&mut self, record: &EpochRecord) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        eprintln!("{}", epoch_line(record, self.num_epochs));
    }
}

/// Where a run goes and whether it resumes.
pub(crate) struct RunPlace {
    pub(crate) out: PathBuf,
    pub(crate) resume: bool,
}

/// The training request of the options.
pub(crate) fn request(
    root: &Path,
    (train, val): (&str, &str),
    n_caption: Option<usize>,
    model: &ModelArgs,
    run: RunName,
    place: RunPlace,
) -> Result<TrainRequest> {
    Ok(TrainRequest {
        data: DataSpec {
            rootpath: root.to_path_buf(),
            train: train.to_string(),
            val: val.to_string(),
            feature: model.feature.clone(),
            vocab: model.vocab.clone(),
        },
        n_caption,
        config: model.config(run.concate, run.seed)?,
        word2vec: model.word2vec.clone(),
        extra: serde_json::Map::new(),
        options: RunOptions {
            out_dir: place.out,
            resume: place.resume,
            stop_after_batches: None,
        },
        initial_weights: None,
        sample_order: None,
        trace: None,
    })
}

fn remove_run(out: &Path) -> Result<()> {
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("removing {}", out.display()))?;
    }
    Ok(())
}

fn run_train(args: TrainArgs) -> Result<()> {
    let root = &args.root.rootpath;
    let run = RunName {
        concate: args.model.concate,
        seed: args.seed.seed,
    };
    let place = match (&args.resume, &args.out) {
        (Some(dir), _) => RunPlace {
            out: dir.clone(),
            resume: true,
        },
        (None, out) => {
            let out = out
                .clone()
                .unwrap_or_else(|| args.model.default_out(root, (&args.train, &args.val), run));
            if args.overwrite {
                remove_run(&out)?;
            }
            RunPlace { out, resume: false }
        }
    };
    let out = place.out.clone();
    let req = TrainRequest {
        initial_weights: args.init_weights.clone(),
        sample_order: args.sample_order.clone(),
        trace: args.trace.clone(),
        ..request(
            root,
            (&args.train, &args.val),
            args.n_caption,
            &args.model,
            run,
            place,
        )?
    };
    let summary = train_on(args.model.device, TrainJob(req))
        .with_context(|| format!("training into {}", out.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary_json(&summary))?);
    } else {
        print_summary(&summary);
        println!(
            "test it with: dualenc test --rootpath {} {} --model {}",
            root.display(),
            args.test,
            summary.model_best.display()
        );
    }
    Ok(())
}

fn summary_json(summary: &TrainSummary) -> serde_json::Value {
    serde_json::json!({
        "epochs": summary.history.len(),
        "best_epoch": summary.best_epoch,
        "best_score": summary.best_score,
        "stopped_early": summary.stopped_early,
        "model_best": summary.model_best,
        "history": summary.history,
    })
}

fn print_summary(summary: &TrainSummary) {
    let epochs = summary.history.len().max(1) as f64;
    let train_s: f64 = summary.history.iter().map(|r| r.train_s).sum();
    let val_s: f64 = summary.history.iter().map(|r| r.val_s).sum();
    println!(
        "{} epochs{}; best validation score {:.3} at epoch {}",
        summary.history.len(),
        if summary.stopped_early {
            " (stopped early)"
        } else {
            ""
        },
        summary.best_score,
        summary
            .best_epoch
            .map_or("-".to_string(), |e| e.to_string())
    );
    println!(
        "time per epoch: {:.2} s training + {:.2} s validation",
        train_s / epochs,
        val_s / epochs
    );
    println!("best model: {}", summary.model_best.display());
}

fn run_all(args: AllArgs) -> Result<()> {
    let root = &args.root.rootpath;
    let mut model = args.model.clone();
    model.vocab = format!("word_vocab_{}", args.threshold);
    let run = RunName {
        concate: args.variant,
        seed: args.seed.seed,
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| model.default_out(root, (&args.train, &args.val), run));
    let place = RunPlace { out, resume: false };
    let request = AllRequest {
        train: request(
            root,
            (&args.train, &args.val),
            args.n_caption,
            &model,
            run,
            place,
        )?,
        test: args.test.clone(),
        threshold: args.threshold,
        overwrite: args.overwrite,
    };
    let task = AllTask {
        request: &request,
        progress: &mut EpochProgress::new(model.num_epochs),
        steps: &mut print_all_step,
    };
    let report =
        train_on(model.device, task).with_context(|| format!("all steps of {}", args.train))?;
    println!(
        "[test] {} ({} captions, {} videos)",
        args.test, report.captions, report.videos
    );
    print!("{}", metrics_table(&report.metrics));
    Ok(())
}

fn print_all_step(step: AllStep<'_>) {
    match step {
        AllStep::VocabKept { collection, name } => {
            println!("[vocab] {name} of {collection} exists")
        }
        AllStep::VocabBuilt(v) => println!(
            "[vocab] {}: {} bow words, {} rnn words (threshold {})",
            v.collection, v.bow_size, v.rnn_size, v.threshold
        ),
        AllStep::FrameInfoKept(name) => println!("[frame info] {name} exists"),
        AllStep::FrameInfoWritten(name, info) => {
            println!("[frame info] {name}: {} videos", info.videos)
        }
        AllStep::TrainedBefore(model_best) => {
            println!("[train] done already: {}", model_best.display())
        }
        AllStep::Training { resume, out } => println!(
            "[train] {} {}",
            if resume { "resuming" } else { "training" },
            out.display()
        ),
        AllStep::Trained(summary) => print_summary(summary),
    }
}

fn run_demo(args: DemoArgs) -> Result<()> {
    let preset = if args.quick {
        Demo::quick
    } else {
        Demo::standard
    };
    let demo = preset(args.dir.clone(), args.seed, args.epochs, args.precision);
    let task = DemoTask {
        demo: &demo,
        progress: &mut EpochProgress::new(args.epochs),
        steps: &mut print_demo_step,
    };
    train_on(args.device, task)?;
    Ok(())
}

fn print_demo_step(step: DemoStep<'_>) {
    match step {
        DemoStep::Data(data) => println!(
            "[data] synthetic collections in {} ({} collections, seed {})",
            data.root.display(),
            data.collections.len(),
            data.seed
        ),
        DemoStep::Vocab(v) => {
            println!("[vocab] {} bow words, {} rnn words", v.bow_size, v.rnn_size)
        }
        DemoStep::Trained(summary) => print_summary(summary),
        DemoStep::Tested(test, report) => {
            println!(
                "\n[test] {test}: {} captions, {} videos",
                report.captions, report.videos
            );
            print!("{}", metrics_table(&report.metrics));
        }
        DemoStep::Searched(test, searches) => {
            println!(
                "\nexample searches ({test}, top {}):",
                dualenc_train::demo::TOP
            );
            for search in searches {
                println!("  \"{}\"", search.query);
                for (hit, shows) in &search.hits {
                    println!("    {:<14} {:>6.3}  shows: {shows}", hit.id, hit.score);
                }
            }
        }
    }
}
