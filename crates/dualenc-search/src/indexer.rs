//! Indexing a collection: every video of its video2frames encoded with a model (batched as
//! the original's predictor, or batch-independent) and written to a new search index or
//! appended to one built with the same model, optionally with the HNSW graph for approximate
//! search.
//!
//! The manifest records the model folder as an absolute path, so that `search` and `serve`
//! need only the index. Where the collection has captions (`TextData/C.caption.txt`), the
//! index keeps each video's first caption (in file order) to show beside its results.
//!
//! [`check_model_feature`] compares a model's frame feature (name and dimension) with a
//! collection's, for `dualenc check --model`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use dualenc_data::captions::{read_captions, video_id_of};
use dualenc_data::check::CheckReport;
use dualenc_data::Collection;
use dualenc_dataset::{BigFileVideos, VideoSource};
use dualenc_index::{AnnParams, CollectionMeta, Index, IndexWriter, Manifest};
use dualenc_infer::{encode_videos_alone, EncodeOptions, LoadedModel, PaddingMode};
use dualenc_model::{ModelBackend, RunConfig};
use serde::Serialize;

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
    /// Videos of the collection given a caption (0 when it has no caption file).
    pub captions: usize,
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
    if let Some(warning) = feature_warning(&plan.model, loaded.feature(), &feature) {
        tracing::warn!("{warning}");
    }
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
    let captions = add_first_captions(&mut writer, &collection, videos.ids())?;
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
        captions,
        manifest,
    })
}

/// Gives each video of `ids` the first caption (in file order) of the collection's caption
/// file, when it has one; returns how many videos got a caption. A caption file that cannot
/// be read is a warning: the videos are indexed without captions.
fn add_first_captions(
    writer: &mut IndexWriter,
    collection: &Collection,
    ids: &[String],
) -> Result<usize> {
    let path = collection.caption_path();
    if !path.exists() {
        return Ok(0);
    }
    let captions = match read_captions(&path) {
        Ok(captions) => captions,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "the collection's captions cannot be read; indexing without them");
            return Ok(0);
        }
    };
    let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut captioned = HashSet::new();
    for caption in &captions {
        let id = video_id_of(&caption.id);
        if wanted.contains(id) && captioned.insert(id) {
            writer
                .set_caption(id, &caption.text)
                .context_with(|| format!("captioning video {id}"))?;
        }
    }
    Ok(captioned.len())
}

/// What [`check_model_feature`] found: a model's frame feature against the collections'.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelFeatureCheck {
    /// The model folder.
    pub model: PathBuf,
    /// The frame feature the model was trained on, as its `config.json` records it
    /// (`visual_feature`); `None` when it does not.
    pub model_feature: Option<String>,
    /// The frame dimension the model's video encoder takes (`visual_feat_dim`).
    pub model_dim: usize,
    /// The feature the collections were checked with.
    pub feature: String,
    /// Suspicious but tolerated: the model was trained on a feature of another name.
    pub warnings: Vec<String>,
    /// Unusable: a collection's feature dimension is not the model's.
    pub problems: Vec<String>,
}

