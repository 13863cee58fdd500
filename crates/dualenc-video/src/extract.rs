//! `dualenc extract`: a list of videos in, a VisualSearch collection out.
//!
//! For each video: probe, decode, keep the sampled frames, preprocess them into crops,
//! encode the crops in batches, average each frame's crop features into one row, write a
//! thumbnail, then the video's part file `FEATURE_DIR/.extract-parts/VIDEO.part`
//! (atomically: one JSON header line with the frame numbers, then the rows as
//! little-endian f32; `settings.json` beside the parts records the settings, and a rerun
//! with other settings is refused). Videos whose part exists are skipped, so a rerun
//! resumes and a killed run loses at most the video in flight. A video that cannot be
//! decoded is reported and left out; an encoder failure stops the run (the finished
//! videos stay as parts).
//!
//! When every video has been seen, the parts are assembled into the feature folder
//! `ROOT/C/FeatureData/NAME/` (`feature.bin`, `shape.txt`, `id.txt`, `video2frames.txt`),
//! which replaces any earlier one whole, and `ROOT/C/ImageSets/C.txt` lists the videos.
//! The parts are then discarded, unless some video failed: they are kept inside the new
//! feature folder so that a rerun only retries the failed videos. One run at a time may
//! write a feature folder.

use std::path::{Path, PathBuf};
use std::time::Instant;

use dualenc_data::bigfile::FEATURE_FILE;
use dualenc_data::{BigFileWriter, Collection, Video2Frames};
use serde::Serialize;

use crate::decode::FrameDecoder;
use crate::encoder::FrameEncoder;
use crate::error::{Result, VideoError};
use crate::ffmpeg::Ffmpeg;
use crate::input::{check_unique, VideoInput};
use crate::parts::{self, PartHeader, PARTS_DIR};
use crate::preprocess::{Crops, Normalization, Preprocessor, ResizeMode, RgbImage};
use crate::sampling::{frame_id, FrameSampler, DEFAULT_RATE};

/// Default batch size, in images (12 frames of ten crops).
pub const DEFAULT_BATCH_IMAGES: usize = 128;

/// How frames are chosen, prepared and batched.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractOptions {
    /// Frames kept per second of video (see [`crate::sampling`]); 2 is the original's rule.
    pub fps: f64,
    /// How a frame becomes a square.
    pub resize: ResizeMode,
    /// Which crops of the square are encoded.
    pub crops: Crops,
    /// The normalisation the encoder expects.
    pub normalization: Normalization,
    /// Images per encoder call; rounded down to whole frames (at least one frame).
    pub batch_size: usize,
    /// Discard the parts of an earlier run and replace a finished feature folder.
    pub overwrite: bool,
}

impl Default for ExtractOptions {
    /// The original extractor's sampling, square resize and ten crops, with ImageNet
    /// normalisation (set [`Normalization::raw`] for the original's MXNet network).
    fn default() -> Self {
        ExtractOptions {
            fps: DEFAULT_RATE,
            resize: ResizeMode::Square,
            crops: Crops::Ten,
            normalization: Normalization::imagenet(),
            batch_size: DEFAULT_BATCH_IMAGES,
            overwrite: false,
        }
    }
}

impl ExtractOptions {
    /// Refuses a rate that is not positive and finite, a batch size of 0, a normalisation
    /// that divides by zero or is not finite.
    pub fn validate(&self) -> Result<()> {
        if !(self.fps.is_finite() && self.fps > 0.0) {
            return Err(VideoError::InvalidOption(format!(
                "fps must be a positive number, got {}",
                self.fps
            )));
        }
        if self.batch_size == 0 {
            return Err(VideoError::InvalidOption(
                "batch size must be at least 1".into(),
            ));
        }
        let n = &self.normalization;
        let finite = n.scale.is_finite() && n.mean.iter().chain(&n.std).all(|v| v.is_finite());
        if !finite || n.std.contains(&0.0) {
            return Err(VideoError::InvalidOption(format!(
                "normalisation needs finite values and non-zero std, got {n:?}"
            )));
        }
        Ok(())
    }
}

