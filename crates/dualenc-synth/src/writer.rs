//! Lays a generated data set out as VisualSearch collections (docs/data.md, "Data layout").
//!
//! Per collection `C` (`{prefix}train`, `{prefix}val`, `{prefix}test`):
//! `C/FeatureData/FEAT/{feature.bin,shape.txt,id.txt,video2frames.txt}`,
//! `C/ImageSets/C.txt` and `C/TextData/C.caption.txt`. The test collection also gets its
//! shot list `VideoSets/C.txt` and, in `TextData/`, the labels of all three collections
//! (`{prefix}.labels.json`) and, with AVS topics, `{prefix}.avs.txt` and
//! `avs.qrels.{prefix}`. Every file is written atomically.

use crate::config::SynthConfig;
use crate::dataset::{SynthCollection, SynthSplit};
use crate::error::{Result, SynthError};
use dualenc_data::captions::{write_captions, write_image_set, write_topics};
use dualenc_data::collection::Collection;
use dualenc_data::{AvsTopic, BigFileWriter, Caption, Video2Frames};
use serde::Serialize;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// What one collection received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CollectionSummary {
    /// Collection name.
    pub name: String,
    /// Its folder.
    pub dir: PathBuf,
    /// Videos.
    pub videos: usize,
    /// Frames (BigFile rows).
    pub frames: usize,
    /// Captions.
    pub captions: usize,
}

/// What [`generate`] wrote, for printing and for callers (e.g. a demo) that go on to use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SynthSummary {
    /// The VisualSearch root written to.
    pub root: PathBuf,
    /// Feature name under `FeatureData/`.
    pub feature: String,
    /// Feature dimension.
    pub dim: usize,
    /// The seed used.
    pub seed: u64,
    /// Train, val and test.
    pub collections: Vec<CollectionSummary>,
    /// The labels file (all three collections).
    pub labels_file: PathBuf,
    /// The test collection's shot list.
    pub shots_file: PathBuf,
    /// AVS topics file, when topics were asked for.
    pub topics_file: Option<PathBuf>,
    /// AVS qrels file, when topics were asked for.
    pub qrels_file: Option<PathBuf>,
    /// Number of AVS topics.
    pub topics: usize,
    /// Number of qrels lines.
    pub qrels: usize,
}

/// Generates the data set `cfg` describes and writes it under `root`.
pub fn generate(root: &Path, cfg: &SynthConfig) -> Result<SynthSummary> {
    generate_with_progress(root, cfg, &mut |_, _| {})
}