impl ModelFeatureCheck {
    /// True when no problem was found (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Compares the model folder `model` (its `config.json` only; the weights are not read) with
/// the collections of a format check: a feature name other than the model's (when its
/// config records one) is a warning naming both, a collection whose feature dimension is
/// not the model's frame dimension is a problem (the model cannot encode its videos).
pub fn check_model_feature(model: &Path, report: &CheckReport) -> Result<ModelFeatureCheck> {
    let config = RunConfig::read(model)
        .map_err(dualenc_infer::InferError::from)
        .context_with(|| format!("reading the options of the model {}", model.display()))?;
    let model_feature = config.feature().map(str::to_owned);
    let model_dim = config.model.visual_feat_dim;
    let warnings = feature_warning(model, model_feature.as_deref(), &report.feature)
        .into_iter()
        .collect();
    let problems = report
        .collections
        .iter()
        .filter_map(|c| Some((c, c.dim?)))
        .filter(|(_, dim)| *dim != model_dim)
        .map(|(c, dim)| {
            format!(
                "{}: feature {} has {dim}-d frames but the model {} takes {model_dim}-d frames",
                c.name,
                report.feature,
                model.display()
            )
        })
        .collect();
    Ok(ModelFeatureCheck {
        model: model.to_path_buf(),
        model_feature,
        model_dim,
        feature: report.feature.clone(),
        warnings,
        problems,
    })
}

/// The warning when `feature` is not the feature the model (folder `model`) was trained on
/// (`model_feature`, when known).
fn feature_warning(model: &Path, model_feature: Option<&str>, feature: &str) -> Option<String> {
    let trained = model_feature.filter(|trained| *trained != feature)?;
    Some(format!(
        "the model {} was trained on feature {trained} but feature {feature} is used; \
         its embeddings of these videos may mean little",
        model.display()
    ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use dualenc_data::check::CollectionReport;

    /// A model folder holding only `config.json`, trained on `feature` (if any) of `dim`-d
    /// frames.
    fn model_dir(feature: Option<&str>, dim: usize) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = RunConfig::default();
        config.model.visual_feat_dim = dim;
        if let Some(feature) = feature {
            config
                .extra
                .insert("visual_feature".into(), feature.to_owned().into());
        }
        let text = serde_json::to_string(&config).expect("json");
        std::fs::write(dir.path().join("config.json"), text).expect("write");
        dir
    }

    /// A passed format check of `feature` with collections of these dimensions.
    fn report(feature: &str, dims: &[(&str, Option<usize>)]) -> CheckReport {
        let collections = dims
            .iter()
            .map(|(name, dim)| CollectionReport {
                name: name.to_string(),
                roles: Vec::new(),
                videos: Some(2),
                captions: Some(2),
                frames: Some(4),
                dim: *dim,
                used_video2frames: true,
                problems: Vec::new(),
                warnings: Vec::new(),
            })
            .collect();
        CheckReport {
            feature: feature.to_owned(),
            collections,
            problems: Vec::new(),
        }
    }

    #[test]
    fn another_feature_name_is_a_warning_naming_both() {
        let model = model_dir(Some("resnet"), 3);
        let check =
            check_model_feature(model.path(), &report("i3d", &[("tr", Some(3))])).expect("check");
        assert!(check.is_ok());
        assert_eq!(check.model_feature.as_deref(), Some("resnet"));
        assert_eq!(check.warnings.len(), 1);
        let warning = &check.warnings[0];
        assert!(
            warning.contains("resnet") && warning.contains("i3d"),
            "{warning}"
        );
    }

    #[test]
    fn the_same_feature_or_an_unrecorded_one_is_fine() {
        for feature in [Some("resnet"), None] {
            let model = model_dir(feature, 3);
            let check = check_model_feature(model.path(), &report("resnet", &[("tr", Some(3))]))
                .expect("check");
            assert!(check.is_ok() && check.warnings.is_empty(), "{check:?}");
        }
    }

    #[test]
    fn another_dimension_is_a_problem() {
        let model = model_dir(Some("resnet"), 2048);
        let dims = [("tr", Some(3)), ("va", Some(2048)), ("te", None)];
        let check = check_model_feature(model.path(), &report("resnet", &dims)).expect("check");
        assert!(!check.is_ok());
        assert_eq!(check.problems.len(), 1, "{check:?}");
        assert!(
            check.problems[0].starts_with("tr: "),
            "{}",
            check.problems[0]
        );
        assert!(check.problems[0].contains("2048"), "{}", check.problems[0]);
    }

    #[test]
    fn a_folder_without_options_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let error = check_model_feature(dir.path(), &report("resnet", &[])).expect_err("no config");
        assert!(error.to_string().contains("config.json"), "{error}");
    }
}
