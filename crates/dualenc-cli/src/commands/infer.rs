//! Using a trained model: `import-checkpoint` (the authors' `model_best.pth.tar` into our
//! model folder), `embed` (a collection's embeddings as BigFiles), `test` (the original's
//! tester.py metrics) and `predict` (TRECVID AVS runs and infAP, as predictor.py).

use crate::common::{counter, RootPath};
use anyhow::Context;
use clap::{Args, Subcommand};
use dualenc_data::Collection;
use dualenc_infer::{
    embed_collection, import_checkpoint, predict, run_on, test_model, BackendTask, DeviceChoice,
    EmbedOutputs, EncodeOptions, LoadedModel, PaddingMode, PredictOptions, QuerySetReport,
    TestOptions, TopicPrefix, VocabOverrides, DEFAULT_BATCH_SIZE,
};
use dualenc_model::triplet_loss::Measure;
use dualenc_model::ModelBackend;

use std::path::PathBuf;

/// The subcommands that use a trained model.
#[derive(Subcommand)]
pub enum InferCommand {
    /// Import an authors' checkpoint (model_best.pth.tar, zip or legacy) into a model folder.
    ImportCheckpoint(ImportArgs),
    /// Embed a collection's videos and/or captions into BigFiles.
    Embed(EmbedArgs),
    /// Test a model on a collection: R@K, MedR, MeanR, mAP (the original's tester.py).
    Test(TestArgs),
    /// TRECVID AVS: rank a collection's videos for query sets, write runs, score infAP.
    Predict(PredictArgs),
}

/// Options shared by the commands that run the network.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// Model folder (from `dualenc train` or `dualenc import-checkpoint`).
    #[arg(long)]
    model: PathBuf,
    /// Frame feature (default: the one the model was trained on).
    #[arg(long)]
    feature: Option<String>,
    /// Items per batch (the original: 128; embeddings depend on it unless --batch-independent).
    #[arg(long, default_value_t = DEFAULT_BATCH_SIZE)]
    batch_size: usize,
    /// Pad each item only to its own length, so embeddings do not depend on their batch.
    #[arg(long)]
    batch_independent: bool,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
}

impl RunArgs {
    fn encode_options(&self) -> EncodeOptions {
        EncodeOptions {
            batch_size: self.batch_size,
            padding: if self.batch_independent {
                PaddingMode::Item
            } else {
                PaddingMode::Batch
            },
        }
    }
}

/// Arguments of `dualenc import-checkpoint`.
#[derive(Args)]
pub struct ImportArgs {
    /// The checkpoint (`model_best.pth.tar`).
    checkpoint: PathBuf,
    #[command(flatten)]
    root: RootPath,
    /// Model folder to write (replaced if it exists).
    #[arg(long)]
    out: PathBuf,
    /// BoW vocabulary (.pkl or .json; default ROOT/TRAIN/TextData/vocabulary/bow/VOCAB.pkl).
    #[arg(long)]
    bow_vocab: Option<PathBuf>,
    /// RNN vocabulary (.pkl or .json; default ROOT/TRAIN/TextData/vocabulary/rnn/VOCAB.pkl).
    #[arg(long)]
    rnn_vocab: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Arguments of `dualenc embed`.
#[derive(Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    root: RootPath,
    /// The collection to embed.
    collection: String,
    #[command(flatten)]
    run: RunArgs,
    /// BigFile folder for the video embeddings (ids = video ids).
    #[arg(long, required_unless_present = "captions")]
    videos: Option<PathBuf>,
    /// BigFile folder for the caption embeddings (ids = caption ids); videos are then encoded
    /// with their captions as the original's tester does.
    #[arg(long)]
    captions: Option<PathBuf>,
}

