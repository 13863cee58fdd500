//! Writes the set-up that `dualenc bench-search` times at scale: a freshly initialised model
//! folder at the paper's sizes (text encoder: 500-d words, biGRU 512, CNN 512 x {2, 3, 4},
//! 2048-d common space; a vocabulary of 10,000 words), an index of random normalised 2048-d
//! "video" embeddings that names that model (IACC.3's 335,944 videos by default), optionally
//! its HNSW graph, and a file of 10-word queries whose words are all in the vocabulary.
//!
//! ```sh
//! cargo run --release -p dualenc --example bench_index -- --out /tmp/bench-iacc3 --ann
//! target/release/dualenc bench-search --index /tmp/bench-iacc3/index --queries /tmp/bench-iacc3/queries.txt
//! target/release/dualenc bench-search --index /tmp/bench-iacc3/index --queries /tmp/bench-iacc3/queries.txt --approx
//! ```
//!
//! The weights are untrained (the original's initial distributions): the figures are timings,
//! not rankings. Rows are `normalise(c + n)`, `c` one of `videos / 500` unit centres and `n`
//! Gaussian noise of norm about 1, as in `cargo bench -p dualenc-index --bench search`. The
//! first centres are the queries' own embeddings (by this model) and the others random, so
//! that each query has a real neighbourhood in the index, as a trained model's queries have;
//! against uniform noise an HNSW graph has no neighbourhoods to follow and its recall means
//! little. Same flags, same files.

use anyhow::{bail, ensure, Context};
use clap::Parser;
use dualenc_index::{AnnParams, CollectionMeta, Index, IndexWriter};
use dualenc_infer::{encode_captions_alone, EncodeOptions, LoadedModel, PaddingMode};
use dualenc_model::model_dir::{save_model_dir, ModelMeta, RunConfig};
use dualenc_model::{CpuBackend, DualEncoding, ModelConfig};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Ten-word queries (`clean_str` tokens), the length the issue's latency target names.
const QUERIES: &[&str] = &[
    "a man in a red shirt is playing the guitar",
    "two young girls are dancing together on a big stage",
    "a small dog is running along the beach at sunset",
    "a chef cuts fresh vegetables on a wooden kitchen table",
    "people are walking down a busy street in the city",
    "a woman is singing into a microphone at a concert",
    "a boy is riding his bike over a dirt ramp",
    "a cat jumps from the sofa onto the wooden floor",
    "the football team celebrates a goal in front of fans",
    "an old man is reading a newspaper on the bench",
    "a car drives fast along a wet road at night",
    "children are swimming and splashing in a blue swimming pool",
    "a horse is running across a green field with trees",
    "a person is explaining how to cook pasta with tomatoes",
    "a news anchor talks about the weather in a studio",
    "a monkey eats a banana while sitting in a tree",
    "a group of musicians plays drums on a street corner",
    "a baby is laughing while playing with a small toy",
    "a white plane takes off slowly from the airport runway",
    "two men are fighting in a boxing ring with gloves",
];

/// Words of every query in [`QUERIES`].
const QUERY_WORDS: usize = 10;

/// Rows generated (in parallel) per chunk handed to the index writer: 128 MiB at 2048-d.
const CHUNK_ROWS: usize = 16_384;

/// Writes a paper-size model, an index of random embeddings naming it, and 10-word queries.
#[derive(Parser)]
struct Args {
    /// Folder to write `model/`, `index/` and `queries.txt` into (must not hold an index).
    #[arg(long)]
    out: PathBuf,
    /// Videos (rows) in the index.
    #[arg(long, default_value_t = 335_944, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    videos: u64,
    /// Words of the bag-of-words vocabulary (the RNN one has the 4 special tokens more).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(200..=1_000_000))]
    vocab: u64,
    /// Seed of the weights and the embeddings.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also build the HNSW graph (the parameters of `dualenc index --ann`).
    #[arg(long)]
    ann: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let videos = usize::try_from(args.videos).context("--videos is too large")?;
    let vocab = usize::try_from(args.vocab).context("--vocab is too large")?;
    let words = vocabulary(vocab)?;

