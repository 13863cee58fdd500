//! The `ffmpeg` and `ffprobe` programs: finding them, probing a video, writing a thumbnail.
//!
//! Decoding goes through the programs rather than a linked library so that the project
//! builds without FFmpeg's headers and reads whatever the installed FFmpeg reads.
//! Decoding itself is in [`crate::decode`].

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use serde::Deserialize;

use crate::error::{Result, VideoError};

/// Largest frame side accepted, in pixels: beyond it a probe is taken to be absurd.
pub const MAX_SIDE: u64 = 16384;

/// Lines of a program's error output kept for an error message.
const STDERR_LINES: usize = 8;
/// Bytes of a program's error output kept for an error message.
const STDERR_BYTES: usize = 2000;

/// Width of thumbnails in pixels (height follows the aspect ratio, rounded to even).
pub const THUMBNAIL_WIDTH: u32 = 320;

/// The located `ffmpeg` and `ffprobe` programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ffmpeg {
    ffmpeg: PathBuf,
    ffprobe: PathBuf,
    fps_mode: bool,
}

/// What `ffprobe` says about a video's first video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Frame width as decoded (after the rotation ffmpeg applies), pixels.
    pub width: usize,
    /// Frame height as decoded (after rotation), pixels.
    pub height: usize,
    /// Stream frame rate in frames per second, as OpenCV's `CAP_PROP_FPS` reports it
    /// (`r_frame_rate`, or `avg_frame_rate` when that is unset or implausible); 0 if unknown.
    pub frame_rate: f64,
    /// Frame count from the container, when it records one.
    pub nb_frames: Option<u64>,
    /// Duration in seconds, when known.
    pub duration: Option<f64>,
}

impl VideoInfo {
    /// Bytes of one RGB24 frame.
    pub fn frame_bytes(&self) -> usize {
        self.width * self.height * 3
    }
}

impl Ffmpeg {
    /// Finds `ffmpeg` and `ffprobe` on `PATH`.
    pub fn locate() -> Result<Ffmpeg> {
        Self::locate_on(&std::env::var_os("PATH").unwrap_or_default())
    }

    /// Finds `ffmpeg` and `ffprobe` in the folders of `path_list` (a `PATH`-style list),
    /// and asks `ffmpeg` whether it knows `-fps_mode` (FFmpeg 5.1 and later) or only
    /// `-vsync`.
    pub fn locate_on(path_list: &OsStr) -> Result<Ffmpeg> {
        let ffmpeg = find_program("ffmpeg", path_list)?;
        let ffprobe = find_program("ffprobe", path_list)?;
        let fps_mode = knows_fps_mode(&ffmpeg)?;
        Ok(Ffmpeg {
            ffmpeg,
            ffprobe,
            fps_mode,
        })
    }

    /// The `ffmpeg` program.
    pub fn ffmpeg_path(&self) -> &Path {
        &self.ffmpeg
    }

    /// The `ffprobe` program.
    pub fn ffprobe_path(&self) -> &Path {
        &self.ffprobe
    }

    /// The output option that keeps every decoded frame once, in decode order (no frame
    /// dropped or duplicated to reach a constant rate), as OpenCV's reader does.
    pub(crate) fn passthrough_args(&self) -> [&'static str; 2] {
        if self.fps_mode {
            ["-fps_mode", "passthrough"]
        } else {
            ["-vsync", "passthrough"]
        }
    }

    /// Probes the first video stream of `path`: size (refused beyond [`MAX_SIDE`]), frame
    /// rate, frame count and duration.
    pub fn probe(&self, path: &Path) -> Result<VideoInfo> {
        let output = Command::new(&self.ffprobe)
            .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
            .arg("stream=width,height,r_frame_rate,avg_frame_rate,nb_frames,duration:stream_side_data=rotation:stream_tags=rotate:format=duration")
            .args(["-of", "json", "--"])
            .arg(path)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| VideoError::Spawn {
                program: self.ffprobe.clone(),
                source,
            })?;
        if !output.status.success() {
            return Err(VideoError::Probe {
                path: path.to_owned(),
                message: failure_message(output.status, &output.stderr),
            });
        }
        parse_probe(path, &output.stdout)
    }

    /// Writes a JPEG thumbnail of frame `frame` (0-based, decode order) of `video` to
    /// `target`, [`THUMBNAIL_WIDTH`] pixels wide, through a temporary file renamed into
    /// place.
    pub fn thumbnail(&self, video: &Path, frame: u64, target: &Path) -> Result<()> {
        let temp =
            dualenc_data::atomic::temp_path_for(target).map_err(|e| VideoError::io(target, e))?;
        let filter = format!("select=eq(n\\,{frame}),scale={THUMBNAIL_WIDTH}:-2");
        let output = Command::new(&self.ffmpeg)
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(video)
            .args(["-map", "0:v:0", "-vf", &filter])
            .args(self.passthrough_args())
            .args(["-frames:v", "1", "-f", "mjpeg", "-y"])
            .arg(&*temp)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .output()
            .map_err(|source| VideoError::Spawn {
                program: self.ffmpeg.clone(),
                source,
            })?;
        let written = std::fs::metadata(&*temp).map(|m| m.len()).unwrap_or(0);
        if !output.status.success() || written == 0 {
            return Err(VideoError::Thumbnail {
                path: video.to_owned(),
                target: target.to_owned(),
                message: failure_message(output.status, &output.stderr),
            });
        }
        dualenc_data::atomic::persist_path(temp, target).map_err(|e| VideoError::io(target, e))
    }
}