/// Arguments of `dualenc test`.
#[derive(Args)]
pub struct TestArgs {
    #[command(flatten)]
    root: RootPath,
    /// The test collection.
    collection: String,
    #[command(flatten)]
    run: RunArgs,
    /// Captions per video (fixed-count evaluation); default: detected from the caption file,
    /// varying counts (MSVD style) when they differ.
    #[arg(long)]
    n_caption: Option<usize>,
    /// Similarity of the error matrix (default: the measure the model was trained with).
    #[arg(long, value_enum)]
    measure: Option<Measure>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

/// Arguments of `dualenc predict`.
#[derive(Args)]
pub struct PredictArgs {
    #[command(flatten)]
    root: RootPath,
    /// The test collection (e.g. iacc.3).
    collection: String,
    #[command(flatten)]
    run: RunArgs,
    /// Query sets under ROOT/COLLECTION/TextData/, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "tv16.avs.txt")]
    query_sets: Vec<String>,
    /// Prefix of the topic numbers in the trec run, which must match the qrels (TRECVID's
    /// qrels number topic 501 as 1501). Default: `1`, unless the qrels use the query set's own
    /// numbers (as `dualenc synth --avs` writes them); `""` for none.
    #[arg(long)]
    topic_prefix: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

impl InferCommand {
    /// Runs the chosen subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            InferCommand::ImportCheckpoint(args) => run_import(args),
            InferCommand::Embed(args) => {
                let device = args.run.device;
                run_on(device, args).context("embed failed")
            }
            InferCommand::Test(args) => {
                let device = args.run.device;
                run_on(device, args).context("test failed")
            }
            InferCommand::Predict(args) => {
                let device = args.run.device;
                run_on(device, args).context("predict failed")
            }
        }
    }
}