/// What happened to a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoStatus {
    /// Extracted in this run.
    Ok,
    /// Already extracted by an earlier run (its part was found).
    Skipped,
    /// Could not be decoded; left out of the collection.
    Failed,
}

/// Progress of a run, for a progress display.
#[derive(Debug, Clone, PartialEq)]
pub enum ExtractEvent {
    /// A video is about to be processed.
    VideoStarted {
        /// 0-based position in the input list.
        index: usize,
        /// Number of input videos.
        total: usize,
        /// The video id.
        video: String,
    },
    /// A batch of a video's frames was encoded.
    FramesEncoded {
        /// The video id.
        video: String,
        /// Frames in this batch.
        frames: usize,
    },
    /// A video is done.
    VideoFinished {
        /// 0-based position in the input list.
        index: usize,
        /// Number of input videos.
        total: usize,
        /// The video id.
        video: String,
        /// What happened.
        status: VideoStatus,
        /// Kept frames (0 when failed).
        frames: usize,
    },
    /// The parts are being assembled into the feature folder.
    Assembling {
        /// Videos in the collection.
        videos: usize,
        /// Frames (rows) in the collection.
        frames: usize,
    },
}

/// The outcome of one video.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoReport {
    /// The video id.
    pub video: String,
    /// The video file.
    pub path: PathBuf,
    /// What happened.
    pub status: VideoStatus,
    /// Kept frames (0 when failed).
    pub frames: usize,
    /// Seconds spent on it in this run.
    pub seconds: f64,
    /// Why it failed, or why an earlier part was not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExtractReport {
    /// The collection written.
    pub collection: String,
    /// The feature name.
    pub feature: String,
    /// The feature folder.
    pub feature_dir: PathBuf,
    /// Feature dimension.
    pub dim: usize,
    /// One entry per input video, in input order.
    pub videos: Vec<VideoReport>,
    /// Videos extracted in this run.
    pub ok: usize,
    /// Videos found done by an earlier run.
    pub skipped: usize,
    /// Videos that failed.
    pub failed: usize,
    /// Rows of the collection's feature file.
    pub frames: usize,
    /// Frames encoded in this run.
    pub encoded_frames: usize,
    /// Wall-clock seconds of the run.
    pub seconds: f64,
    /// Frames encoded per second in this run.
    pub frames_per_second: f64,
}

impl ExtractReport {
    /// Where a run's report goes unless told otherwise: `ROOT/C/extract.FEATURE.json`.
    pub fn default_path(root: &Path, collection: &str, feature: &str) -> PathBuf {
        root.join(collection)
            .join(format!("extract.{feature}.json"))
    }

    /// Writes the report as pretty JSON to `path`, atomically.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| {
            VideoError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        dualenc_data::atomic::write_bytes_atomic(path, &json).map_err(|e| VideoError::io(path, e))
    }
}

/// Extracts `videos` into the collection `collection` under the VisualSearch root `root`,
/// as feature `feature`, encoding frames with `encoder` (see the module docs). `progress`
/// receives [`ExtractEvent`]s. Fails without writing anything when the options or inputs
/// are invalid, ffmpeg is missing, or the feature folder is finished and `overwrite` is
/// off; fails after keeping the finished parts when the encoder fails.
pub fn extract_collection(
    videos: &[VideoInput],
    root: &Path,
    collection: &str,
    feature: &str,
    encoder: &mut dyn FrameEncoder,
    opts: &ExtractOptions,
    progress: &mut dyn FnMut(ExtractEvent),
) -> Result<ExtractReport> {
    let start = Instant::now();
    check_inputs(videos, encoder, opts)?;
    let ffmpeg = Ffmpeg::locate()?;
    let coll = Collection::new(root, collection);
    let feature_dir = coll.feature_dir(feature);
    let parts_dir = prepare_parts(&feature_dir, encoder, opts)?;
    let mut run = Run::new(ffmpeg, encoder, opts, parts_dir, &coll, progress);
    let reports = run.all_videos(videos, opts.fps)?;
    run.write_collection(&coll, &feature_dir, &reports)?;
    let dim = run.encoder.dim();
    Ok(summarise(
        &coll,
        feature,
        feature_dir,
        dim,
        reports,
        start.elapsed().as_secs_f64(),
    ))
}