/// The first `program` in the folders of `path_list` that is an executable file.
fn find_program(program: &'static str, path_list: &OsStr) -> Result<PathBuf> {
    std::env::split_paths(path_list)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
        .ok_or(VideoError::FfmpegMissing { program })
}

/// Whether `path` is a regular file that may be executed.
#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether `path` is a regular file (no mode bits to check).
#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// Whether `ffmpeg -h long` lists `-fps_mode`.
fn knows_fps_mode(ffmpeg: &Path) -> Result<bool> {
    let output = Command::new(ffmpeg)
        .args(["-hide_banner", "-h", "long"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|source| VideoError::Spawn {
            program: ffmpeg.to_owned(),
            source,
        })?;
    Ok(String::from_utf8_lossy(&output.stdout).contains("-fps_mode"))
}

/// ffprobe's JSON, the parts we read.
#[derive(Deserialize)]
struct ProbeOutput {
    #[serde(default)]
    streams: Vec<ProbeStream>,
    format: Option<ProbeFormat>,
}

#[derive(Deserialize)]
struct ProbeStream {
    width: Option<u64>,
    height: Option<u64>,
    r_frame_rate: Option<String>,
    avg_frame_rate: Option<String>,
    nb_frames: Option<String>,
    duration: Option<String>,
    #[serde(default)]
    side_data_list: Vec<SideData>,
    tags: Option<StreamTags>,
}

#[derive(Deserialize)]
struct SideData {
    rotation: Option<f64>,
}

#[derive(Deserialize)]
struct StreamTags {
    rotate: Option<String>,
}

#[derive(Deserialize)]
struct ProbeFormat {
    duration: Option<String>,
}

/// Reads ffprobe's JSON for `path`.
fn parse_probe(path: &Path, json: &[u8]) -> Result<VideoInfo> {
    let parsed: ProbeOutput = serde_json::from_slice(json).map_err(|e| VideoError::Probe {
        path: path.to_owned(),
        message: format!("unexpected ffprobe output: {e}"),
    })?;
    let stream = parsed
        .streams
        .into_iter()
        .next()
        .ok_or_else(|| VideoError::NoVideoStream {
            path: path.to_owned(),
        })?;
    let (width, height) = decoded_size(path, &stream)?;
    let duration = stream
        .duration
        .as_deref()
        .or(parsed.format.as_ref().and_then(|f| f.duration.as_deref()))
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d >= 0.0);
    Ok(VideoInfo {
        width,
        height,
        frame_rate: guess_frame_rate(
            stream.r_frame_rate.as_deref().and_then(parse_rational),
            stream.avg_frame_rate.as_deref().and_then(parse_rational),
        ),
        nb_frames: stream.nb_frames.as_deref().and_then(|n| n.parse().ok()),
        duration,
    })
}

/// The frame size ffmpeg will output: the coded size, sides swapped for a quarter-turn
/// rotation (which ffmpeg applies by default); refused when a side is 0 or too large.
fn decoded_size(path: &Path, stream: &ProbeStream) -> Result<(usize, usize)> {
    let (w, h) = (stream.width.unwrap_or(0), stream.height.unwrap_or(0));
    let (w, h) = if quarter_turn(stream) { (h, w) } else { (w, h) };
    let ok = |side: u64| (1..=MAX_SIDE).contains(&side);
    if !ok(w) || !ok(h) {
        return Err(VideoError::BadDimensions {
            path: path.to_owned(),
            width: w,
            height: h,
            max: MAX_SIDE,
        });
    }
    // Both sides are at most MAX_SIDE, so they fit any usize of 32 bits or more.
    Ok((w as usize, h as usize))
}

