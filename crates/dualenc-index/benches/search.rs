//! Search benchmarks: exact top-100 (single query p50/p99, batches of 64 in queries/s) and
//! approximate top-100 (HNSW + exact re-scoring: p50/p99 and recall@100 against exact), on
//! indexes of random normalised embeddings generated on the fly into a temporary folder
//! (deleted afterwards).
//!
//! Two scales run in turn, each in its own index: IACC.3's size (335,944 x 2048, exact and
//! approximate) and 1,000,000 x 2048 (exact; approximate too with `DUALENC_BENCH_ANN_FULL=1`,
//! whose HNSW build takes long on two cores). Environment variables (defaults in brackets):
//!
//! - `DUALENC_BENCH_ROWS` [1000000], `DUALENC_BENCH_SMALL_ROWS` [335944], `DUALENC_BENCH_DIM` [2048]
//! - `DUALENC_BENCH_QUERIES` [50] single queries timed for the percentiles
//! - `DUALENC_BENCH_BATCHES` [3] batches of 64 queries timed
//! - `DUALENC_BENCH_ANN_STORAGE` [i8], `DUALENC_BENCH_M` [16], `DUALENC_BENCH_EF_ADD` [128],
//!   `DUALENC_BENCH_EF_SEARCH` [128], `DUALENC_BENCH_CANDIDATES` [300]
//! - `DUALENC_BENCH_ANN_FULL` [unset]: build the graph at the large scale too
//! - `DUALENC_BENCH_DIR` [system temp dir]: where the temporary indexes go
//!
//! Data: rows are `normalise(c + n)` with `c` one of `rows / 500` random unit centres and
//! `n` Gaussian noise of norm about 1 (two rows of a cluster have cosine about 0.5); queries
//! are drawn the same way, so each has a real neighbourhood, as text queries have. Figures
//! are printed as `RESULT` lines; criterion also times one exact and one approximate query.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::Criterion;
use dualenc_index::{
    measure_recall, AnnParams, ApproxOptions, CollectionMeta, Index, IndexWriter, SearchMode,
    Storage,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

const K: usize = 100;
const BATCH: usize = 64;
/// Rows generated (in parallel) per chunk handed to the writer: 128 MiB at 2048-d.
const CHUNK_ROWS: usize = 16_384;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Benchmark settings read from the environment.
struct Config {
    rows: usize,
    small_rows: usize,
    dim: usize,
    queries: usize,
    batches: usize,
    ann: AnnParams,
    candidates: usize,
    ann_full: bool,
}

impl Config {
    fn from_env() -> Self {
        let storage = std::env::var("DUALENC_BENCH_ANN_STORAGE")
            .ok()
            .and_then(|s| s.parse::<Storage>().ok())
            .unwrap_or(Storage::I8);
        Config {
            rows: env_usize("DUALENC_BENCH_ROWS", 1_000_000),
            small_rows: env_usize("DUALENC_BENCH_SMALL_ROWS", 335_944),
            dim: env_usize("DUALENC_BENCH_DIM", 2048),
            queries: env_usize("DUALENC_BENCH_QUERIES", 50).max(1),
            batches: env_usize("DUALENC_BENCH_BATCHES", 3).max(1),
            ann: AnnParams {
                connectivity: env_usize("DUALENC_BENCH_M", 16),
                expansion_add: env_usize("DUALENC_BENCH_EF_ADD", 128),
                expansion_search: env_usize("DUALENC_BENCH_EF_SEARCH", 128),
                storage,
            },
            candidates: env_usize("DUALENC_BENCH_CANDIDATES", 300),
            ann_full: std::env::var_os("DUALENC_BENCH_ANN_FULL").is_some(),
        }
    }
}

/// Clustered random unit vectors: centre plus noise, normalised.
struct Synth {
    dim: usize,
    centres: Vec<f32>,
}

impl Synth {
    fn new(rows: usize, dim: usize, seed: u64) -> Self {
        let clusters = (rows / 500).max(1);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut centres: Vec<f32> = (0..clusters * dim)
            .map(|_| rng.sample(StandardNormal))
            .collect();
        centres.par_chunks_exact_mut(dim).for_each(normalise);
        Synth { dim, centres }
    }

    fn fill(&self, rng: &mut ChaCha8Rng, out: &mut [f32]) {
        let clusters = self.centres.len() / self.dim;
        let c = rng.random_range(0..clusters);
        let centre = &self.centres[c * self.dim..(c + 1) * self.dim];
        let scale = 1.0 / (self.dim as f32).sqrt();
        for (o, &m) in out.iter_mut().zip(centre) {
            *o = m + scale * rng.sample::<f32, _>(StandardNormal);
        }
        normalise(out);
    }

    /// Rows `first..first + out.len() / dim`, each from its own seed (deterministic in parallel).
    fn rows(&self, first: usize, out: &mut [f32]) {
        out.par_chunks_exact_mut(self.dim)
            .enumerate()
            .for_each(|(i, row)| {
                let mut rng = ChaCha8Rng::seed_from_u64(((first + i) as u64) << 1);
                self.fill(&mut rng, row);
            });
    }

    fn queries(&self, n: usize) -> Vec<f32> {
        let mut out = vec![0.0; n * self.dim];
        out.par_chunks_exact_mut(self.dim)
            .enumerate()
            .for_each(|(i, row)| {
                let mut rng = ChaCha8Rng::seed_from_u64(((i as u64) << 1) | 1);
                self.fill(&mut rng, row);
            });
        out
    }
}

fn normalise(v: &mut [f32]) {
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    v.iter_mut().for_each(|x| *x /= norm);
}

/// Writes an index of `rows` synthetic videos through [`IndexWriter`].
fn generate(dir: &Path, synth: &Synth, rows: usize) {
    let start = Instant::now();
    let mut writer = IndexWriter::create(dir, synth.dim, "bench-random").expect("create index");
    writer
        .start_collection(CollectionMeta::new("synthetic", "random"))
        .expect("start collection");
    let mut buf = vec![0.0f32; CHUNK_ROWS * synth.dim];
    for first in (0..rows).step_by(CHUNK_ROWS) {
        let n = CHUNK_ROWS.min(rows - first);
        let chunk = &mut buf[..n * synth.dim];
        synth.rows(first, chunk);
        let ids: Vec<String> = (first..first + n).map(|i| format!("shot{i}")).collect();
        writer.add_batch(&ids, chunk).expect("add batch");
    }
    writer.commit().expect("commit");
    let secs = start.elapsed().as_secs_f64();
    let gb = (rows * synth.dim * 4) as f64 / 1e9;
    println!(
        "RESULT generate rows={rows} dim={} secs={secs:.1} GB={gb:.2} ({:.2} GB/s)",
        synth.dim,
        gb / secs
    );
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

/// Times `queries` single searches; prints p50/p99 in milliseconds.
fn latency(label: &str, index: &Index, queries: &[f32], mode: SearchMode) {
    let mut times: Vec<Duration> = queries
        .chunks_exact(index.dim())
        .map(|q| {
            let t = Instant::now();
            let hits = index.search(q, K, mode).expect("search");
            let elapsed = t.elapsed();
            assert_eq!(hits.len(), K.min(index.len()));
            elapsed
        })
        .collect();
    times.sort();
    println!(
        "RESULT {label} rows={} top{K} queries={} p50_ms={:.2} p99_ms={:.2}",
        index.len(),
        times.len(),
        percentile(&times, 50.0),
        percentile(&times, 99.0)
    );
}

/// Times batches of 64 exact queries; prints queries per second.
fn batched(label: &str, index: &Index, queries: &[f32], batches: usize) {
    let chunk = BATCH * index.dim();
    let start = Instant::now();
    for b in 0..batches {
        let off = (b * chunk) % queries.len();
        let batch = &queries[off..off + chunk];
        let hits = index
            .search_batch(batch, K, SearchMode::Exact)
            .expect("batch search");
        assert_eq!(hits.len(), BATCH);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "RESULT {label} rows={} top{K} batch={BATCH} batches={batches} secs_per_batch={:.2} queries_per_s={:.1}",
        index.len(),
        secs / batches as f64,
        (batches * BATCH) as f64 / secs
    );
}

/// Builds the HNSW graph, then measures approximate latency and recall@100.
fn approximate(c: &mut Criterion, label: &str, index: &mut Index, queries: &[f32], cfg: &Config) {
    let start = Instant::now();
    index.build_ann(cfg.ann, &|_| ()).expect("build ann");
    let secs = start.elapsed().as_secs_f64();
    println!(
        "RESULT {label} ann_build rows={} secs={secs:.1} rows_per_s={:.0} params={:?}",
        index.len(),
        index.len() as f64 / secs,
        cfg.ann
    );
    let options = ApproxOptions {
        candidates: cfg.candidates,
    };
    latency(
        &format!("{label} approx"),
        index,
        queries,
        SearchMode::Approx(options),
    );
    let recall_queries = &queries[..queries.len().min(BATCH * index.dim())];
    let recall = measure_recall(index, recall_queries, K, options).expect("recall");
    println!(
        "RESULT {label} approx recall@{K}={recall:.4} queries={} candidates={}",
        recall_queries.len() / index.dim(),
        cfg.candidates
    );
    let q = &queries[..index.dim()];
    c.bench_function(&format!("{label}/approx_top100"), |b| {
        b.iter(|| {
            index
                .search(q, K, SearchMode::Approx(options))
                .expect("search")
        })
    });
}

/// One scale: generate, exact figures, optionally approximate figures, delete.
fn scale(c: &mut Criterion, label: &str, rows: usize, with_ann: bool, cfg: &Config) {
    let base = std::env::var_os("DUALENC_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let synth = Synth::new(rows, cfg.dim, 42);
    generate(dir.path(), &synth, rows);
    let mut index = Index::open(dir.path()).expect("open index");
    let queries = synth.queries(cfg.queries.max(BATCH));
    let single = &queries[..cfg.queries * cfg.dim];
    latency(&format!("{label} exact"), &index, single, SearchMode::Exact);
    batched(&format!("{label} exact"), &index, &queries, cfg.batches);
    let q = &queries[..cfg.dim];
    c.bench_function(&format!("{label}/exact_top100"), |b| {
        b.iter(|| index.search(q, K, SearchMode::Exact).expect("search"))
    });
    if with_ann {
        approximate(c, label, &mut index, &queries, cfg);
    }
    drop(index);
    dir.close().expect("delete temp index");
}

fn main() {
    let cfg = Config::from_env();
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    println!("RESULT threads={}", rayon::current_num_threads());
    scale(&mut c, "iacc3-size", cfg.small_rows, true, &cfg);
    scale(&mut c, "large", cfg.rows, cfg.ann_full, &cfg);
    c.final_summary();
}
