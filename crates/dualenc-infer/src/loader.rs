//! Reading a collection for encoding: captions, the frame BigFile and video2frames.
//!
//! Frames stay in the memory-mapped BigFile and are gathered batch by batch, so a collection
//! far larger than memory (IACC.3) can be encoded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use dualenc_data::captions::read_captions;
use dualenc_data::{video_id_of, BigFile, Collection, Video2Frames};
use dualenc_model::VideoFrames;

use crate::encode::{PairData, VideoSource};
use crate::error::{InferError, Result};
use crate::vocab::ModelVocab;

/// Reads `FeatureData/FEATURE/video2frames.txt` (the original's dict literal) or, when absent,
/// `video2frames.json`; returns it with the path read.
pub fn read_video2frames(
    collection: &Collection,
    feature: &str,
) -> Result<(Video2Frames, PathBuf)> {
    let txt = collection.video2frames_path(feature);
    let json = collection.video2frames_json_path(feature);
    let path = if !txt.is_file() && json.is_file() {
        json
    } else {
        txt
    };
    Ok((Video2Frames::read(&path)?, path))
}

/// Videos whose frames are rows of a memory-mapped BigFile.
pub struct BigFileVideos {
    bigfile: BigFile,
    ids: Vec<String>,
    rows: Vec<Vec<usize>>,
}

impl std::fmt::Debug for BigFileVideos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigFileVideos")
            .field("bigfile", &self.bigfile.dir())
            .field("videos", &self.ids.len())
            .finish()
    }
}

impl BigFileVideos {
    /// Opens the collection's feature BigFile and resolves the frames of `videos` (every video
    /// of video2frames, in its order, when `None`). A video absent from video2frames or a
    /// frame absent from the BigFile is an error naming it.
    pub fn open(collection: &Collection, feature: &str, videos: Option<&[String]>) -> Result<Self> {
        let (v2f, v2f_path) = read_video2frames(collection, feature)?;
        let bigfile = BigFile::open(collection.feature_dir(feature))?;
        let ids: Vec<String> = match videos {
            Some(list) => list.to_vec(),
            None => v2f.iter().map(|(v, _)| v.to_string()).collect(),
        };
        let rows = ids
            .iter()
            .map(|id| {
                let frames = v2f.frames(id).ok_or_else(|| InferError::UnknownVideo {
                    video_id: id.clone(),
                    source_file: v2f_path.clone(),
                })?;
                frame_rows(&bigfile, id, frames)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { bigfile, ids, rows })
    }

    /// The video ids, in order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Feature dimension of the frames.
    pub fn dim(&self) -> usize {
        self.bigfile.dim()
    }
}

/// BigFile rows of a video's frames; at least one frame.
fn frame_rows(bigfile: &BigFile, video: &str, frames: &[String]) -> Result<Vec<usize>> {
    if frames.is_empty() {
        return Err(InferError::Invalid(format!(
            "video {video} lists no frame in video2frames"
        )));
    }
    frames
        .iter()
        .map(|f| {
            bigfile.index_of(f).ok_or_else(|| InferError::MissingFrame {
                video_id: video.to_string(),
                frame_id: f.clone(),
                bigfile: bigfile.dir().to_path_buf(),
            })
        })
        .collect()
}

impl VideoSource for BigFileVideos {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn id(&self, index: usize) -> &str {
        self.ids.get(index).map_or("", String::as_str)
    }

    fn frame_count(&self, index: usize) -> usize {
        self.rows.get(index).map_or(0, Vec::len)
    }

    fn frames(&self, index: usize) -> Result<VideoFrames> {
        let rows = self
            .rows
            .get(index)
            .ok_or_else(|| InferError::Invalid(format!("no video at index {index}")))?;
        let mut data = vec![0.0f32; rows.len() * self.bigfile.dim()];
        self.bigfile.gather_into(rows, &mut data)?;
        Ok(VideoFrames::new(data, self.bigfile.dim())?)
    }
}

/// Reads a collection's captions (file order) with their videos' frames: the input of
/// [`crate::encode::encode_collection_pairs`]. Videos are listed in order of their first
/// caption. A caption whose video has no frames is an error naming the caption.
pub fn load_pair_data(
    collection: &Collection,
    feature: &str,
    vocab: &ModelVocab,
) -> Result<PairData> {
    let caption_path = collection.caption_path();
    let captions = read_captions(&caption_path)?;
    if captions.is_empty() {
        return Err(InferError::Invalid(format!(
            "{}: no caption",
            caption_path.display()
        )));
    }
    let (v2f, v2f_path) = read_video2frames(collection, feature)?;
    let mut video_index: HashMap<String, usize> = HashMap::new();
    let mut video_ids = Vec::new();
    let mut caption_video = Vec::with_capacity(captions.len());
    for caption in &captions {
        let video = video_id_of(&caption.id);
        if v2f.frames(video).is_none_or(<[String]>::is_empty) {
            return Err(InferError::VideoWithoutFrames {
                caption_id: caption.id.clone(),
                video_id: video.to_string(),
                source_file: v2f_path,
            });
        }
        let next = video_ids.len();
        let index = *video_index.entry(video.to_string()).or_insert_with(|| {
            video_ids.push(video.to_string());
            next
        });
        caption_video.push(index);
    }
    let videos = BigFileVideos::open(collection, feature, Some(&video_ids))?;
    check_dim(&videos, &collection.feature_dir(feature))?;
    let set = vocab.encode_all(captions.iter().map(|c| (c.id.as_str(), c.text.as_str())));
    PairData::new(set, caption_video, Box::new(videos))
}

/// A BigFile with zero-dimensional rows cannot feed the network.
fn check_dim(videos: &BigFileVideos, dir: &Path) -> Result<()> {
    if videos.dim() == 0 {
        return Err(InferError::Invalid(format!(
            "{}: the BigFile has 0-dimensional features",
            dir.display()
        )));
    }
    Ok(())
}
