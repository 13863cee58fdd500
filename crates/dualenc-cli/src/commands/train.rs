//! Training: `train` (the original's trainer.py with its schedule, resumable), `all` (vocab,
//! frame info, train and test in one go, skipping finished steps, like do_all.sh) and `demo`
//! (a synthetic collection, a small model trained on the CPU, its metrics and example
//! searches).

use dualenc_model::TrainBackend;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use dualenc_data::{BigFile, Collection, Video2Frames};
use dualenc_infer::tester::{metrics_table, TestReport};
use dualenc_infer::DeviceChoice;
use dualenc_model::config::parse_size_list;
use dualenc_model::triplet_loss::{CostStyle, Direction, Measure};
use dualenc_model::{Concate, ModelConfig, OptimConfig, OptimizerKind, TripletLossConfig};
use dualenc_synth::{generate, FrameRange, SplitSizes, SynthConfig, SynthLabels};
use dualenc_train::data::{build_vocab, vocab_path, DataSpec};
use dualenc_train::pipeline::{
    run_test, run_training, search, train_on, Hit, TrainRequest, TrainTask,
};
use dualenc_train::{RunOptions, ScheduleConfig, TrainConfig, TrainSummary, ValMetric};

use crate::commands::infer::{DeviceArg, PrecisionArg};
use crate::commands::seeds::{run_seeds, SeedsArgs};
use crate::common::RootPath;

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

/// `full` (levels 1+2+3) or `reduced` (levels 2+3).
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ConcateArg {
    /// Levels 2, 3 and 1.
    Full,
    /// Levels 2 and 3.
    Reduced,
}

/// Directions the loss (and the validation score) uses.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum DirectionArg {
    /// Both.
    All,
    /// Text-to-video (the original's t2i).
    #[value(alias = "t2i")]
    T2v,
    /// Video-to-text (the original's i2t).
    #[value(alias = "i2t")]
    V2t,
}

/// Reduction of the loss over the batch.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum CostArg {
    /// Sum.
    Sum,
    /// Mean.
    Mean,
}

/// Validation criterion.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ValMetricArg {
    /// R@1 + R@5 + R@10.
    Recall,
    /// Mean average precision.
    Map,
}

/// Similarity of the loss and the evaluation (`loss.py`'s three measures).
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum MeasureArg {
    /// Cosine similarity of the normalised embeddings.
    Cosine,
    /// Order embeddings: `-||max(0, caption - video)||`.
    Order,
    /// Negative squared Euclidean distance.
    Euclidean,
}

impl From<MeasureArg> for Measure {
    fn from(arg: MeasureArg) -> Self {
        match arg {
            MeasureArg::Cosine => Measure::Cosine,
            MeasureArg::Order => Measure::Order,
            MeasureArg::Euclidean => Measure::Euclidean,
        }
    }
}

/// The optimiser (the original defaults to Adam and the paper uses it).
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum OptimizerArg {
    /// Adam (betas 0.9 / 0.999, eps 1e-8, PyTorch's formula).
    Adam,
    /// RMSprop (PyTorch's defaults: alpha 0.99, eps 1e-8, no momentum).
    Rmsprop,
}