/// Refuses invalid options, an empty or ambiguous input list and a degenerate encoder.
fn check_inputs(
    videos: &[VideoInput],
    encoder: &dyn FrameEncoder,
    opts: &ExtractOptions,
) -> Result<()> {
    opts.validate()?;
    if videos.is_empty() {
        return Err(VideoError::InvalidOption("no video to extract".into()));
    }
    if encoder.dim() == 0 || encoder.input_size() == 0 {
        return Err(VideoError::InvalidOption(format!(
            "the encoder reports dim {} and input size {}; both must be at least 1",
            encoder.dim(),
            encoder.input_size()
        )));
    }
    check_unique(videos)
}

/// Readies the work folder: refuses a finished feature folder without `overwrite` (unless
/// parts of an earlier run are there to resume), discards parts with `overwrite`, and
/// records or checks the settings the parts are made with.
fn prepare_parts(
    feature_dir: &Path,
    encoder: &dyn FrameEncoder,
    opts: &ExtractOptions,
) -> Result<PathBuf> {
    let dir = parts::parts_dir(feature_dir);
    if opts.overwrite && dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| VideoError::io(&dir, e))?;
    }
    let finished = feature_dir.join(FEATURE_FILE).exists();
    if finished && !dir.exists() && !opts.overwrite {
        return Err(VideoError::AlreadyExtracted {
            dir: feature_dir.to_owned(),
        });
    }
    std::fs::create_dir_all(&dir).map_err(|e| VideoError::io(&dir, e))?;
    let settings = serde_json::json!({
        "format": 1,
        "dim": encoder.dim(),
        "input_size": encoder.input_size(),
        "fps": opts.fps,
        "resize": opts.resize,
        "crops": opts.crops,
        "normalization": opts.normalization,
    });
    parts::ensure_settings(&dir, &settings)?;
    Ok(dir)
}

/// A run's fixed parts.
struct Run<'a> {
    ffmpeg: Ffmpeg,
    pre: Preprocessor,
    encoder: &'a mut dyn FrameEncoder,
    parts_dir: PathBuf,
    thumbnails: PathBuf,
    batch_frames: usize,
    progress: &'a mut dyn FnMut(ExtractEvent),
}

/// A video's kept frames and their averaged features.
struct Encoded {
    frames: Vec<u64>,
    rows: Vec<f32>,
}

impl<'a> Run<'a> {
    /// The run's parts; batches hold `opts.batch_size` images in whole frames.
    fn new(
        ffmpeg: Ffmpeg,
        encoder: &'a mut dyn FrameEncoder,
        opts: &ExtractOptions,
        parts_dir: PathBuf,
        coll: &Collection,
        progress: &'a mut dyn FnMut(ExtractEvent),
    ) -> Self {
        let pre = Preprocessor::new(
            encoder.input_size(),
            opts.resize,
            opts.crops,
            &opts.normalization,
        );
        Run {
            ffmpeg,
            batch_frames: (opts.batch_size / pre.images_per_frame()).max(1),
            pre,
            encoder,
            parts_dir,
            thumbnails: coll.dir().join("thumbnails"),
            progress,
        }
    }

