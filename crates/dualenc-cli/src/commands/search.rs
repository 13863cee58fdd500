//! Text-to-video search on top of a trained model: `index` (encode a collection's videos into
//! a search index), `search` (rank the indexed videos for one sentence), `serve` (the HTTP
//! service and web page of `dualenc-server` over the same model and index) and `bench-search`
//! (the latency of `search`'s path from query text to results, text encoding included).
//!
//! The index manifest records the model folder (as an absolute path), so `search` and `serve`
//! need only the index. Queries are encoded on the CPU in eval mode, each as a batch of one
//! (the original's predictor for a single topic); several queries of one HTTP request are
//! encoded together in batch-independent mode, which gives each the same embedding.

use crate::commands::infer::DeviceArg;
use crate::common::RootPath;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use dualenc_data::Collection;
use dualenc_index::{
    AnnParams, ApproxOptions, CollectionMeta, Index, IndexWriter, Manifest, SearchMode,
};
use dualenc_infer::{
    encode_captions_alone, encode_videos_alone, run_on, BackendTask, BigFileVideos, CaptionSet,
    EncodeOptions, LoadedModel, PaddingMode, DEFAULT_BATCH_SIZE,
};
use dualenc_model::ModelBackend as NetworkBackend;
use dualenc_server::{
    serve_on, shutdown_signal, BackendInfo, Hit, SearchBackend, SearchError, SearchOutcome,
    ServerConfig, DEFAULT_ADDR,
};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    device: DeviceArg,
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
    /// Print JSON {query, took_ms, unknown_words, results: [{id, score, rank}]}.
    #[arg(long)]
    json: bool,
    /// Use the index's HNSW graph (built with `dualenc index --ann`) instead of a full scan.
    #[arg(long)]
    approx: bool,
    /// Compute device for encoding the query (a single sentence is fastest on the CPU).
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
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
                let device = args.device.into();
                run_on(device, args).context("index failed")?
            }
            SearchCommand::Search(args) => {
                let device = args.device.into();
                let json = args.json;
                let report = run_on(device, args).context("search failed")??;
                print_report(&report, json)
            }
            SearchCommand::Serve(args) => run_serve(args),
            SearchCommand::BenchSearch(args) => run_bench_search(args),
        }
    }
}

/// The search mode asked for on the command line.
fn search_mode(approx: bool) -> SearchMode {
    if approx {
        SearchMode::Approx(ApproxOptions::default())
    } else {
        SearchMode::Exact
    }
}

// ---------------------------------------------------------------------------------------
// dualenc index

impl BackendTask for IndexArgs {
    /// The command's own errors travel inside, with their context.
    type Output = anyhow::Result<()>;

    fn run<B: NetworkBackend>(self, device: B::Device) -> dualenc_infer::Result<Self::Output> {
        Ok(self.index_on::<B>(&device))
    }
}

impl IndexArgs {
    /// How the videos are batched.
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

    /// The encoding mode recorded in the manifest: `batch-128` or `batch-independent`.
    fn encoding_label(&self) -> String {
        if self.batch_independent {
            "batch-independent".into()
        } else {
            format!("batch-{}", self.batch_size)
        }
    }

    /// Loads the model, encodes the collection and writes the index (and the graph).
    fn index_on<B: NetworkBackend>(self, device: &B::Device) -> anyhow::Result<()> {
        let model_ref = model_reference(&self.model)?;
        let loaded = LoadedModel::<B>::load(&self.model, device)
            .with_context(|| format!("loading the model {}", self.model.display()))?;
        let feature = loaded.feature_or(self.feature.as_deref())?;
        let dim = loaded.model.config().embedding_dim();
        let collection = Collection::new(&self.root.rootpath, &self.collection);
        let videos = BigFileVideos::open(&collection, &feature, None).with_context(|| {
            format!(
                "reading the videos of {} (feature {feature})",
                collection.dir().display()
            )
        })?;
        if videos.ids().is_empty() {
            bail!(
                "{}: the collection has no video (video2frames of feature {feature} is empty)",
                collection.dir().display()
            );
        }
        let mut writer = self.open_writer(&model_ref, dim, videos.ids())?;
        let bar = progress_bar(videos.ids().len(), "videos");
        let started = Instant::now();
        let embeddings =
            encode_videos_alone(&loaded.model, &videos, &self.encode_options(), &mut |n| {
                bar.inc(n as u64)
            })
            .with_context(|| format!("encoding the videos of {}", self.collection))?;
        bar.finish_and_clear();
        let seconds = started.elapsed().as_secs_f64();
        let meta =
            CollectionMeta::new(&self.collection, &feature).with_encoding(self.encoding_label());
        writer.start_collection(meta)?;
        writer
            .add_batch(videos.ids(), &embeddings)
            .with_context(|| format!("adding {} to {}", self.collection, self.out.display()))?;
        let manifest = writer
            .commit()
            .with_context(|| format!("writing the index {}", self.out.display()))?;
        tracing::info!(videos = videos.ids().len(), seconds, "collection indexed");
        println!(
            "{}: {} videos encoded ({}, {seconds:.1} s) into {}",
            self.collection,
            videos.ids().len(),
            self.encoding_label(),
            self.out.display()
        );
        let manifest = if self.ann {
            build_graph(&self.out)?
        } else {
            manifest
        };
        print_manifest(&self.out, &manifest);
        Ok(())
    }

