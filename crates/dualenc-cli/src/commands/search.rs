//! Text-to-video search commands over `dualenc-search`: `index` (encode a collection's videos
//! into a search index), `search` (rank the indexed videos for one sentence), `serve` (the
//! HTTP service and web page of `dualenc-server` over the same model and index) and
//! `bench-search` (the latency of `search`'s path from query text to results). This module
//! parses the arguments and prints; the work is the library's.

use crate::common::{progress_bar, RootPath};
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use dualenc_index::Manifest;
use dualenc_infer::DeviceChoice;
use dualenc_infer::{run_on, BackendTask, EncodeOptions, PaddingMode, DEFAULT_BATCH_SIZE};
use dualenc_model::ModelBackend;
use dualenc_search::{
    index_collection, measure_latency, Engine, IndexPlan, IndexProgress, LatencyPlan,
    LatencyReport, ModelSearch,
};
use dualenc_server::{
    serve_on, shutdown_signal, SearchBackend, SearchOutcome, ServerConfig, DEFAULT_ADDR,
};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The search subcommands.
#[derive(Subcommand)]
pub enum SearchCommand {
    /// Encode every video of a collection into a search index (create it or --append).
    Index(IndexArgs),
    /// Rank the indexed videos for a sentence with the model the index was built with.
    Search(SearchArgs),
    /// Serve the search as an HTTP API and a web page.
    Serve(ServeArgs),
    /// Time queries from text to results as `search` runs them (tokenise, encode on the CPU,
    /// exact or HNSW top-k): p50/p90/p99 latency, and recall against exact with --approx.
    BenchSearch(BenchSearchArgs),
}

/// Arguments of `dualenc index`.
#[derive(Args)]
pub struct IndexArgs {
    /// Model folder (from `dualenc train` or `dualenc import-checkpoint`).
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    root: RootPath,
    /// The collection whose videos are indexed (all of video2frames, in its order).
    collection: String,
    /// Frame feature (default: the one the model was trained on).
    #[arg(long)]
    feature: Option<String>,
    /// Index folder to create (or to extend with --append).
    #[arg(long)]
    out: PathBuf,
    /// Add the collection to an existing index built with the same model.
    #[arg(long)]
    append: bool,
    /// Videos per batch (the original's predictor: 128; embeddings depend on it unless
    /// --batch-independent).
    #[arg(long, default_value_t = DEFAULT_BATCH_SIZE)]
    batch_size: usize,
    /// Pad each video only to its own length, so embeddings do not depend on their batch.
    #[arg(long)]
    batch_independent: bool,
    /// Compute device for encoding the videos.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// Build (or extend) the HNSW graph for `--approx` searches after adding the videos.
    #[arg(long)]
    ann: bool,
}

/// Arguments of `dualenc search`.
#[derive(Args)]
pub struct SearchArgs {
    /// Index folder (from `dualenc index`).
    #[arg(long)]
    index: PathBuf,
    /// The sentence to search for, e.g. "a man is playing a guitar".
    query: String,
    /// Number of videos to return.
    #[arg(short, long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    k: u64,
    /// Print JSON {query, took_ms, unknown_words, results: [{id, score, rank, caption?}]}.
    #[arg(long)]
    json: bool,
    /// Use the index's HNSW graph (built with `dualenc index --ann`) instead of a full scan.
    #[arg(long)]
    approx: bool,
    /// Compute device for encoding the query (a single sentence is fastest on the CPU).
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
}

/// Arguments of `dualenc serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// Index folder (from `dualenc index`).
    #[arg(long)]
    index: PathBuf,
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value_t = DEFAULT_ADDR)]
    addr: SocketAddr,
    /// Folder of `VIDEO_ID.jpg` thumbnails shown next to the results.
    #[arg(long)]
    thumbnails: Option<PathBuf>,
    /// Folder of the collection's video files (`VIDEO_ID.mp4`, `.webm`, ...), played on the
    /// page (only videos of the index are served).
    #[arg(long)]
    videos: Option<PathBuf>,
    /// Use the index's HNSW graph instead of a full scan.
    #[arg(long)]
    approx: bool,
}

/// Arguments of `dualenc bench-search`.
#[derive(Args)]
pub struct BenchSearchArgs {
    /// Index folder (from `dualenc index`).
    #[arg(long)]
    index: PathBuf,
    /// Sentences to time, each searched as `dualenc search` does.
    queries: Vec<String>,
    /// File of sentences to time, one per line (blank lines skipped), after any given as
    /// arguments.
    #[arg(long = "queries", value_name = "FILE")]
    queries_file: Option<PathBuf>,
    /// Number of videos each search returns.
    #[arg(short, long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    k: u64,
    /// Use the index's HNSW graph (and report its recall@k against a full scan).
    #[arg(long)]
    approx: bool,
    /// Timed passes over the queries (after one untimed pass that checks them and warms up).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    repeat: u64,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

impl SearchCommand {
    /// Runs the chosen subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            SearchCommand::Index(args) => {
                let device = args.device;
                run_on(device, args).context("index failed")?
            }
            SearchCommand::Search(args) => {
                let device = args.device;
                let json = args.json;
                let report = run_on(device, args).context("search failed")??;
                print_report(&report, json)
            }
            SearchCommand::Serve(args) => run_serve(args),
            SearchCommand::BenchSearch(args) => run_bench_search(args),
        }
    }
}

