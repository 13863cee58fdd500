//! The videos to extract: a folder of video files, one video file, or a list of paths.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Result, VideoError};

/// File extensions (lower case) taken as videos when listing a folder.
pub const VIDEO_EXTENSIONS: &[&str] = &[
    "3gp", "avi", "flv", "gif", "m2ts", "m4v", "mkv", "mov", "mp4", "mpeg", "mpg", "mts", "ogv",
    "ts", "webm", "wmv",
];

/// One video to extract: its id (the file stem) and its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoInput {
    /// The video id: the file name without its last extension.
    pub id: String,
    /// The video file.
    pub path: PathBuf,
}

impl VideoInput {
    /// The video `path`, its id being the file stem. A stem that cannot be read back as
    /// an id (empty, not UTF-8, holding white space or `#`, which separates caption ids)
    /// is an error naming the file.
    pub fn new(path: impl Into<PathBuf>) -> Result<VideoInput> {
        let path = path.into();
        let id = video_id(&path)?;
        Ok(VideoInput { id, path })
    }

    /// The videos an argument names: a folder gives its regular files with a video
    /// extension ([`VIDEO_EXTENSIONS`], any case), sorted by name; a file with a video
    /// extension is that one video; any other file is a list of paths, one per line (blank
    /// lines and lines starting with `#` ignored; relative paths are relative to the list
    /// file's folder). Two videos with the same id are an error naming both files.
    pub fn from_arg(arg: &Path) -> Result<Vec<VideoInput>> {
        let inputs = if arg.is_dir() {
            list_folder(arg)?
        } else if has_video_extension(arg) {
            vec![VideoInput::new(arg)?]
        } else {
            read_list(arg)?
        };
        check_unique(&inputs)?;
        Ok(inputs)
    }
}

/// Fails when two inputs share an id, naming both files.
pub fn check_unique(inputs: &[VideoInput]) -> Result<()> {
    let mut seen: HashMap<&str, &Path> = HashMap::new();
    for input in inputs {
        if let Some(first) = seen.insert(&input.id, &input.path) {
            return Err(VideoError::DuplicateVideo {
                id: input.id.clone(),
                first: first.to_owned(),
                second: input.path.clone(),
            });
        }
    }
    Ok(())
}

/// The stem of `path` as a video id.
fn video_id(path: &Path) -> Result<String> {
    let invalid = |reason| VideoError::InvalidVideoId {
        path: path.to_owned(),
        reason,
    };
    let stem = path.file_stem().ok_or_else(|| invalid("no file name"))?;
    let id = stem.to_str().ok_or_else(|| invalid("not UTF-8"))?;
    if id.is_empty() {
        return Err(invalid("empty"));
    }
    if id.chars().any(char::is_whitespace) {
        return Err(invalid("it holds white space"));
    }
    if id.contains('#') {
        return Err(invalid("it holds '#', which separates caption ids"));
    }
    Ok(id.to_owned())
}

/// Whether `path` ends in one of [`VIDEO_EXTENSIONS`].
fn has_video_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The video files directly inside `dir`, sorted by name.
fn list_folder(dir: &Path) -> Result<Vec<VideoInput>> {
    let entries = std::fs::read_dir(dir).map_err(|e| VideoError::io(dir, e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| VideoError::io(dir, e))?.path();
        if path.is_file() && has_video_extension(&path) {
            paths.push(path);
        }
    }
    paths.sort();
    paths.into_iter().map(VideoInput::new).collect()
}

/// The paths listed in the text file `list`.
fn read_list(list: &Path) -> Result<Vec<VideoInput>> {
    let text = dualenc_data::untrusted::read_regular_text(list).map_err(|e| VideoError::Input {
        path: list.to_owned(),
        message: format!(
            "expected a folder of videos, a video file ({}) or a text file listing video paths: {e}",
            VIDEO_EXTENSIONS.join(", ")
        ),
    })?;
    let base = list.parent().unwrap_or(Path::new(""));
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| VideoInput::new(base.join(line)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_stems() {
        assert_eq!(VideoInput::new("/a/video7.MP4").unwrap().id, "video7");
        assert!(VideoInput::new("/a/my video.mp4").is_err());
        assert!(VideoInput::new("/a/x#1.mp4").is_err());
    }
}
