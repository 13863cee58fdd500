//! Caption-video pairs: what training, validation and testing read from a collection.

use std::collections::HashMap;
use std::path::Path;

use dualenc_data::captions::read_captions;
use dualenc_data::{video_id_of, Collection};

use crate::captions::CaptionSet;
use crate::error::{DatasetError, Result};
use crate::videos::{read_video2frames, BigFileVideos, VideoSource};
use crate::vocab::ModelVocab;

/// Caption-video pairs of a collection: captions in file order, each pointing at its video.
pub struct PairData {
    /// Captions in file order.
    pub captions: CaptionSet,
    /// For caption `i`, the index of its video in `videos`.
    pub caption_video: Vec<usize>,
    /// The distinct videos (usually in order of their first caption).
    pub videos: Box<dyn VideoSource>,
}

impl std::fmt::Debug for PairData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairData")
            .field("captions", &self.captions.len())
            .field("videos", &self.videos.len())
            .finish()
    }
}

impl PairData {
    /// Checks that every caption points at a video and every video has a caption.
    pub fn new(
        captions: CaptionSet,
        caption_video: Vec<usize>,
        videos: Box<dyn VideoSource>,
    ) -> Result<Self> {
        if caption_video.len() != captions.len() || captions.tokens.len() != captions.len() {
            return Err(DatasetError::Invalid(format!(
                "{} caption ids, {} encoded captions and {} caption-video links",
                captions.len(),
                captions.tokens.len(),
                caption_video.len()
            )));
        }
        if let Some((i, &v)) = caption_video
            .iter()
            .enumerate()
            .find(|(_, &v)| v >= videos.len())
        {
            return Err(DatasetError::Invalid(format!(
                "caption {} points at video {v}, but there are {} videos",
                captions.ids[i],
                videos.len()
            )));
        }
        let data = Self {
            captions,
            caption_video,
            videos,
        };
        if let Some(v) = data.first_captions().iter().position(Option::is_none) {
            return Err(DatasetError::Invalid(format!(
                "video {} has no caption",
                data.videos.id(v)
            )));
        }
        Ok(data)
    }

    /// For each video, the index of its first caption.
    pub fn first_captions(&self) -> Vec<Option<usize>> {
        let mut first = vec![None; self.videos.len()];
        for (i, &v) in self.caption_video.iter().enumerate() {
            if let Some(slot @ None) = first.get_mut(v) {
                *slot = Some(i);
            }
        }
        first
    }
}

/// Reads a collection's captions (file order) with their videos' frames: the input of
/// the encoders (`dualenc_infer::encode_collection_pairs`). Videos are listed in order of their first
/// caption. A caption whose video has no frames is an error naming the caption.
pub fn load_pair_data(
    collection: &Collection,
    feature: &str,
    vocab: &ModelVocab,
) -> Result<PairData> {
    let caption_path = collection.caption_path();
    let captions = read_captions(&caption_path)?;
    if captions.is_empty() {
        return Err(DatasetError::Invalid(format!(
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
            return Err(DatasetError::VideoWithoutFrames {
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
        return Err(DatasetError::Invalid(format!(
            "{}: the BigFile has 0-dimensional features",
            dir.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::captions::CaptionTokens;
    use crate::frames::VideoFrames;
    use crate::videos::InMemoryVideos;

    #[test]
    fn pair_data_rejects_videos_without_captions() {
        let frames = VideoFrames::new(vec![0.0; 2], 2).unwrap();
        let videos =
            InMemoryVideos::new(vec!["v0".into(), "v1".into()], vec![frames.clone(), frames])
                .unwrap();
        let captions = CaptionSet {
            ids: vec!["v0#enc#0".into()],
            tokens: vec![CaptionTokens::from_dense(vec![1, 2], &[0.0])],
            bow_dim: 1,
        };
        let err = PairData::new(captions, vec![0], Box::new(videos)).unwrap_err();
        assert!(err.to_string().contains("video v1 has no caption"), "{err}");
    }
}
