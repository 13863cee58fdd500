//! The videos of a collection: ids and frame features, read on demand from a memory-mapped
//! BigFile (a collection can be far larger than memory: IACC.3) or held in memory.

use std::path::PathBuf;

use dualenc_data::{BigFile, Collection, Video2Frames};

use crate::error::{DatasetError, Result};
use crate::frames::VideoFrames;

/// A list of videos whose frames are read on demand (a collection can be far larger than
/// memory).
pub trait VideoSource: Send + Sync {
    /// Number of videos.
    fn len(&self) -> usize;
    /// True when there is no video.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Id of video `index`.
    fn id(&self, index: usize) -> &str;
    /// Number of frames of video `index` (without reading them).
    fn frame_count(&self, index: usize) -> usize;
    /// The frames of video `index`.
    fn frames(&self, index: usize) -> Result<VideoFrames>;
    /// Refuses frames holding NaN or infinity; the error names the first such video and
    /// frame. The default reads every video.
    fn check_finite(&self) -> Result<()> {
        (0..self.len()).try_for_each(|v| self.frames(v).map(drop))
    }
}

/// Videos held in memory (tests, synthetic data, small validation sets).
#[derive(Debug, Clone, Default)]
pub struct InMemoryVideos {
    ids: Vec<String>,
    frames: Vec<VideoFrames>,
}

impl InMemoryVideos {
    /// Pairs ids with frames; both lists must have the same length.
    pub fn new(ids: Vec<String>, frames: Vec<VideoFrames>) -> Result<Self> {
        if ids.len() != frames.len() {
            return Err(DatasetError::Invalid(format!(
                "{} video ids but {} frame lists",
                ids.len(),
                frames.len()
            )));
        }
        Ok(Self { ids, frames })
    }
}

impl VideoSource for InMemoryVideos {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn id(&self, index: usize) -> &str {
        self.ids.get(index).map_or("", String::as_str)
    }

    fn frame_count(&self, index: usize) -> usize {
        self.frames.get(index).map_or(0, VideoFrames::frames)
    }

    fn frames(&self, index: usize) -> Result<VideoFrames> {
        self.frames
            .get(index)
            .cloned()
            .ok_or_else(|| DatasetError::Invalid(format!("no video at index {index}")))
    }
}

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
                let frames = v2f.frames(id).ok_or_else(|| DatasetError::UnknownVideo {
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
        return Err(DatasetError::Invalid(format!(
            "video {video} lists no frame in video2frames"
        )));
    }
    frames
        .iter()
        .map(|f| {
            bigfile
                .index_of(f)
                .ok_or_else(|| DatasetError::MissingFrame {
                    video_id: video.to_string(),
                    frame_id: f.clone(),
                    bigfile: bigfile.dir().to_path_buf(),
                })
        })
        .collect()
}

impl VideoSource for BigFileVideos {
    /// Refuses frames holding NaN or infinity among these videos' (a full scan of the
    /// memory-mapped rows they use, in parallel): the error names the first such video and
    /// frame. Training calls it before the first epoch; encoding checks each frame it reads.
    fn check_finite(&self) -> Result<()> {
        let bad: std::collections::HashSet<usize> =
            self.bigfile.scan_non_finite().into_iter().collect();
        if bad.is_empty() {
            return Ok(());
        }
        for (video, rows) in self.rows.iter().enumerate() {
            if let Some(&row) = rows.iter().find(|r| bad.contains(r)) {
                return Err(DatasetError::NonFiniteFrame {
                    video_id: self.ids[video].clone(),
                    frame_id: self.bigfile.ids().get(row).cloned().unwrap_or_default(),
                    bigfile: self.bigfile.dir().to_path_buf(),
                });
            }
        }
        Ok(())
    }

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
            .ok_or_else(|| DatasetError::Invalid(format!("no video at index {index}")))?;
        let dim = self.bigfile.dim();
        let mut data = vec![0.0f32; rows.len() * dim];
        self.bigfile.gather_into(rows, &mut data)?;
        if let Some(bad) = data.iter().position(|x| !x.is_finite()) {
            let row = rows[bad / dim.max(1)];
            return Err(DatasetError::NonFiniteFrame {
                video_id: self.id(index).to_string(),
                frame_id: self.bigfile.ids().get(row).cloned().unwrap_or_default(),
                bigfile: self.bigfile.dir().to_path_buf(),
            });
        }
        VideoFrames::new(data, dim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dualenc_data::BigFileWriter;

    /// A collection with videos `v0` (frames 0, 1) and `v1` (frames 0, 1), frame `v1_1`
    /// holding `bad`.
    fn collection(bad: f32) -> (tempfile::TempDir, Collection) {
        let dir = tempfile::tempdir().unwrap();
        let coll = Collection::new(dir.path(), "c");
        let mut w = BigFileWriter::create(coll.feature_dir("f"), 2).unwrap();
        for (id, row) in [
            ("v0_0", [0.0, 1.0]),
            ("v0_1", [1.0, 2.0]),
            ("v1_0", [2.0, 3.0]),
            ("v1_1", [bad, 4.0]),
        ] {
            w.push(id, &row).unwrap();
        }
        w.finish().unwrap();
        dualenc_data::write_frame_info(&coll, "f").unwrap();
        (dir, coll)
    }

    #[test]
    fn non_finite_frames_are_refused_by_name() {
        for bad in [f32::NAN, f32::INFINITY] {
            let (_dir, coll) = collection(bad);
            let videos = BigFileVideos::open(&coll, "f", None).unwrap();
            assert!(videos.frames(0).is_ok());
            let err = videos.frames(1).unwrap_err().to_string();
            assert!(err.contains("video v1: frame v1_1"), "{err}");
            let err = videos.check_finite().unwrap_err().to_string();
            assert!(
                err.contains("video v1: frame v1_1") && err.contains("NaN or infinity"),
                "{err}"
            );
        }
        let (_dir, coll) = collection(5.0);
        let videos = BigFileVideos::open(&coll, "f", None).unwrap();
        assert!(videos.check_finite().is_ok());
    }
}