    /// A writer for a new index, or for appending to the existing one after checking (before
    /// any encoding) that none of `ids` is in it already and that the dimensions agree.
    fn open_writer(
        &self,
        model_ref: &str,
        dim: usize,
        ids: &[String],
    ) -> anyhow::Result<IndexWriter> {
        if !self.append {
            return IndexWriter::create(&self.out, dim, model_ref).with_context(|| {
                format!(
                    "creating the index {} (give --append to add to an existing index)",
                    self.out.display()
                )
            });
        }
        let index = read_index(&self.out)?;
        if index.dim() != dim {
            bail!(
                "{}: the index holds {}-d embeddings but the model {} gives {dim}-d ones",
                self.out.display(),
                index.dim(),
                self.model.display()
            );
        }
        check_no_duplicates(&index, &self.collection, ids)?;
        IndexWriter::append(&self.out, model_ref)
            .with_context(|| format!("opening {} for appending", self.out.display()))
    }
}

/// The model folder as the manifest records it: an absolute path, so that the index can be
/// searched from any working directory.
fn model_reference(model: &Path) -> anyhow::Result<String> {
    let absolute = std::fs::canonicalize(model)
        .with_context(|| format!("model folder {}", model.display()))?;
    absolute.to_str().map(str::to_string).with_context(|| {
        format!(
            "model folder {}: the path is not valid UTF-8",
            absolute.display()
        )
    })
}

/// Opens an index with a message naming its folder.
fn read_index(dir: &Path) -> anyhow::Result<Index> {
    Index::open(dir).with_context(|| format!("opening the index {}", dir.display()))
}

/// Refuses to append a collection whose videos are already indexed, naming the first one,
/// the collection holding it and how many are affected.
fn check_no_duplicates(index: &Index, collection: &str, ids: &[String]) -> anyhow::Result<()> {
    let rows: HashMap<&str, usize> = index
        .ids()
        .iter()
        .enumerate()
        .map(|(row, id)| (id.as_str(), row))
        .collect();
    let mut clashes = ids
        .iter()
        .filter_map(|id| rows.get(id.as_str()).map(|&r| (id, r)));
    let Some((first, row)) = clashes.next() else {
        return Ok(());
    };
    let total = 1 + clashes.count();
    bail!(
        "duplicate video id {first:?}: already in collection {:?} of the index {} \
         ({total} of the {} videos of {collection} are indexed already; an index holds each \
         video once)",
        owning_collection(index.manifest(), row),
        index.dir().display(),
        ids.len()
    )
}

/// The name of the collection that row `row` of the index belongs to.
fn owning_collection(manifest: &Manifest, row: usize) -> String {
    let mut end = 0;
    manifest
        .collections
        .iter()
        .find(|c| {
            end += c.count;
            row < end
        })
        .map(|c| c.name.clone())
        .unwrap_or_default()
}