    let started = Instant::now();
    let model_dir = args.out.join("model");
    let dim = write_model(&model_dir, &words, args.seed)?;
    println!(
        "model {} ({:.1} s): paper sizes, {} words, {dim}-d, untrained",
        model_dir.display(),
        started.elapsed().as_secs_f64(),
        words.len()
    );

    let started = Instant::now();
    let centres = query_embeddings(&model_dir)?;
    let index_dir = args.out.join("index");
    write_index(&index_dir, &model_dir, dim, videos, args.seed, &centres)?;
    println!(
        "index {} ({:.1} s): {videos} random normalised rows",
        index_dir.display(),
        started.elapsed().as_secs_f64()
    );

    if args.ann {
        build_graph(&index_dir)?;
    }

    let queries = args.out.join("queries.txt");
    std::fs::write(&queries, QUERIES.join("\n") + "\n")
        .with_context(|| format!("writing {}", queries.display()))?;
    println!(
        "queries {} ({} of {QUERY_WORDS} words)",
        queries.display(),
        QUERIES.len()
    );
    Ok(())
}

/// The BoW vocabulary: every query word, then filler words up to `size`.
fn vocabulary(size: usize) -> anyhow::Result<Vec<String>> {
    let mut words: Vec<String> = Vec::with_capacity(size);
    for query in QUERIES {
        let tokens = dualenc_text::clean_str(query);
        ensure!(
            tokens.len() == QUERY_WORDS,
            "query {query:?} has {} words, not {QUERY_WORDS}",
            tokens.len()
        );
        for token in tokens {
            if !words.contains(&token) {
                words.push(token);
            }
        }
    }
    if words.len() > size {
        bail!(
            "--vocab {size} is smaller than the {} query words",
            words.len()
        );
    }
    let filler = size - words.len();
    words.extend((0..filler).map(|n| format!("w{n:07}")));
    Ok(words)
}

/// A vocabulary file in our JSON form.
fn vocabulary_json(style: &str, words: &[String]) -> anyhow::Result<Vec<u8>> {
    let value = serde_json::json!({
        "format": "dualenc-vocabulary",
        "text_style": style,
        "words": words,
    });
    Ok(serde_json::to_vec(&value)?)
}

/// Writes a freshly initialised paper-size model folder with the vocabulary `words`; returns
/// the embedding dimension.
fn write_model(dir: &Path, words: &[String], seed: u64) -> anyhow::Result<usize> {
    let config = ModelConfig {
        bow_vocab_size: words.len(),
        vocab_size: words.len() + dualenc_text::RNN_SPECIALS.len(),
        ..ModelConfig::default()
    }
    .resolve()?;
    let model = DualEncoding::<CpuBackend>::init(config.clone(), seed, None, &Default::default())?;
    let mut run = RunConfig {
        model: config.clone(),
        ..RunConfig::default()
    };
    run.extra.insert(
        "note".into(),
        "freshly initialised by the bench_index example, for timing only".into(),
    );
    let rnn_words: Vec<String> = dualenc_text::RNN_SPECIALS
        .iter()
        .map(|w| w.to_string())
        .chain(words.iter().cloned())
        .collect();
    let bow = vocabulary_json("bow", words)?;
    let rnn = vocabulary_json("rnn", &rnn_words)?;
    save_model_dir(
        dir,
        &model,
        &run,
        &ModelMeta::new(0, None),
        &[("bow.json", &bow), ("rnn.json", &rnn)],
    )
    .with_context(|| format!("writing the model folder {}", dir.display()))?;
    Ok(config.embedding_dim())
}

/// The embeddings of [`QUERIES`] by the model in `dir` (as `dualenc search` encodes them:
/// each padded to its own length), `QUERIES.len() x dim` floats.
fn query_embeddings(dir: &Path) -> anyhow::Result<Vec<f32>> {
    let loaded = LoadedModel::<CpuBackend>::load(dir, &Default::default())?;
    let ids: Vec<String> = (0..QUERIES.len()).map(|n| format!("query{n}")).collect();
    let set = loaded
        .vocab
        .encode_all(ids.iter().map(String::as_str).zip(QUERIES.iter().copied()));
    let options = EncodeOptions {
        batch_size: QUERIES.len(),
        padding: PaddingMode::Item,
    };
    Ok(encode_captions_alone(
        &loaded.model,
        &set,
        &options,
        &mut |_| {},
    )?)
}

