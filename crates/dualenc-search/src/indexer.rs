//! Indexing a collection: every video of its video2frames encoded with a model (batched as
//! the original's predictor, or batch-independent) and written to a new search index or
//! appended to one built with the same model, optionally with the HNSW graph for approximate
//! search.
//!
//! The manifest records the model folder as an absolute path, so that `search` and `serve`
//! need only the index.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use dualenc_data::Collection;
use dualenc_dataset::{BigFileVideos, VideoSource};
use dualenc_index::{AnnParams, CollectionMeta, Index, IndexWriter, Manifest};
use dualenc_infer::{encode_videos_alone, EncodeOptions, LoadedModel, PaddingMode};
use dualenc_model::ModelBackend;

use crate::engine::read_index;
use crate::error::{Context, Error, Result};

/// What to index and how.
#[derive(Debug, Clone)]
pub struct IndexPlan {
    /// The model folder.
    pub model: PathBuf,
    /// The VisualSearch root.
    pub rootpath: PathBuf,
    /// The collection whose videos are indexed (all of video2frames, in its order).
    pub collection: String,
    /// Frame feature (`None`: the one the model was trained on).
    pub feature: Option<String>,
    /// The index folder to create, or to extend.
    pub out: PathBuf,
    /// Add the collection to the existing index `out`.
    pub append: bool,
    /// Videos per batch and padding mode.
    pub encode: EncodeOptions,
    /// Build (or extend) the HNSW graph afterwards.
    pub ann: bool,
}

impl IndexPlan {
    /// The encoding recorded in the manifest: `batch-128` or `batch-independent`.
    pub fn encoding_label(&self) -> String {
        match self.encode.padding {
            PaddingMode::Item => "batch-independent".into(),
            PaddingMode::Batch => format!("batch-{}", self.encode.batch_size),
        }
    }
}

/// Progress of an indexing run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexProgress {
    /// Videos encoded so far, of `total`.
    Encoding {
        /// Videos done.
        done: usize,
        /// Videos to encode.
        total: usize,
    },
    /// Rows in the HNSW graph so far, of `total`.
    Graph {
        /// Rows done.
        done: usize,
        /// Rows of the index.
        total: usize,
    },
}

/// What an indexing run did.
#[derive(Debug, Clone)]
pub struct IndexReport {
    /// Videos encoded and added.
    pub videos: usize,
    /// Seconds spent encoding.
    pub encode_seconds: f64,
    /// Seconds spent building the graph, when asked.
    pub graph_seconds: Option<f64>,
    /// The manifest after the run.
    pub manifest: Manifest,
}

/// Encodes the plan's collection and writes (or extends) the index; `progress` is called
/// during encoding and graph building (from several threads while the graph is built).
pub fn index_collection<B: ModelBackend>(
    plan: &IndexPlan,
    device: &B::Device,
    progress: &(dyn Fn(IndexProgress) + Sync),
) -> Result<IndexReport> {
    let model_ref = model_reference(&plan.model)?;
    let loaded = LoadedModel::<B>::load(&plan.model, device)
        .context_with(|| format!("loading the model {}", plan.model.display()))?;
    let feature = loaded
        .feature_or(plan.feature.as_deref())
        .context_with(|| format!("model {}", plan.model.display()))?;
    let dim = loaded.model.config().embedding_dim();
    let collection = Collection::new(&plan.rootpath, &plan.collection);
    let videos = BigFileVideos::open(&collection, &feature, None).context_with(|| {
        format!(
            "reading the videos of {} (feature {feature})",
            collection.dir().display()
        )
    })?;
    if videos.ids().is_empty() {
        return Err(Error::Invalid(format!(
            "{}: the collection has no video (video2frames of feature {feature} is empty)",
            collection.dir().display()
        )));
    }
    let mut writer = open_writer(plan, &model_ref, dim, videos.ids())?;
    let (total, started) = (videos.len(), Instant::now());
    let mut done = 0;
    let embeddings = encode_videos_alone(&loaded.model, &videos, &plan.encode, &mut |n| {
        done += n;
        progress(IndexProgress::Encoding { done, total });
    })
    .context_with(|| format!("encoding the videos of {}", plan.collection))?;
    let encode_seconds = started.elapsed().as_secs_f64();
    let meta = CollectionMeta::new(&plan.collection, &feature).with_encoding(plan.encoding_label());
    let written = || format!("writing the index {}", plan.out.display());
    writer.start_collection(meta).context_with(written)?;
    writer
        .add_batch(videos.ids(), &embeddings)
        .context_with(|| format!("adding {} to {}", plan.collection, plan.out.display()))?;
    let mut manifest = writer.commit().context_with(written)?;
    tracing::info!(
        videos = total,
        seconds = encode_seconds,
        "collection indexed"
    );
    let mut graph_seconds = None;
    if plan.ann {
        let started = Instant::now();
        manifest = build_graph(&plan.out, progress)?;
        graph_seconds = Some(started.elapsed().as_secs_f64());
    }
    Ok(IndexReport {
        videos: total,
        encode_seconds,
        graph_seconds,
        manifest,
    })
}

/// A writer for a new index, or for appending to the existing one after checking (before
/// any encoding) that none of `ids` is in it already and that the dimensions agree.
fn open_writer(
    plan: &IndexPlan,
    model_ref: &str,
    dim: usize,
    ids: &[String],
) -> Result<IndexWriter> {
    if !plan.append {
        return IndexWriter::create(&plan.out, dim, model_ref).context_with(|| {
            format!(
                "creating the index {} (give --append to add to an existing index)",
                plan.out.display()
            )
        });
    }
    let index = read_index(&plan.out)?;
    if index.dim() != dim {
        return Err(Error::Invalid(format!(
            "{}: the index holds {}-d embeddings but the model {} gives {dim}-d ones",
            plan.out.display(),
            index.dim(),
            plan.model.display()
        )));
    }
    check_no_duplicates(&index, &plan.collection, ids)?;
    IndexWriter::append(&plan.out, model_ref)
        .context_with(|| format!("opening {} for appending", plan.out.display()))
}

/// The model folder as the manifest records it: an absolute path, so that the index can be
/// searched from any working directory.
fn model_reference(model: &Path) -> Result<String> {
    let absolute = std::fs::canonicalize(model)
        .context_with(|| format!("model folder {}", model.display()))?;
    absolute
        .to_str()
        .map(str::to_string)
        .ok_or(Error::Path(absolute.clone()))
}

/// Refuses to append a collection whose videos are already indexed, naming the first one,
/// the collection holding it and how many are affected.
fn check_no_duplicates(index: &Index, collection: &str, ids: &[String]) -> Result<()> {
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
    Err(Error::Invalid(format!(
        "duplicate video id {first:?}: already in collection {:?} of the index {} \
         ({total} of the {} videos of {collection} are indexed already; an index holds each \
         video once)",
        owning_collection(index.manifest(), row),
        index.dir().display(),
        ids.len()
    )))
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

/// Builds or extends the HNSW graph of the index in `dir`; returns the updated manifest.
pub fn build_graph(dir: &Path, progress: &(dyn Fn(IndexProgress) + Sync)) -> Result<Manifest> {
    let mut index = read_index(dir)?;
    let total = index.len();
    index
        .build_ann(AnnParams::default(), &|done| {
            progress(IndexProgress::Graph { done, total })
        })
        .context_with(|| format!("building the ANN graph of {}", dir.display()))?;
    Ok(index.manifest().clone())
}