/// Whether the stream's display matrix (or older `rotate` tag) turns it by 90 or 270 degrees.
fn quarter_turn(stream: &ProbeStream) -> bool {
    let from_matrix = stream.side_data_list.iter().find_map(|s| s.rotation);
    let from_tag = stream
        .tags
        .as_ref()
        .and_then(|t| t.rotate.as_deref())
        .and_then(|r| r.parse::<f64>().ok());
    from_matrix
        .or(from_tag)
        .is_some_and(|deg| (deg.round() as i64).rem_euclid(180) == 90)
}

/// `"30000/1001"` or `"25"` as a number; `None` for `0/0`, negatives and junk.
fn parse_rational(text: &str) -> Option<f64> {
    let value = match text.split_once('/') {
        Some((n, d)) => n.trim().parse::<f64>().ok()? / d.trim().parse::<f64>().ok()?,
        None => text.trim().parse::<f64>().ok()?,
    };
    (value.is_finite() && value > 0.0).then_some(value)
}

/// FFmpeg's `av_guess_frame_rate`, which OpenCV's `CAP_PROP_FPS` reports: the real base
/// rate `r_frame_rate`, unless it is implausibly high (> 210) while the average rate is
/// ordinary (< 70), or unset; 0 when neither is known.
fn guess_frame_rate(r: Option<f64>, avg: Option<f64>) -> f64 {
    match (r, avg) {
        (Some(r), Some(avg)) if r > 210.0 && avg < 70.0 => avg,
        (Some(r), _) => r,
        (None, Some(avg)) => avg,
        (None, None) => 0.0,
    }
}

/// "exit status N: first lines of stderr".
pub(crate) fn failure_message(status: ExitStatus, stderr: &[u8]) -> String {
    let text = first_lines(stderr);
    if text.is_empty() {
        status.to_string()
    } else {
        format!("{status}: {text}")
    }
}

/// The first [`STDERR_LINES`] non-empty lines of `stderr`, at most [`STDERR_BYTES`] bytes,
/// joined with " | ".
pub(crate) fn first_lines(stderr: &[u8]) -> String {
    let head = &stderr[..stderr.len().min(STDERR_BYTES)];
    String::from_utf8_lossy(head)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(STDERR_LINES)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Reads a child's error output to its end (so the child never blocks on a full pipe),
/// keeping only the first [`STDERR_BYTES`] bytes.
pub(crate) fn drain_bounded(mut reader: impl Read) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = STDERR_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rates_follow_av_guess_frame_rate() {
        assert_eq!(parse_rational("30000/1001"), Some(30000.0 / 1001.0));
        assert_eq!(parse_rational("0/0"), None);
        assert_eq!(parse_rational("25"), Some(25.0));
        assert_eq!(guess_frame_rate(Some(90000.0), Some(25.0)), 25.0);
        assert_eq!(guess_frame_rate(Some(30.0), Some(29.0)), 30.0);
        assert_eq!(guess_frame_rate(None, Some(7.5)), 7.5);
        assert_eq!(guess_frame_rate(None, None), 0.0);
    }

    #[test]
    fn probe_json_is_read_with_rotation_and_limits() {
        let json = br#"{"streams":[{"width":64,"height":48,"r_frame_rate":"15/2",
            "avg_frame_rate":"15/2","nb_frames":"15","side_data_list":[{"rotation":-90}]}],
            "format":{"duration":"2.000000"}}"#;
        let info = parse_probe(Path::new("v.mp4"), json).unwrap();
        assert_eq!((info.width, info.height), (48, 64));
        assert_eq!(info.frame_rate, 7.5);
        assert_eq!(info.nb_frames, Some(15));
        assert_eq!(info.duration, Some(2.0));
        let huge = br#"{"streams":[{"width":20000,"height":48}]}"#;
        let err = parse_probe(Path::new("big.mp4"), huge).unwrap_err();
        assert!(err.to_string().contains("big.mp4"), "{err}");
        let none = br#"{"streams":[]}"#;
        assert!(matches!(
            parse_probe(Path::new("a.mp3"), none),
            Err(VideoError::NoVideoStream { .. })
        ));
    }

    #[test]
    fn stderr_is_bounded() {
        let long = "error line\n".repeat(1000);
        let text = first_lines(long.as_bytes());
        assert_eq!(text.matches("error line").count(), STDERR_LINES);
        let drained = drain_bounded(long.as_bytes());
        assert_eq!(drained.len(), STDERR_BYTES);
    }

    #[test]
    fn missing_programs_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = Ffmpeg::locate_on(dir.path().as_os_str()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`ffmpeg`") && text.contains("Debian's ffmpeg package"));
    }
}