    /// Assembles the feature folder and the image set from the videos not failed.
    fn write_collection(
        &mut self,
        coll: &Collection,
        feature_dir: &Path,
        reports: &[VideoReport],
    ) -> Result<()> {
        let done: Vec<&VideoReport> = reports
            .iter()
            .filter(|r| r.status != VideoStatus::Failed)
            .collect();
        require_some_video(reports, done.len())?;
        (self.progress)(ExtractEvent::Assembling {
            videos: done.len(),
            frames: done.iter().map(|r| r.frames).sum(),
        });
        let keep_parts = done.len() < reports.len();
        let dim = self.encoder.dim();
        assemble(feature_dir, &self.parts_dir, &done, dim, keep_parts)?;
        write_image_set(coll, &done)
    }

    /// Processes every video in order; per-video failures are reported, others returned.
    fn all_videos(&mut self, videos: &[VideoInput], rate: f64) -> Result<Vec<VideoReport>> {
        let total = videos.len();
        let mut reports = Vec::with_capacity(total);
        for (index, input) in videos.iter().enumerate() {
            (self.progress)(ExtractEvent::VideoStarted {
                index,
                total,
                video: input.id.clone(),
            });
            let report = self.one_video(input, rate)?;
            (self.progress)(ExtractEvent::VideoFinished {
                index,
                total,
                video: input.id.clone(),
                status: report.status,
                frames: report.frames,
            });
            reports.push(report);
        }
        Ok(reports)
    }

    /// Processes one video: skipped when its part exists, else extracted.
    fn one_video(&mut self, input: &VideoInput, rate: f64) -> Result<VideoReport> {
        let start = Instant::now();
        let part = parts::part_path(&self.parts_dir, &input.id);
        let mut message = None;
        if part.exists() {
            match parts::read_header(&part, &input.id, self.encoder.dim()) {
                Ok(header) => {
                    self.ensure_thumbnail(input, &header);
                    tracing::info!(video = %input.id, "already extracted; skipped");
                    return Ok(report(
                        input,
                        VideoStatus::Skipped,
                        &header.frames,
                        start,
                        None,
                    ));
                }
                Err(e) => {
                    tracing::warn!("{e}; extracting the video again");
                    message = Some(e.to_string());
                }
            }
        }
        match self.extract_video(input, rate, &part) {
            Ok(frames) => {
                tracing::info!(video = %input.id, frames = frames.len(), "extracted");
                Ok(report(input, VideoStatus::Ok, &frames, start, message))
            }
            Err(e) if is_video_fault(&e) => {
                tracing::warn!(video = %input.id, "failed (left out of the collection): {e}");
                Ok(report(
                    input,
                    VideoStatus::Failed,
                    &[],
                    start,
                    Some(e.to_string()),
                ))
            }
            Err(e) => Err(e),
        }
    }

    /// Decodes, encodes, writes the thumbnail and then the part; returns the kept frames.
    fn extract_video(&mut self, input: &VideoInput, rate: f64, part: &Path) -> Result<Vec<u64>> {
        let encoded = self.encode_video(input, rate)?;
        let middle = encoded.frames[encoded.frames.len() / 2];
        self.ffmpeg
            .thumbnail(&input.path, middle, &self.thumbnail_path(&input.id))?;
        let header = PartHeader {
            video: input.id.clone(),
            dim: self.encoder.dim(),
            frames: encoded.frames,
        };
        parts::write_part(part, &header, &encoded.rows)?;
        Ok(header.frames)
    }

    /// Decodes the video and encodes its kept frames, one batch at a time.
    fn encode_video(&mut self, input: &VideoInput, rate: f64) -> Result<Encoded> {
        let info = self.ffmpeg.probe(&input.path)?;
        let sampler = FrameSampler::new(info.frame_rate, rate);
        tracing::debug!(video = %input.id, ?info, fps = sampler.fps(), "probed");
        let mut decoder = FrameDecoder::start(&self.ffmpeg, &input.path, &info)?;
        let mut out = Encoded {
            frames: Vec::new(),
            rows: Vec::new(),
        };
        let mut images = Vec::new();
        let mut pending = 0;
        while let Some(frame) = decoder.next_frame()? {
            if !sampler.keeps(frame.index) {
                continue;
            }
            let image =
                RgbImage::new(info.width, info.height, frame.rgb.to_vec()).ok_or_else(|| {
                    VideoError::Decode {
                        path: input.path.clone(),
                        message: "frame size differs from the probe".into(),
                    }
                })?;
            self.pre.push_frame(&image, &mut images);
            out.frames.push(frame.index);
            pending += 1;
            if pending == self.batch_frames {
                self.encode_batch(&input.id, &mut images, pending, &mut out.rows)?;
                pending = 0;
            }
        }
        if pending > 0 {
            self.encode_batch(&input.id, &mut images, pending, &mut out.rows)?;
        }
        if out.frames.is_empty() {
            return Err(VideoError::NoFrames {
                path: input.path.clone(),
                stderr: String::new(),
            });
        }
        Ok(out)
    }