/// Every option of the original trainer; defaults are the paper's.
#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// Frame feature (folder under FeatureData).
    #[arg(long, default_value = "resnet-152-img1k-flatten0_outputos")]
    pub(crate) feature: String,
    /// Levels entering the common space.
    #[arg(long, value_enum, default_value = "full")]
    pub(crate) concate: ConcateArg,
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
    measure: MeasureArg,
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
    direction: DirectionArg,
    /// Loss reduction.
    #[arg(long, value_enum, default_value = "sum")]
    cost_style: CostArg,
    /// Optimiser.
    #[arg(long, value_enum, default_value = "adam")]
    optimizer: OptimizerArg,
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
    val_metric: ValMetricArg,
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
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub(crate) device: DeviceArg,
    /// Precision of the training steps' large matrix products (validation and tests run in
    /// f32).
    #[arg(long, value_enum, default_value_t = PrecisionArg::F32)]
    precision: PrecisionArg,
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
    /// model folder's weights.safetensors) instead of a seeded draw.
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
    variant: ConcateArg,
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
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    device: DeviceArg,
    /// Precision of the training steps' large matrix products.
    #[arg(long, value_enum, default_value_t = PrecisionArg::F32)]
    precision: PrecisionArg,
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
    fn config(&self, concate: ConcateArg, seed: u64) -> Result<TrainConfig> {
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
            concate: match concate {
                ConcateArg::Full => Concate::Full,
                ConcateArg::Reduced => Concate::Reduced,
            },
            dropout: self.dropout,
            text_norm: !self.no_text_norm,
            visual_norm: !self.no_visual_norm,
            ..ModelConfig::default()
        };
        let measure = Measure::from(self.measure);
        if measure == Measure::Cosine && (self.no_text_norm || self.no_visual_norm) {
            bail!("--measure cosine needs normalised embeddings: drop --no-text-norm/--no-visual-norm or choose --measure order|euclidean");
        }
        let loss = TripletLossConfig {
            margin: self.margin,
            max_violation: !self.no_max_violation,
            direction: match self.direction {
                DirectionArg::All => Direction::All,
                DirectionArg::T2v => Direction::T2v,
                DirectionArg::V2t => Direction::V2t,
            },
            cost_style: match self.cost_style {
                CostArg::Sum => CostStyle::Sum,
                CostArg::Mean => CostStyle::Mean,
            },
            measure,
        };
        Ok(TrainConfig {
            model,
            loss,
            optim: OptimConfig {
                optimizer: match self.optimizer {
                    OptimizerArg::Adam => OptimizerKind::Adam,
                    OptimizerArg::Rmsprop => OptimizerKind::Rmsprop,
                },
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
            val_metric: match self.val_metric {
                ValMetricArg::Recall => ValMetric::Recall,
                ValMetricArg::Map => ValMetric::Map,
            },
            seed,
            precision: self.precision.into(),
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
    pub(crate) concate: ConcateArg,
    pub(crate) seed: u64,
}

/// Seed of the initial weights, the epoch shuffles and dropout.
#[derive(Args, Clone, Debug)]
pub struct SeedArg {
    /// Seed of the weights, the shuffles and dropout.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Trains a [`TrainRequest`] on the chosen device.
struct TrainJob(TrainRequest);

impl TrainTask for TrainJob {
    type Output = TrainSummary;

    fn run<B: TrainBackend>(self, device: B::Device) -> dualenc_train::Result<TrainSummary> {
        run_training::<B>(&self.0, &device)
    }
}

/// Tests a model folder on the chosen device (the inner, non-autodiff backend).
struct TestJob<'a> {
    model_dir: &'a Path,
    rootpath: &'a Path,
    test: &'a str,
    n_caption: Option<usize>,
}

impl TrainTask for TestJob<'_> {
    type Output = TestReport;

    fn run<B: TrainBackend>(self, device: B::Device) -> dualenc_train::Result<TestReport> {
        run_test::<B::InnerBackend>(
            self.model_dir,
            self.rootpath,
            self.test,
            self.n_caption,
            &device,
        )
    }
}

/// Free-text searches of a collection on the chosen device.
struct SearchJob<'a> {
    model_dir: &'a Path,
    rootpath: &'a Path,
    collection: &'a str,
    queries: &'a [String],
}