// ---------------------------------------------------------------------------------------
// dualenc index

impl BackendTask for IndexArgs {
    /// The command's own errors travel inside, with their context.
    type Output = anyhow::Result<()>;

    fn run<B: ModelBackend>(self, device: B::Device) -> dualenc_infer::Result<Self::Output> {
        Ok(self.index_on::<B>(&device))
    }
}

impl IndexArgs {
    /// The library's plan for these arguments.
    fn plan(&self) -> IndexPlan {
        IndexPlan {
            model: self.model.clone(),
            rootpath: self.root.rootpath.clone(),
            collection: self.collection.clone(),
            feature: self.feature.clone(),
            out: self.out.clone(),
            append: self.append,
            encode: EncodeOptions {
                batch_size: self.batch_size,
                padding: if self.batch_independent {
                    PaddingMode::Item
                } else {
                    PaddingMode::Batch
                },
            },
            ann: self.ann,
        }
    }

    /// Indexes the collection with progress bars, then prints what the index holds.
    fn index_on<B: ModelBackend>(self, device: &B::Device) -> anyhow::Result<()> {
        let plan = self.plan();
        let bars = IndexBars::default();
        let report = index_collection::<B>(&plan, device, &|p| bars.show(p))?;
        bars.finish();
        println!(
            "{}: {} videos encoded ({}, {:.1} s) into {}",
            plan.collection,
            report.videos,
            plan.encoding_label(),
            report.encode_seconds,
            plan.out.display()
        );
        if report.captions > 0 {
            println!(
                "{}: first caption kept for {} videos",
                plan.collection, report.captions
            );
        }
        if let Some(seconds) = report.graph_seconds {
            println!("ANN graph: {} rows ({seconds:.1} s)", report.manifest.count);
        }
        print_manifest(&plan.out, &report.manifest);
        Ok(())
    }
}

/// The two progress bars of an indexing run, created when their phase starts.
#[derive(Default)]
struct IndexBars {
    encoding: std::sync::OnceLock<indicatif::ProgressBar>,
    graph: std::sync::OnceLock<indicatif::ProgressBar>,
}

impl IndexBars {
    fn show(&self, progress: IndexProgress) {
        match progress {
            IndexProgress::Encoding { done, total } => self
                .encoding
                .get_or_init(|| progress_bar(total, "videos"))
                .set_position(done as u64),
            IndexProgress::Graph { done, total } => {
                if let Some(bar) = self.encoding.get() {
                    bar.finish_and_clear();
                }
                self.graph
                    .get_or_init(|| progress_bar(total, "rows in the graph"))
                    .set_position(done as u64)
            }
        }
    }

    fn finish(&self) {
        for bar in [self.encoding.get(), self.graph.get()]
            .into_iter()
            .flatten()
        {
            bar.finish_and_clear();
        }
    }
}

/// Prints what the index holds after a commit.
fn print_manifest(dir: &Path, manifest: &Manifest) {
    println!(
        "index {}: {} videos, {}-d, model {}",
        dir.display(),
        manifest.count,
        manifest.dim,
        manifest.model
    );
    println!(
        "  {:<20} {:>8}  {:<28} encoding",
        "collection", "videos", "feature"
    );
    for c in &manifest.collections {
        let encoding = c.encoding.as_deref().unwrap_or("-");
        println!(
            "  {:<20} {:>8}  {:<28} {encoding}",
            c.name, c.count, c.feature
        );
    }
    match &manifest.ann {
        Some(ann) if ann.count < manifest.count => println!(
            "  ANN graph covers {} of {} rows (the rest is scanned exactly; rerun with --ann)",
            ann.count, manifest.count
        ),
        Some(ann) => println!("  ANN graph covers all {} rows", ann.count),
        None => println!("  no ANN graph (exact search only; add --ann for --approx)"),
    }
}

// ---------------------------------------------------------------------------------------
// dualenc search

/// One search's outcome, printed by [`print_report`].
pub struct SearchReport {
    /// The sentence searched for.
    query: String,
    /// Milliseconds spent encoding the query and searching (model loading excluded).
    took_ms: f64,
    /// The ranking and the unknown words.
    outcome: SearchOutcome,
}

impl BackendTask for SearchArgs {
    /// The command's own errors travel inside, with their context.
    type Output = anyhow::Result<SearchReport>;

    fn run<B: ModelBackend>(self, device: B::Device) -> dualenc_infer::Result<Self::Output> {
        Ok(self.search_on::<B>(&device))
    }
}