    /// Encodes the crops of `frames` frames held in `images` (emptied), appending one
    /// averaged row per frame to `rows`.
    fn encode_batch(
        &mut self,
        video: &str,
        images: &mut Vec<f32>,
        frames: usize,
        rows: &mut Vec<f32>,
    ) -> Result<()> {
        let per_frame = self.pre.images_per_frame();
        let n = frames * per_frame;
        let dim = self.encoder.dim();
        let features = self
            .encoder
            .encode(images, n)
            .map_err(|source| VideoError::Encode {
                video: video.to_owned(),
                source,
            })?;
        images.clear();
        check_features(video, &features, n * dim)?;
        for frame in features.chunks_exact(per_frame * dim) {
            rows.extend(average_rows(frame, dim));
        }
        (self.progress)(ExtractEvent::FramesEncoded {
            video: video.to_owned(),
            frames,
        });
        Ok(())
    }

    /// `ROOT/C/thumbnails/VIDEO.jpg`.
    fn thumbnail_path(&self, video: &str) -> PathBuf {
        self.thumbnails.join(format!("{video}.jpg"))
    }

    /// Remakes the thumbnail of a video done earlier if it is missing (a warning if that
    /// fails: the features are what matter).
    fn ensure_thumbnail(&self, input: &VideoInput, header: &PartHeader) {
        let target = self.thumbnail_path(&input.id);
        if target.exists() {
            return;
        }
        let middle = header.frames[header.frames.len() / 2];
        if let Err(e) = self.ffmpeg.thumbnail(&input.path, middle, &target) {
            tracing::warn!("{e}");
        }
    }
}

/// Whether an error concerns the video itself (it is skipped) rather than the run.
fn is_video_fault(error: &VideoError) -> bool {
    matches!(
        error,
        VideoError::Probe { .. }
            | VideoError::NoVideoStream { .. }
            | VideoError::BadDimensions { .. }
            | VideoError::Decode { .. }
            | VideoError::TruncatedFrame { .. }
            | VideoError::NoFrames { .. }
            | VideoError::Thumbnail { .. }
    )
}

/// Checks the encoder returned `expected` finite values.
fn check_features(video: &str, features: &[f32], expected: usize) -> Result<()> {
    let message = if features.len() != expected {
        format!(
            "the encoder returned {} values, expected {expected}",
            features.len()
        )
    } else if features.iter().any(|v| !v.is_finite()) {
        "the encoder returned NaN or infinite values".to_owned()
    } else {
        return Ok(());
    };
    Err(VideoError::EncoderOutput {
        video: video.to_owned(),
        message,
    })
}

/// The mean of the `dim`-long rows of `rows` (one frame's crops).
fn average_rows(rows: &[f32], dim: usize) -> Vec<f32> {
    let count = (rows.len() / dim) as f32;
    let mut sum = vec![0f32; dim];
    for row in rows.chunks_exact(dim) {
        for (s, v) in sum.iter_mut().zip(row) {
            *s += v;
        }
    }
    sum.iter().map(|s| s / count).collect()
}