/// Builds or extends the HNSW graph of the index in `dir`, with a progress bar; returns the
/// updated manifest.
fn build_graph(dir: &Path) -> anyhow::Result<Manifest> {
    let mut index = read_index(dir)?;
    let bar = progress_bar(index.len(), "rows in the graph");
    let started = Instant::now();
    index
        .build_ann(AnnParams::default(), &|n| bar.set_position(n as u64))
        .with_context(|| format!("building the ANN graph of {}", dir.display()))?;
    bar.finish_and_clear();
    println!(
        "ANN graph: {} rows ({:.1} s)",
        index.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(index.manifest().clone())
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

/// A progress bar over `len` items.
fn progress_bar(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    let template = format!("{{bar:40}} {{pos}}/{{len}} {what} ({{per_sec}}, eta {{eta}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

// ---------------------------------------------------------------------------------------
// The engine shared by `search`, `serve` and `bench-search`

/// A trained model and the index built with it: encodes sentences and ranks the videos.
struct Engine<B: NetworkBackend> {
    /// The model the index manifest references.
    loaded: LoadedModel<B>,
    /// The video index.
    index: Index,
    /// Exact or approximate search.
    mode: SearchMode,
}

/// A tokenised query: its row among the usable queries and its unknown words, or why it
/// cannot be searched.
type Checked = Result<(usize, Vec<String>), SearchError>;

/// Where the time of one [`Engine::search_many_timed`] call went (the rest is tokenising).
#[derive(Debug, Clone, Copy, Default)]
struct Timing {
    /// Encoding the queries with the text encoder.
    encode: Duration,
    /// Searching the index, top-k included.
    search: Duration,
}

impl<B: NetworkBackend> Engine<B> {
    /// Opens the index in `dir` and loads the model its manifest names on `device`.
    fn open(dir: &Path, approx: bool, device: &B::Device) -> anyhow::Result<Self> {
        let index = read_index(dir)?;
        if index.is_empty() {
            bail!("{}: the index holds no video", dir.display());
        }
        if approx && index.ann().is_none() {
            bail!(
                "{}: the index has no ANN graph; build it with `dualenc index ... --ann` or \
                 search without --approx",
                dir.display()
            );
        }
        let model_dir = PathBuf::from(&index.manifest().model);
        let loaded = LoadedModel::<B>::load(&model_dir, device).with_context(|| {
            format!(
                "loading the model {} named by {}/manifest.json",
                model_dir.display(),
                dir.display()
            )
        })?;
        let dim = loaded.model.config().embedding_dim();
        if dim != index.dim() {
            bail!(
                "{}: the index holds {}-d embeddings but its model {} gives {dim}-d ones",
                dir.display(),
                index.dim(),
                model_dir.display()
            );
        }
        Ok(Self {
            loaded,
            index,
            mode: search_mode(approx),
        })
    }

    /// Ranks the videos for each query (at most `k` each), in the queries' order. A query
    /// without a known word gets an error instead of a meaningless ranking.
    fn search_many(&self, queries: &[String], k: usize) -> Vec<Result<SearchOutcome, SearchError>> {
        self.search_many_timed(queries, k).0
    }

    /// [`Engine::search_many`], also telling where the time went.
    fn search_many_timed(
        &self,
        queries: &[String],
        k: usize,
    ) -> (Vec<Result<SearchOutcome, SearchError>>, Timing) {
        let (set, checked) = self.tokenise(queries);
        let (ranked, timing) = self.rank(&set, k);
        let outcomes = checked
            .into_iter()
            .map(|item| {
                let (row, unknown_words) = item?;
                let hits = match &ranked {
                    Ok(all) => all.get(row).cloned().unwrap_or_default(),
                    Err(e) => return Err(e.clone()),
                };
                Ok(SearchOutcome {
                    unknown_words,
                    results: hits,
                })
            })
            .collect();
        (outcomes, timing)
    }

    /// Tokenises the queries: the usable ones (with a known word) go into a caption set, in
    /// order; each query gets its row in that set and its unknown words, or its error.
    fn tokenise(&self, queries: &[String]) -> (CaptionSet, Vec<Checked>) {
        let mut set = CaptionSet {
            bow_dim: self.loaded.vocab.bow_len(),
            ..CaptionSet::default()
        };
        let mut checked = Vec::with_capacity(queries.len());
        for (n, query) in queries.iter().enumerate() {
            let tokens = self.loaded.vocab.encode(query);
            let unknown = unknown_words(query, &tokens.ids);
            checked.push(usable(query, unknown).map(|unknown| (set.len(), unknown)));
            if checked.last().is_some_and(Result::is_ok) {
                set.ids.push(format!("query{n}"));
                set.tokens.push(tokens);
            }
        }
        (set, checked)
    }

    /// Encodes the queries of `set` together, each padded to its own length so that each
    /// gets its batch-of-one embedding: `set.len() x dim` floats, row-major.
    fn embed(&self, set: &CaptionSet) -> Result<Vec<f32>, SearchError> {
        let options = EncodeOptions {
            batch_size: set.len(),
            padding: PaddingMode::Item,
        };
        encode_captions_alone(&self.loaded.model, set, &options, &mut |_| {})
            .map_err(|e| SearchError::Backend(e.to_string()))
    }

    /// Encodes the usable queries and searches the index for all of them.
    fn rank(&self, set: &CaptionSet, k: usize) -> (Result<Vec<Vec<Hit>>, SearchError>, Timing) {
        let mut timing = Timing::default();
        if set.is_empty() {
            return (Ok(Vec::new()), timing);
        }
        let started = Instant::now();
        let embeddings = match self.embed(set) {
            Ok(embeddings) => embeddings,
            Err(e) => return (Err(e), timing),
        };
        timing.encode = started.elapsed();
        let started = Instant::now();
        let hits = self.index.search_batch(&embeddings, k, self.mode);
        timing.search = started.elapsed();
        let ranked = hits
            .map(|hits| {
                hits.into_iter()
                    .map(|list| Hit::ranked(list.into_iter().map(|h| (h.id, h.score))))
                    .collect()
            })
            .map_err(|e| SearchError::Backend(e.to_string()));
        (ranked, timing)
    }

    /// Facts about the model and the index for `/api/info` and the page header.
    fn describe(&self) -> BackendInfo {
        let manifest = self.index.manifest();
        let names: Vec<&str> = manifest
            .collections
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let mut details = BTreeMap::new();
        for c in &manifest.collections {
            let encoding = c.encoding.as_deref().unwrap_or("unknown");
            details.insert(
                format!("collection {}", c.name),
                format!(
                    "{} videos, feature {}, encoding {encoding}",
                    c.count, c.feature
                ),
            );
        }
        let mode = match self.mode {
            SearchMode::Exact => "exact".to_string(),
            SearchMode::Approx(_) => "approximate (HNSW)".to_string(),
        };
        details.insert("search".into(), mode);
        details.insert("index".into(), self.index.dir().display().to_string());
        BackendInfo {
            model: manifest.model.clone(),
            collection: names.join(", "),
            videos: self.index.len(),
            dim: self.index.dim(),
            details,
        }
    }
}

/// The query's words that the vocabulary maps to `<unk>`, each once, in query order.
/// `ids` are the RNN ids of the query's `clean_str` tokens between `<start>` and `<end>`.
fn unknown_words(query: &str, ids: &[i64]) -> Vec<String> {
    let words = dualenc_text::clean_str(query);
    let inner = ids.get(1..ids.len().saturating_sub(1)).unwrap_or(&[]);
    let mut seen = HashSet::new();
    words
        .into_iter()
        .zip(inner)
        .filter(|(_, &id)| id == dualenc_text::UNK as i64)
        .map(|(word, _)| word)
        .filter(|word| seen.insert(word.clone()))
        .collect()
}

/// Accepts a query with at least one known word (returning its unknown words); refuses one
/// with no word at all or with only unknown words.
fn usable(query: &str, unknown: Vec<String>) -> Result<Vec<String>, SearchError> {
    let words: HashSet<String> = dualenc_text::clean_str(query).into_iter().collect();
    if words.is_empty() {
        Err(SearchError::NoWords)
    } else if words.iter().all(|w| unknown.contains(w)) {
        Err(SearchError::AllWordsUnknown { words: unknown })
    } else {
        Ok(unknown)
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

    fn run<B: NetworkBackend>(self, device: B::Device) -> dualenc_infer::Result<Self::Output> {
        Ok(self.search_on::<B>(&device))
    }
}

impl SearchArgs {
    /// Loads the engine, then encodes the query and searches.
    fn search_on<B: NetworkBackend>(self, device: &B::Device) -> anyhow::Result<SearchReport> {
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

/// Prints a search as a table (warning about unknown words on stderr) or as JSON.
fn print_report(report: &SearchReport, json: bool) -> anyhow::Result<()> {
    let outcome = &report.outcome;
    if json {
        let value = serde_json::json!({
            "query": report.query,
            "took_ms": report.took_ms,
            "unknown_words": outcome.unknown_words,
            "results": outcome.results.iter().map(|h| serde_json::json!({
                "id": h.id, "score": h.score, "rank": h.rank,
            })).collect::<Vec<_>>(),
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

/// The service's backend: the engine on the CPU, shared by the blocking threads.
struct ModelBackend {
    /// The model and the index.
    engine: Engine<dualenc_model::CpuBackend>,
}

impl SearchBackend for ModelBackend {
    fn search(&self, query: &str, k: usize) -> Result<SearchOutcome, SearchError> {
        self.search_batch(&[query.to_string()], k)
            .pop()
            .unwrap_or_else(|| Err(SearchError::Backend("no result for the query".into())))
    }

    fn search_batch(
        &self,
        queries: &[String],
        k: usize,
    ) -> Vec<Result<SearchOutcome, SearchError>> {
        self.engine.search_many(queries, k)
    }

    fn describe(&self) -> BackendInfo {
        self.engine.describe()
    }
}

/// Loads the model and the index, binds the address, prints it and serves until SIGTERM or
/// Ctrl-C.
fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    let engine = Engine::open(&args.index, args.approx, &Default::default())?;
    let backend = ModelBackend { engine };
    let info = backend.describe();
    let config = ServerConfig {
        addr: args.addr,
        thumbnails: args.thumbnails,
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

/// Latency figures of one measured quantity, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
struct Percentiles {
    /// Median (nearest rank).
    p50: f64,
    /// 90th percentile (nearest rank).
    p90: f64,
    /// 99th percentile (nearest rank).
    p99: f64,
    /// Arithmetic mean.
    mean: f64,
    /// Fastest.
    min: f64,
    /// Slowest.
    max: f64,
}

impl Percentiles {
    /// The figures of `samples` (milliseconds); `None` when there is none.
    fn of(samples: &[f64]) -> Option<Percentiles> {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let (&min, &max) = (sorted.first()?, sorted.last()?);
        let rank = |p: f64| {
            let n = sorted.len();
            let r = ((p * n as f64).ceil() as usize).clamp(1, n);
            sorted[r - 1]
        };
        Some(Percentiles {
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
            min,
            max,
        })
    }
}

/// What `bench-search` measured.
#[derive(Debug, serde::Serialize)]
struct BenchReport {
    /// The index folder.
    index: String,
    /// Videos in the index.
    videos: usize,
    /// Embedding dimension.
    dim: usize,
    /// `exact` or `approx`.
    mode: &'static str,
    /// Results per search.
    k: usize,
    /// Distinct queries.
    queries: usize,
    /// Mean number of words per query (`clean_str` tokens, known or not).
    mean_words: f64,
    /// Timed passes over the queries.
    passes: u64,
    /// Timed searches (queries x passes).
    timed: usize,
    /// Threads of the search's thread pool.
    threads: usize,
    /// Query text to results, one query at a time.
    total_ms: Percentiles,
    /// Of which encoding the query.
    encode_ms: Percentiles,
    /// Of which searching the index.
    search_ms: Percentiles,
    /// Searches per second, one at a time (1000 / mean total).
    queries_per_s: f64,
    /// With --approx: the share of the exact top-k that the approximate top-k finds, over all
    /// queries.
    recall_at_k: Option<f64>,
}

impl BenchSearchArgs {
    /// The queries of the arguments, then those of the file.
    fn all_queries(&self) -> anyhow::Result<Vec<String>> {
        let mut queries = self.queries.clone();
        if let Some(path) = &self.queries_file {
            let text = std::fs::read_to_string(path)
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

/// Loads the engine on the CPU, checks every query in one untimed pass, then times `repeat`
/// passes of single searches and prints the figures.
fn run_bench_search(args: BenchSearchArgs) -> anyhow::Result<()> {
    let queries = args.all_queries()?;
    let k = usize::try_from(args.k).context("-k is too large for this machine")?;
    let engine =
        Engine::<dualenc_model::CpuBackend>::open(&args.index, args.approx, &Default::default())?;
    for (n, query) in queries.iter().enumerate() {
        let (mut outcome, _) = engine.search_many_timed(std::slice::from_ref(query), k);
        outcome
            .pop()
            .context("the engine returned no result for the query")?
            .with_context(|| format!("query {} of {}: {query:?}", n + 1, queries.len()))?;
    }
    let (mut total, mut encode, mut search) = (Vec::new(), Vec::new(), Vec::new());
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for _ in 0..args.repeat {
        for query in &queries {
            let started = Instant::now();
            let (outcome, timing) = engine.search_many_timed(std::slice::from_ref(query), k);
            let elapsed = started.elapsed();
            if let Some(Err(e)) = outcome.first() {
                bail!("query {query:?} failed on a timed pass: {e}");
            }
            total.push(ms(elapsed));
            encode.push(ms(timing.encode));
            search.push(ms(timing.search));
        }
    }
    let recall_at_k = if args.approx {
        Some(approx_recall(&engine, &queries, k)?)
    } else {
        None
    };
    let words: usize = queries
        .iter()
        .map(|q| dualenc_text::clean_str(q).len())
        .sum();
    let figures = |samples: &[f64]| Percentiles::of(samples).context("no search was timed");
    let total_ms = figures(&total)?;
    let report = BenchReport {
        index: args.index.display().to_string(),
        videos: engine.index.len(),
        dim: engine.index.dim(),
        mode: if args.approx { "approx" } else { "exact" },
        k,
        queries: queries.len(),
        mean_words: words as f64 / queries.len() as f64,
        passes: args.repeat,
        timed: total.len(),
        threads: rayon::current_num_threads(),
        total_ms,
        encode_ms: figures(&encode)?,
        search_ms: figures(&search)?,
        queries_per_s: if total_ms.mean > 0.0 {
            1e3 / total_ms.mean
        } else {
            0.0
        },
        recall_at_k,
    };
    print_bench(&report, args.json)
}

/// The share of the exact top-k (full scan) that the engine's approximate top-k finds, over
/// all the queries, on the same query embeddings.
fn approx_recall(
    engine: &Engine<dualenc_model::CpuBackend>,
    queries: &[String],
    k: usize,
) -> anyhow::Result<f64> {
    let (set, _) = engine.tokenise(queries);
    let embeddings = engine.embed(&set)?;
    let approx = engine.index.search_batch(&embeddings, k, engine.mode)?;
    let exact = engine
        .index
        .search_batch(&embeddings, k, SearchMode::Exact)?;
    let (mut found, mut wanted) = (0usize, 0usize);
    for (a, e) in approx.iter().zip(&exact) {
        let rows: HashSet<usize> = a.iter().map(|h| h.index).collect();
        found += e.iter().filter(|h| rows.contains(&h.index)).count();
        wanted += e.len();
    }
    Ok(if wanted == 0 {
        1.0
    } else {
        found as f64 / wanted as f64
    })
}

/// Prints the figures as a table or as JSON.
fn print_bench(report: &BenchReport, json: bool) -> anyhow::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_words_are_named_once_in_query_order() {
        // <start> a zz a zz b <end>, with zz and b mapped to <unk> (3).
        let ids = [1, 5, 3, 5, 3, 3, 2];
        assert_eq!(unknown_words("a zz a zz b", &ids), vec!["zz", "b"]);
        assert!(unknown_words("a a", &[1, 5, 5, 2]).is_empty());
    }

    #[test]
    fn queries_without_a_known_word_are_refused() {
        assert_eq!(usable("?!", Vec::new()), Err(SearchError::NoWords));
        let all = vec!["zz".to_string(), "b".to_string()];
        assert_eq!(
            usable("zz b zz", all.clone()),
            Err(SearchError::AllWordsUnknown { words: all })
        );
        assert_eq!(
            usable("a zz", vec!["zz".into()]),
            Ok(vec!["zz".to_string()])
        );
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let p = Percentiles::of(&samples).unwrap();
        assert_eq!((p.p50, p.p90, p.p99), (50.0, 90.0, 99.0));
        assert_eq!((p.min, p.max, p.mean), (1.0, 100.0, 50.5));
        let one = Percentiles::of(&[7.0]).unwrap();
        assert_eq!((one.p50, one.p99, one.min, one.max), (7.0, 7.0, 7.0, 7.0));
        assert_eq!(Percentiles::of(&[]), None);
    }
}