/// As [`generate`], calling `progress(videos_written, videos_total)` after each video.
pub fn generate_with_progress(
    root: &Path,
    cfg: &SynthConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<SynthSummary> {
    // Generate first: a config error must not cost the user an existing collection.
    let data = SynthCollection::generate(cfg)?;
    prepare_folders(root, cfg)?;
    write_collection(root, &data, progress)
}

/// Writes an already generated data set under `root` (existing files are replaced).
pub fn write_collection(
    root: &Path,
    data: &SynthCollection,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<SynthSummary> {
    let cfg = &data.config;
    let total = cfg.videos.total();
    let mut done = 0;
    let mut collections = Vec::with_capacity(data.splits.len());
    for split in &data.splits {
        let collection = Collection::new(root, split.name.as_str());
        write_split(&collection, data, split, &mut |n| progress(done + n, total))?;
        done += split.videos.len();
        tracing::info!(collection = %split.name, videos = split.videos.len(), "collection written");
        collections.push(CollectionSummary {
            name: split.name.clone(),
            dir: collection.dir(),
            videos: split.videos.len(),
            frames: split.n_frames(),
            captions: split.videos.iter().map(|v| v.captions.len()).sum(),
        });
    }
    let test = Collection::new(root, data.test().name.as_str());
    let text_dir = test.dir().join("TextData");
    let shots_file = test
        .dir()
        .join("VideoSets")
        .join(format!("{}.txt", test.name));
    let ids: Vec<&str> = data.test().videos.iter().map(|v| v.id.as_str()).collect();
    write_image_set(&shots_file, &ids)?;
    let labels_file = text_dir.join(format!("{}.labels.json", cfg.prefix));
    data.labels().write(&labels_file)?;
    let (topics_file, qrels_file) = write_avs(&text_dir, data)?;
    Ok(SynthSummary {
        root: root.to_owned(),
        feature: cfg.feature.clone(),
        dim: cfg.dim,
        seed: cfg.seed,
        collections,
        labels_file,
        shots_file,
        topics_file,
        qrels_file,
        topics: data.topics.len(),
        qrels: data.qrels.len(),
    })
}

/// Refuses existing collection folders unless `overwrite`; with it, removes them so that
/// no file of an earlier run (a vocabulary, old qrels) survives next to the new data.
fn prepare_folders(root: &Path, cfg: &SynthConfig) -> Result<()> {
    for name in cfg.collection_names() {
        let dir = root.join(&name);
        if !dir.exists() {
            continue;
        }
        if !cfg.overwrite {
            return Err(SynthError::Exists { path: dir });
        }
        tracing::info!(dir = %dir.display(), "removing the earlier collection");
        std::fs::remove_dir_all(&dir).map_err(|e| SynthError::io(&dir, e))?;
    }
    Ok(())
}

/// Writes one collection: features, video2frames, image set and captions.
fn write_split(
    collection: &Collection,
    data: &SynthCollection,
    split: &SynthSplit,
    progress: &mut dyn FnMut(usize),
) -> Result<()> {
    let cfg = &data.config;
    let feature_dir = collection.feature_dir(&cfg.feature);
    let mut writer = BigFileWriter::create(&feature_dir, cfg.dim)?;
    let mut frame_ids = Vec::with_capacity(split.n_frames());
    for (i, video) in split.videos.iter().enumerate() {
        for (j, frame) in data.frames(video).chunks_exact(cfg.dim).enumerate() {
            let id = video.frame_id(j);
            writer.push(&id, frame)?;
            frame_ids.push(id);
        }
        progress(i + 1);
    }
    writer.finish()?;
    let v2f_path = collection.video2frames_path(&cfg.feature);
    Video2Frames::from_frame_ids(frame_ids.iter().map(String::as_str), &v2f_path)?
        .write_dict_literal(&v2f_path)?;
    let ids: Vec<&str> = split.videos.iter().map(|v| v.id.as_str()).collect();
    write_image_set(collection.image_set_path(), &ids)?;
    let captions: Vec<Caption> = split
        .videos
        .iter()
        .flat_map(|v| {
            v.captions.iter().enumerate().map(|(j, text)| Caption {
                id: v.caption_id(j),
                text: text.clone(),
            })
        })
        .collect();
    write_captions(collection.caption_path(), &captions)?;
    Ok(())
}

/// Writes the AVS topics and qrels into `text_dir` when there are topics; returns their paths.
fn write_avs(
    text_dir: &Path,
    data: &SynthCollection,
) -> Result<(Option<PathBuf>, Option<PathBuf>)> {
    if data.topics.is_empty() {
        return Ok((None, None));
    }
    let prefix = &data.config.prefix;
    let topics_file = text_dir.join(format!("{prefix}.avs.txt"));
    let topics: Vec<AvsTopic> = data
        .topics
        .iter()
        .map(|t| AvsTopic {
            number: t.number.to_string(),
            query: t.query.clone(),
        })
        .collect();
    write_topics(&topics_file, &topics)?;
    let qrels_file = text_dir.join(format!("avs.qrels.{prefix}"));
    dualenc_data::atomic::write_atomic(&qrels_file, |w| {
        data.qrels
            .iter()
            .try_for_each(|q| writeln!(w, "{}", q.line()))
    })
    .map_err(|e| SynthError::io(&qrels_file, e))?;
    Ok((Some(topics_file), Some(qrels_file)))
}