/// A video's report entry.
fn report(
    input: &VideoInput,
    status: VideoStatus,
    frames: &[u64],
    start: Instant,
    message: Option<String>,
) -> VideoReport {
    VideoReport {
        video: input.id.clone(),
        path: input.path.clone(),
        status,
        frames: frames.len(),
        seconds: start.elapsed().as_secs_f64(),
        message,
    }
}

/// Fails when no video is left to write.
fn require_some_video(reports: &[VideoReport], done: usize) -> Result<()> {
    if done > 0 {
        return Ok(());
    }
    let first = reports
        .iter()
        .find_map(|r| r.message.clone())
        .unwrap_or_default();
    Err(VideoError::NothingExtracted {
        failed: reports.len(),
        first,
    })
}

/// Writes the feature folder from the parts of `done`, replacing the old folder whole;
/// moves the parts into the new folder when `keep_parts` (some video failed).
fn assemble(
    feature_dir: &Path,
    parts_dir: &Path,
    done: &[&VideoReport],
    dim: usize,
    keep_parts: bool,
) -> Result<()> {
    dualenc_data::atomic::write_dir_atomic(
        feature_dir,
        |tmp| {
            let ids = write_features(tmp, parts_dir, done, dim)?;
            let source = tmp.join(dualenc_data::bigfile::ID_FILE);
            Video2Frames::from_frame_ids(ids.iter().map(String::as_str), &source)?
                .write_dict_literal(tmp.join("video2frames.txt"))?;
            if keep_parts {
                let kept = tmp.join(PARTS_DIR);
                std::fs::rename(parts_dir, &kept).map_err(|e| VideoError::io(&kept, e))?;
            }
            Ok(())
        },
        |path: &Path, e| VideoError::io(path, e),
    )
}

/// Writes the BigFile of the `done` videos' parts into `dir`; returns the frame ids.
fn write_features(
    dir: &Path,
    parts_dir: &Path,
    done: &[&VideoReport],
    dim: usize,
) -> Result<Vec<String>> {
    let mut writer = BigFileWriter::create(dir, dim)?;
    let mut ids = Vec::new();
    for video in done {
        let path = parts::part_path(parts_dir, &video.video);
        let (header, rows) = parts::read_part(&path, &video.video, dim)?;
        for (&k, row) in header.frames.iter().zip(rows.chunks_exact(dim)) {
            let id = frame_id(&video.video, k);
            writer.push(&id, row)?;
            ids.push(id);
        }
    }
    writer.finish()?;
    Ok(ids)
}

/// Writes `ImageSets/C.txt`: the collection's video ids, one per line.
fn write_image_set(coll: &Collection, done: &[&VideoReport]) -> Result<()> {
    let path = coll.image_set_path();
    let text: String = done.iter().map(|r| format!("{}\n", r.video)).collect();
    dualenc_data::atomic::write_bytes_atomic(&path, text.as_bytes())
        .map_err(|e| VideoError::io(&path, e))
}

/// The run's report from the videos' reports.
fn summarise(
    coll: &Collection,
    feature: &str,
    feature_dir: PathBuf,
    dim: usize,
    videos: Vec<VideoReport>,
    seconds: f64,
) -> ExtractReport {
    let count = |s: VideoStatus| videos.iter().filter(|r| r.status == s).count();
    let (ok, skipped, failed) = (
        count(VideoStatus::Ok),
        count(VideoStatus::Skipped),
        count(VideoStatus::Failed),
    );
    let frames_with = |s: VideoStatus| -> usize {
        videos
            .iter()
            .filter(|r| r.status == s)
            .map(|r| r.frames)
            .sum()
    };
    let encoded_frames = frames_with(VideoStatus::Ok);
    ExtractReport {
        collection: coll.name.clone(),
        feature: feature.to_owned(),
        feature_dir,
        dim,
        frames: encoded_frames + frames_with(VideoStatus::Skipped),
        encoded_frames,
        ok,
        skipped,
        failed,
        videos,
        seconds,
        frames_per_second: if seconds > 0.0 {
            encoded_frames as f64 / seconds
        } else {
            0.0
        },
    }
}