fn run_import(args: ImportArgs) -> anyhow::Result<()> {
    let overrides = VocabOverrides {
        bow: args.bow_vocab,
        rnn: args.rnn_vocab,
    };
    let report = import_checkpoint(&args.checkpoint, &args.root.rootpath, &overrides, &args.out)
        .with_context(|| format!("importing {}", args.checkpoint.display()))?;
    if args.json {
        let value = serde_json::json!({
            "out": report.out_dir,
            "epoch": report.epoch,
            "best_rsum": report.best_rsum,
            "format": format!("{:?}", report.format).to_lowercase(),
            "bow_vocab": report.vocab_files[0],
            "rnn_vocab": report.vocab_files[1],
            "config": report.config,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let c = &report.config;
    println!(
        "imported {} ({:?} format)",
        args.checkpoint.display(),
        report.format
    );
    println!("  model folder   {}", report.out_dir.display());
    println!("  epoch          {}", report.epoch);
    if let Some(best) = report.best_rsum {
        println!("  best val score {best}");
    }
    println!("  concate        {:?}", c.concate);
    println!(
        "  video          {}-d frames, biGRU {}, {} kernels {:?}",
        c.visual_feat_dim, c.visual_rnn_size, c.visual_kernel_num, c.visual_kernel_sizes
    );
    println!(
        "  text           word dim {}, biGRU {}, {} kernels {:?}",
        c.word_dim, c.text_rnn_size, c.text_kernel_num, c.text_kernel_sizes
    );
    println!(
        "  vocabularies   bow {} words, rnn {} words",
        c.bow_vocab_size, c.vocab_size
    );
    println!("  common space   {}-d", c.embedding_dim());
    Ok(())
}

impl BackendTask for EmbedArgs {
    type Output = ();

    fn run<B: ModelBackend>(self, device: B::Device) -> dualenc_infer::Result<()> {
        let loaded = LoadedModel::<B>::load(&self.run.model, &device)?;
        let feature = loaded.feature_or(self.run.feature.as_deref())?;
        let collection = Collection::new(&self.root.rootpath, &self.collection);
        let outputs = EmbedOutputs {
            videos: self.videos,
            captions: self.captions,
        };
        let bar = counter(&format!("{} encoded", self.collection));
        let report = embed_collection(
            &loaded.model,
            &loaded.vocab,
            &collection,
            &feature,
            &outputs,
            &self.run.encode_options(),
            &mut |n: usize| bar.inc(n as u64),
        )?;
        bar.finish_and_clear();
        println!(
            "{}: {} videos, {} captions, {}-d embeddings",
            self.collection, report.videos, report.captions, report.dim
        );
        for (what, path) in [("videos", &outputs.videos), ("captions", &outputs.captions)] {
            if let Some(path) = path {
                println!("  {what:<8} {}", path.display());
            }
        }
        Ok(())
    }
}

impl BackendTask for TestArgs {
    type Output = ();

    fn run<B: ModelBackend>(self, device: B::Device) -> dualenc_infer::Result<()> {
        let loaded = LoadedModel::<B>::load(&self.run.model, &device)?;
        let options = TestOptions {
            rootpath: self.root.rootpath.clone(),
            collection: self.collection.clone(),
            feature: loaded.feature_or(self.run.feature.as_deref())?,
            n_caption: self.n_caption,
            encode: self.run.encode_options(),
            measure: self.measure.unwrap_or(loaded.config.loss.measure),
        };
        let bar = counter(&format!("{} encoded", self.collection));
        let report = test_model(
            &loaded.model,
            &loaded.vocab,
            &loaded.dir,
            &options,
            &mut |n: usize| bar.inc(n as u64),
        )?;
        bar.finish_and_clear();
        if self.json {
            let value = serde_json::json!({
                "collection": self.collection,
                "layout": report.layout,
                "videos": report.videos,
                "captions": report.captions,
                "metrics": report.metrics,
                "out": report.out_dir,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
            return Ok(());
        }
        print!(
            "{}",
            dualenc_infer::tester::original_printout(&report.metrics)
        );
        println!();
        println!(
            "{}: {} captions, {} videos ({:?})",
            self.collection, report.captions, report.videos, report.layout
        );
        print!("{}", dualenc_infer::tester::metrics_table(&report.metrics));
        println!("results in {}", report.out_dir.display());
        Ok(())
    }
}

impl BackendTask for PredictArgs {
    type Output = ();

    fn run<B: ModelBackend>(self, device: B::Device) -> dualenc_infer::Result<()> {
        let loaded = LoadedModel::<B>::load(&self.run.model, &device)?;
        let options = PredictOptions {
            rootpath: self.root.rootpath.clone(),
            collection: self.collection.clone(),
            feature: loaded.feature_or(self.run.feature.as_deref())?,
            query_sets: self.query_sets.clone(),
            encode: self.run.encode_options(),
            topic_prefix: self
                .topic_prefix
                .clone()
                .map_or(TopicPrefix::Auto, TopicPrefix::Fixed),
        };
        let bar = counter(&format!("{} encoded", self.collection));
        let reports = predict(
            &loaded.model,
            &loaded.vocab,
            &loaded.dir,
            &options,
            &mut |n: usize| bar.inc(n as u64),
        )?;
        bar.finish_and_clear();
        if self.json {
            let value: Vec<_> = reports.iter().map(report_json).collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
            return Ok(());
        }
        reports.iter().for_each(print_query_set);
        Ok(())
    }
}

fn report_json(r: &QuerySetReport) -> serde_json::Value {
    serde_json::json!({
        "query_set": r.query_set,
        "edition": r.edition,
        "topics": r.topics,
        "score_file": r.score_file,
        "xml_file": r.xml_file,
        "trec_file": r.trec_file,
        "infap": r.infap,
    })
}

fn print_query_set(r: &QuerySetReport) {
    println!("{} ({} topics)", r.query_set, r.topics);
    println!("  ranking  {}", r.score_file.display());
    if let Some(xml) = &r.xml_file {
        println!("  xml run  {}", xml.display());
    }
    println!("  trec run {}", r.trec_file.display());
    match &r.infap {
        Some(report) => {
            println!("  {:<8} {:>8}", "topic", "infAP");
            for t in &report.per_topic {
                println!("  {:<8} {:>8.4}", t.topic, t.inf_ap);
            }
            println!("  {:<8} {:>8.4}", "mean", report.all.inf_ap);
        }
        None => println!("  no qrels avs.qrels.{}: infAP not computed", r.edition),
    }
}