impl TrainTask for SearchJob<'_> {
    type Output = Vec<Vec<Hit>>;

    fn run<B: TrainBackend>(self, device: B::Device) -> dualenc_train::Result<Vec<Vec<Hit>>> {
        search::<B::InnerBackend>(
            self.model_dir,
            self.rootpath,
            self.collection,
            self.queries,
            3,
            &device,
        )
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
            progress: true,
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
    let summary = train_on(DeviceChoice::from(args.model.device), TrainJob(req))
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
    step_vocab(
        root,
        &args.train,
        &model.vocab,
        args.threshold,
        args.overwrite,
    )?;
    for collection in [&args.train, &args.val, &args.test] {
        step_frame_info(root, collection, &model.feature, args.overwrite)?;
    }
    let run = RunName {
        concate: args.variant,
        seed: args.seed.seed,
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| model.default_out(root, (&args.train, &args.val), run));
    if args.overwrite {
        remove_run(&out)?;
    }
    let model_best = out.join(dualenc_train::trainer::MODEL_BEST_DIR);
    if out.join(dualenc_train::history::VAL_BEST_FILE).is_file() {
        println!("[train] done already: {}", model_best.display());
    } else {
        let resume = dualenc_train::checkpoint::latest(&out)?.is_some();
        println!(
            "[train] {} {}",
            if resume { "resuming" } else { "training" },
            out.display()
        );
        let place = RunPlace { out, resume };
        let req = request(
            root,
            (&args.train, &args.val),
            args.n_caption,
            &model,
            run,
            place,
        )?;
        print_summary(&train_on(DeviceChoice::from(model.device), TrainJob(req))?);
    }
    let job = TestJob {
        model_dir: &model_best,
        rootpath: root,
        test: &args.test,
        n_caption: args.n_caption,
    };
    let report = train_on(DeviceChoice::from(model.device), job)
        .with_context(|| format!("testing {} on {}", model_best.display(), args.test))?;
    println!(
        "[test] {} ({} captions, {} videos)",
        args.test, report.captions, report.videos
    );
    print!("{}", metrics_table(&report.metrics));
    Ok(())
}

fn step_vocab(root: &Path, train: &str, name: &str, threshold: u64, overwrite: bool) -> Result<()> {
    let have = ["bow", "rnn"]
        .iter()
        .all(|style| vocab_path(root, train, style, name).is_ok());
    if have && !overwrite {
        println!("[vocab] {name} of {train} exists");
        return Ok(());
    }
    let (bow, rnn) = build_vocab(root, train, threshold)?;
    println!("[vocab] {train}: {bow} bow words, {rnn} rnn words (threshold {threshold})");
    Ok(())
}

fn step_frame_info(root: &Path, name: &str, feature: &str, overwrite: bool) -> Result<()> {
    let collection = Collection::new(root, name);
    let path = collection.video2frames_path(feature);
    let exists = path.is_file() || collection.video2frames_json_path(feature).is_file();
    if exists && !overwrite {
        println!("[frame info] {name} exists");
        return Ok(());
    }
    let bigfile = BigFile::open(collection.feature_dir(feature))
        .with_context(|| format!("frame info of {name}"))?;
    let v2f = Video2Frames::from_frame_ids(
        bigfile.ids().iter().map(String::as_str),
        &bigfile.dir().join("id.txt"),
    )?;
    v2f.write_dict_literal(&path)?;
    println!("[frame info] {name}: {} videos", v2f.len());
    Ok(())
}

/// Sizes of the demo: the reference's synthetic collection and reduced network, or a tiny
/// one with `--quick`.
struct DemoPlan {
    synth: SynthConfig,
    model: ModelArgs,
    threshold: u64,
}