impl SearchArgs {
    /// Loads the engine, then encodes the query and searches.
    fn search_on<B: ModelBackend>(self, device: &B::Device) -> anyhow::Result<SearchReport> {
        let engine = Engine::<B>::open(&self.index, self.approx, device)?;
        let k = usize::try_from(self.k).context("-k is too large for this machine")?;
        let started = Instant::now();
        let outcome = engine
            .search_many(std::slice::from_ref(&self.query), k)
            .pop()
            .context("the engine returned no result for the query")?
            .with_context(|| format!("query {:?}", self.query))?;
        Ok(SearchReport {
            query: self.query,
            took_ms: started.elapsed().as_secs_f64() * 1e3,
            outcome,
        })
    }
}

/// A hit as `search --json` prints it: id, score, rank, and its caption when the index keeps
/// one.
fn hit_json(hit: &dualenc_index::Hit) -> serde_json::Value {
    let mut value = serde_json::json!({ "id": hit.id, "score": hit.score, "rank": hit.rank });
    if let Some(caption) = &hit.caption {
        value["caption"] = caption.clone().into();
    }
    value
}

/// Prints a search as a table (warning about unknown words on stderr) or as JSON.
fn print_report(report: &SearchReport, json: bool) -> anyhow::Result<()> {
    let outcome = &report.outcome;
    if json {
        let value = serde_json::json!({
            "query": report.query,
            "took_ms": report.took_ms,
            "unknown_words": outcome.unknown_words,
            "results": outcome.results.iter().map(hit_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        if !outcome.unknown_words.is_empty() {
            eprintln!(
                "warning: not in the vocabulary (ignored): {}",
                outcome.unknown_words.join(", ")
            );
        }
        println!(
            "{:?}: {} videos in {:.1} ms",
            report.query,
            outcome.results.len(),
            report.took_ms
        );
        println!("{:>5}  {:<24} {:>8}", "rank", "id", "score");
        for hit in &outcome.results {
            println!("{:>5}  {:<24} {:>8.4}", hit.rank, hit.id, hit.score);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// dualenc serve

/// Loads the model and the index, binds the address, prints it and serves until SIGTERM or
/// Ctrl-C.
fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    let engine = Engine::open(&args.index, args.approx, &Default::default())?;
    let backend = ModelSearch::new(engine);
    let info = backend.describe();
    let config = ServerConfig {
        addr: args.addr,
        thumbnails: args.thumbnails,
        videos: args.videos,
        ..ServerConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.addr))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let shutdown = shutdown_signal()?;
        println!(
            "serving {} videos of {} on http://{addr}/ (Ctrl-C or SIGTERM stops)",
            info.videos, info.collection
        );
        std::io::stdout().flush().context("writing to stdout")?;
        tracing::info!(%addr, model = %info.model, "search service started");
        serve_on(listener, Arc::new(backend), config, shutdown)
            .await
            .context("the search service failed")
    })
}

// ---------------------------------------------------------------------------------------
// dualenc bench-search

impl BenchSearchArgs {
    /// The queries of the arguments, then those of the file.
    fn all_queries(&self) -> anyhow::Result<Vec<String>> {
        let mut queries = self.queries.clone();
        if let Some(path) = &self.queries_file {
            let text = dualenc_data::untrusted::read_regular_text(path)
                .with_context(|| format!("reading the queries in {}", path.display()))?;
            queries.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty())
                    .map(str::to_string),
            );
        }
        if queries.is_empty() {
            bail!("no query to time: give sentences as arguments or --queries FILE");
        }
        Ok(queries)
    }
}

/// Loads the engine on the CPU, times the queries and prints the figures.
fn run_bench_search(args: BenchSearchArgs) -> anyhow::Result<()> {
    let plan = LatencyPlan {
        queries: args.all_queries()?,
        k: usize::try_from(args.k).context("-k is too large for this machine")?,
        passes: args.repeat,
    };
    let engine =
        Engine::<dualenc_model::CpuBackend>::open(&args.index, args.approx, &Default::default())?;
    let report = measure_latency(&engine, &plan)?;
    print_bench(&report, args.json)
}

/// Prints the figures as a table or as JSON.
fn print_bench(report: &LatencyReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    println!(
        "{} queries ({:.1} words on average) x {} passes on {} videos ({}-d), {} search, k {}, \
         {} threads",
        report.queries,
        report.mean_words,
        report.passes,
        report.videos,
        report.dim,
        report.mode,
        report.k,
        report.threads
    );
    println!(
        "{:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "ms", "p50", "p90", "p99", "mean", "min", "max"
    );
    for (name, p) in [
        ("total", &report.total_ms),
        ("encode", &report.encode_ms),
        ("search", &report.search_ms),
    ] {
        println!(
            "{name:<8} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            p.p50, p.p90, p.p99, p.mean, p.min, p.max
        );
    }
    println!("{:.1} queries/s one at a time", report.queries_per_s);
    if let Some(recall) = report.recall_at_k {
        println!(
            "recall@{} of the approximate search against a full scan: {recall:.4}",
            report.k
        );
    }
    Ok(())
}