/// SplitMix64: a small, fast, seedable generator (one stream per row keeps the rows the same
/// whatever the thread count).
struct SplitMix(u64);

impl SplitMix {
    fn new(seed: u64, stream: u64) -> Self {
        let mut rng = SplitMix(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// Fills `out` with standard normal values (Box-Muller).
    fn normals(&mut self, out: &mut [f32]) {
        for pair in out.chunks_mut(2) {
            let radius = (-2.0 * self.unit().ln()).sqrt();
            let angle = std::f64::consts::TAU * self.unit();
            pair[0] = (radius * angle.cos()) as f32;
            if let Some(second) = pair.get_mut(1) {
                *second = (radius * angle.sin()) as f32;
            }
        }
    }
}

/// Scales `v` to unit length (leaves a zero vector alone).
fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Writes `videos` clustered random unit rows into a new index that names `model`; the first
/// cluster centres are the rows of `given` (unit vectors of `dim` floats).
fn write_index(
    dir: &Path,
    model: &Path,
    dim: usize,
    videos: usize,
    seed: u64,
    given: &[f32],
) -> anyhow::Result<()> {
    let model = std::fs::canonicalize(model)?;
    let model = model.to_str().context("the model path is not UTF-8")?;
    let mut writer = IndexWriter::create(dir, dim, model)?;
    writer.start_collection(
        CollectionMeta::new("random", "none").with_encoding("random-normalised"),
    )?;
    let clusters = (videos / 500).max(1);
    let mut centres = vec![0.0f32; clusters * dim];
    centres
        .par_chunks_mut(dim)
        .enumerate()
        .for_each(|(c, centre)| {
            match given.get(c * dim..(c + 1) * dim) {
                Some(row) => centre.copy_from_slice(row),
                None => SplitMix::new(seed, u64::MAX - c as u64).normals(centre),
            }
            normalise(centre);
        });
    let scale = 1.0 / (dim as f32).sqrt();
    let mut chunk = vec![0.0f32; CHUNK_ROWS * dim];
    let mut ids = Vec::with_capacity(CHUNK_ROWS);
    for first in (0..videos).step_by(CHUNK_ROWS) {
        let rows = CHUNK_ROWS.min(videos - first);
        let block = &mut chunk[..rows * dim];
        block.par_chunks_mut(dim).enumerate().for_each(|(i, row)| {
            let mut rng = SplitMix::new(seed, (first + i) as u64);
            let c = (rng.next() % clusters as u64) as usize;
            rng.normals(row);
            let centre = &centres[c * dim..(c + 1) * dim];
            for (x, m) in row.iter_mut().zip(centre) {
                *x = m + scale * *x;
            }
            normalise(row);
        });
        ids.clear();
        ids.extend((first..first + rows).map(|n| format!("video{n}")));
        writer.add_batch(&ids, block)?;
        eprint!("\r{} / {videos} rows", first + rows);
    }
    eprintln!();
    writer.commit()?;
    Ok(())
}

/// Builds the HNSW graph with the parameters `dualenc index --ann` uses, with progress.
fn build_graph(dir: &Path) -> anyhow::Result<()> {
    let mut index = Index::open(dir)?;
    let total = index.len();
    let started = Instant::now();
    let shown = AtomicUsize::new(0);
    let params = AnnParams::default();
    index.build_ann(params, &|n| {
        if n >= shown.load(Ordering::Relaxed) + 10_000 || n == total {
            shown.store(n, Ordering::Relaxed);
            let rate = n as f64 / started.elapsed().as_secs_f64().max(1e-9);
            eprint!("\rgraph: {n} / {total} rows ({rate:.0} rows/s)   ");
        }
    })?;
    eprintln!();
    println!(
        "HNSW graph ({:.1} s, {:.0} rows/s): M {}, ef_construction {}, ef {}, {:?} storage",
        started.elapsed().as_secs_f64(),
        total as f64 / started.elapsed().as_secs_f64().max(1e-9),
        params.connectivity,
        params.expansion_add,
        params.expansion_search,
        params.storage
    );
    Ok(())
}
