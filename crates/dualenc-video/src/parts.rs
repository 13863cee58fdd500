//! Per-video part files: what makes extraction resumable.
//!
//! Each finished video is written, atomically, to `FEATURE_DIR/.extract-parts/VIDEO.part`:
//! one JSON line `{"video": ..., "dim": D, "frames": [k, ...]}` then the `frames x D` f32
//! rows, little-endian. A rerun skips the videos whose part exists, so a killed run loses
//! at most the video in flight. `settings.json` beside the parts records the settings
//! they were made with; a rerun with other settings is refused rather than mixed.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, VideoError};

/// Name of the work folder inside the feature folder.
pub const PARTS_DIR: &str = ".extract-parts";
/// Name of the settings record inside the work folder.
const SETTINGS_FILE: &str = "settings.json";
/// Longest header line read (frame numbers of a very long video fit easily).
const MAX_HEADER: u64 = 64 << 20;

/// The first line of a part file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartHeader {
    /// The video id.
    pub video: String,
    /// Feature dimension.
    pub dim: usize,
    /// The kept frame numbers, in order (one row each).
    pub frames: Vec<u64>,
}

/// The work folder of `feature_dir`.
pub(crate) fn parts_dir(feature_dir: &Path) -> PathBuf {
    feature_dir.join(PARTS_DIR)
}

/// The part file of `video` in the work folder `dir`.
pub(crate) fn part_path(dir: &Path, video: &str) -> PathBuf {
    dir.join(format!("{video}.part"))
}

/// Writes a video's part atomically: header line, then `rows` (frames x dim values).
pub(crate) fn write_part(path: &Path, header: &PartHeader, rows: &[f32]) -> Result<()> {
    let line = serde_json::to_string(header).map_err(|e| bad(path, e.to_string()))?;
    dualenc_data::atomic::write_atomic(path, |w| {
        w.write_all(line.as_bytes())?;
        w.write_all(b"\n")?;
        for value in rows {
            w.write_all(&value.to_le_bytes())?;
        }
        Ok(())
    })
    .map_err(|e| VideoError::io(path, e))
}

/// Reads a part's header and checks that the file holds its rows (`video` and `dim` must
/// match the run's).
pub(crate) fn read_header(path: &Path, video: &str, dim: usize) -> Result<PartHeader> {
    let (file, len) =
        dualenc_data::untrusted::open_regular_file(path).map_err(|e| VideoError::io(path, e))?;
    let mut line = Vec::new();
    BufReader::new(file.take(MAX_HEADER.min(len)))
        .read_until(b'\n', &mut line)
        .map_err(|e| VideoError::io(path, e))?;
    let header = parse_header(path, &line, video, dim)?;
    let expected = line.len() as u64 + (header.frames.len() * dim * 4) as u64;
    if len != expected {
        return Err(bad(path, format!("{len} bytes, expected {expected}")));
    }
    Ok(header)
}

/// Reads a whole part: its header and its rows.
pub(crate) fn read_part(path: &Path, video: &str, dim: usize) -> Result<(PartHeader, Vec<f32>)> {
    let bytes =
        dualenc_data::untrusted::read_regular_file(path).map_err(|e| VideoError::io(path, e))?;
    let end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| bad(path, "no header line".into()))?;
    let header = parse_header(path, &bytes[..=end], video, dim)?;
    let body = &bytes[end + 1..];
    if body.len() != header.frames.len() * dim * 4 {
        return Err(bad(path, format!("{} bytes of rows", body.len())));
    }
    let rows = body
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((header, rows))
}

/// Parses and checks a header line.
fn parse_header(path: &Path, line: &[u8], video: &str, dim: usize) -> Result<PartHeader> {
    let header: PartHeader =
        serde_json::from_slice(line).map_err(|e| bad(path, format!("header: {e}")))?;
    if header.video != video || header.dim != dim || header.frames.is_empty() {
        return Err(bad(
            path,
            format!(
                "made for video {:?} with dim {} and {} frames, expected video {video:?}, dim {dim}",
                header.video,
                header.dim,
                header.frames.len()
            ),
        ));
    }
    Ok(header)
}

/// Records `settings` in the work folder `dir`, or checks them against those recorded by
/// an earlier run.
pub(crate) fn ensure_settings(dir: &Path, settings: &serde_json::Value) -> Result<()> {
    let path = dir.join(SETTINGS_FILE);
    if path.exists() {
        let text = dualenc_data::untrusted::read_regular_text(&path)
            .map_err(|e| VideoError::io(&path, e))?;
        let found: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(&path, e.to_string()))?;
        if &found != settings {
            return Err(VideoError::PartsMismatch {
                dir: dir.to_owned(),
                expected: settings.to_string(),
                found: found.to_string(),
            });
        }
        return Ok(());
    }
    dualenc_data::atomic::write_bytes_atomic(&path, settings.to_string().as_bytes())
        .map_err(|e| VideoError::io(&path, e))
}

/// A damaged-part error.
fn bad(path: &Path, message: String) -> VideoError {
    VideoError::BadPart {
        path: path.to_owned(),
        message,
    }
}