fn demo_plan(args: &DemoArgs) -> DemoPlan {
    let mut model = ModelArgs {
        feature: "synfeat".into(),
        concate: ConcateArg::Full,
        dropout: 0.2,
        vocab: String::new(),
        word_dim: 32,
        text_rnn_size: 64,
        text_kernel_num: 32,
        text_kernel_sizes: "2-3-4".into(),
        visual_rnn_size: 64,
        visual_kernel_num: 32,
        visual_kernel_sizes: "2-3-4-5".into(),
        text_mapping_layers: "0-256".into(),
        visual_mapping_layers: "0-256".into(),
        measure: MeasureArg::Cosine,
        no_text_norm: false,
        no_visual_norm: false,
        margin: 0.2,
        no_max_violation: false,
        direction: DirectionArg::All,
        cost_style: CostArg::Sum,
        optimizer: OptimizerArg::Adam,
        learning_rate: 1e-4,
        lr_decay_rate: 0.99,
        grad_clip: 2.0,
        val_metric: ValMetricArg::Recall,
        num_epochs: args.epochs,
        batch_size: 128,
        word2vec: None,
        device: args.device,
        precision: args.precision,
    };
    let mut synth = SynthConfig {
        prefix: "demo".into(),
        feature: "synfeat".into(),
        videos: SplitSizes {
            train: 600,
            val: 100,
            test: 200,
        },
        n_caption: 5,
        dim: 64,
        frames: FrameRange { min: 6, max: 24 },
        seed: args.seed,
        avs: 6,
        overwrite: true,
    };
    let mut threshold = 5;
    if args.quick {
        synth.videos = SplitSizes {
            train: 40,
            val: 10,
            test: 20,
        };
        synth.n_caption = 2;
        synth.dim = 16;
        synth.frames = FrameRange { min: 3, max: 8 };
        synth.avs = 3;
        (model.word_dim, model.text_rnn_size, model.visual_rnn_size) = (8, 8, 8);
        (model.text_kernel_num, model.visual_kernel_num) = (4, 4);
        model.text_mapping_layers = "0-32".into();
        model.visual_mapping_layers = "0-32".into();
        model.batch_size = 16;
        threshold = 1;
    }
    model.vocab = format!("word_vocab_{threshold}");
    DemoPlan {
        synth,
        model,
        threshold,
    }
}

fn run_demo(args: DemoArgs) -> Result<()> {
    let plan = demo_plan(&args);
    let root = args.dir.join("VisualSearch");
    let (train, val, test) = ("demotrain", "demoval", "demotest");
    let summary = generate(&root, &plan.synth).context("generating the synthetic collections")?;
    println!(
        "[data] synthetic collections in {} ({} collections, seed {})",
        root.display(),
        summary.collections.len(),
        args.seed
    );
    let (bow, rnn) = build_vocab(&root, train, plan.threshold)?;
    println!("[vocab] {bow} bow words, {rnn} rnn words");
    let out = args.dir.join("run");
    remove_run(&out)?;
    let n_caption = Some(plan.synth.n_caption);
    let place = RunPlace {
        out: out.clone(),
        resume: false,
    };
    let run = RunName {
        concate: ConcateArg::Full,
        seed: args.seed,
    };
    let req = request(&root, (train, val), n_caption, &plan.model, run, place)?;
    let device = DeviceChoice::from(args.device);
    let trained = train_on(device, TrainJob(req))?;
    print_summary(&trained);
    let job = TestJob {
        model_dir: &trained.model_best,
        rootpath: &root,
        test,
        n_caption,
    };
    let report = train_on(device, job)?;
    println!(
        "\n[test] {test}: {} captions, {} videos",
        report.captions, report.videos
    );
    print!("{}", metrics_table(&report.metrics));
    demo_searches(&root, test, &trained.model_best, device)
}

fn demo_searches(root: &Path, test: &str, model_dir: &Path, device: DeviceChoice) -> Result<()> {
    let text_dir = Collection::new(root, test).dir().join("TextData");
    let topics = dualenc_data::captions::read_topics(text_dir.join("demo.avs.txt"))?;
    let labels = SynthLabels::read(&text_dir.join("demo.labels.json"))?;
    let queries: Vec<String> = topics.iter().take(4).map(|t| t.query.clone()).collect();
    if queries.is_empty() {
        bail!("the synthetic test collection has no AVS topic to search for");
    }
    let job = SearchJob {
        model_dir,
        rootpath: root,
        collection: test,
        queries: &queries,
    };
    let hits = train_on(device, job)?;
    println!("\nexample searches ({test}, top 3):");
    for (query, found) in queries.iter().zip(&hits) {
        println!("  \"{query}\"");
        for hit in found {
            let shows = labels.describe(&hit.video).unwrap_or_else(|| "?".into());
            println!("    {:<14} {:>6.3}  shows: {shows}", hit.video, hit.score);
        }
    }
    Ok(())
}
