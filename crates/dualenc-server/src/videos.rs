//! Video files: `DIR/ID.EXT`, one per video of the collection, listed once at start-up and
//! streamed with HTTP range requests so that a browser's `<video>` can play and seek them.
//!
//! Only files found by that listing are ever served, and only those whose name without its
//! extension is a video of the backend's collection ([`SearchBackend::has_video`]): other
//! files of the folder get 404, as does anything added after start-up. Names with `/`, `\`,
//! NUL, `.` or `..` are refused (400) before the lookup.
//!
//! As for thumbnails, only regular files are served: symbolic links (even to another video
//! of the folder), pipes, devices and folders are neither listed nor served, and the file is
//! opened without following a link (`O_NOFOLLOW`) and checked once open, so a file replaced
//! by a link after start-up is refused (404). The folder itself may be a link.
//!
//! Extensions and their `Content-Type`: `mp4` (`video/mp4`), `webm` (`video/webm`), `ogv`
//! (`video/ogg`), `mov` (`video/quicktime`), `mkv` (`video/x-matroska`), `avi`
//! (`video/x-msvideo`), in any letter case. When a video has several files (`v1.mp4` and
//! `v1.webm`), the first extension of that list wins.
//!
//! Answers (see [`crate::range`]): without `Range` (or with one that is ignored) 200 and the
//! whole file; `Range: bytes=A-B`, `A-` or `-N` 206 with `Content-Range: bytes A-B/LEN`; a
//! range that cannot be satisfied 416 with `Content-Range: bytes */LEN`. A request for
//! several ranges gets the whole file (200). Every answer says `Accept-Ranges: bytes`; a
//! request with `If-Range` gets the whole file (the service sends no validators to match).
//! The bytes are streamed from the file, never read whole into memory.
//!
//! [`SearchBackend::has_video`]: crate::SearchBackend::has_video

use std::collections::HashMap;
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::utf8_percent_encode;
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use crate::error::{ApiError, ServerError};
use crate::range::RangeAnswer;
use dualenc_data::untrusted::open_regular_file_no_links;

use crate::thumbnails::{valid_id, SEGMENT};

/// The extensions served and their media types, in order of preference.
const TYPES: &[(&str, &str)] = &[
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
    ("ogv", "video/ogg"),
    ("mov", "video/quicktime"),
    ("mkv", "video/x-matroska"),
    ("avi", "video/x-msvideo"),
];

/// Bytes read from the file at a time while streaming.
const CHUNK: usize = 64 * 1024;

/// A video file the service plays.
#[derive(Debug, Clone, PartialEq, Eq)]
struct VideoFile {
    /// The video id (the file name without its extension).
    id: String,
    /// Position of its extension in [`TYPES`].
    kind: usize,
}

/// The video files the service can play.
#[derive(Debug, Clone, Default)]
pub struct Videos {
    /// The directory, when videos were asked for.
    dir: Option<PathBuf>,
    /// The files served, by file name.
    files: HashMap<String, VideoFile>,
    /// The file name of each video id that has one.
    by_id: HashMap<String, String>,
}

impl Videos {
    /// Lists `dir` and remembers every regular file `ID.EXT` whose extension is a video's and
    /// whose `ID` is one of the collection's (`is_member`); links are not followed, and file
    /// names that are not UTF-8 are skipped.
    pub fn scan(dir: &Path, is_member: impl Fn(&str) -> bool) -> Result<Self, ServerError> {
        let error = |source| ServerError::Videos {
            dir: dir.to_path_buf(),
            source,
        };
        let mut videos = Videos {
            dir: Some(dir.to_path_buf()),
            ..Videos::default()
        };
        for entry in std::fs::read_dir(dir).map_err(error)? {
            let entry = entry.map_err(error)?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Some(file) = video_file(&name).filter(|file| is_member(&file.id)) else {
                continue;
            };
            if entry.file_type().map_err(error)?.is_file() {
                videos.insert(name, file);
            }
        }
        Ok(videos)
    }

    /// Adds a file, unless its video has one of a preferred type already.
    fn insert(&mut self, name: String, file: VideoFile) {
        if let Some(other) = self.by_id.get(&file.id) {
            if self.files.get(other).is_some_and(|o| o.kind <= file.kind) {
                return;
            }
            self.files.remove(other);
        }
        self.by_id.insert(file.id.clone(), name.clone());
        self.files.insert(name, file);
    }

    /// How many videos can be played.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether no video can be played.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The URL path of a video's file (`/videos/ID.EXT`, percent-encoded), if it has one.
    pub fn url(&self, id: &str) -> Option<String> {
        let name = self.by_id.get(id)?;
        Some(format!("/videos/{}", utf8_percent_encode(name, SEGMENT)))
    }

    /// The file behind a requested name (already percent-decoded) and its media type: 400 for
    /// a name that could leave the folder, 404 for a name that is not a listed video file.
    pub fn resolve(&self, file_name: &str) -> Result<(PathBuf, &'static str), ApiError> {
        if !valid_id(file_name) {
            return Err(ApiError::bad_request(
                "invalid_video_name",
                "a video is asked for as /videos/ID.EXT, a file name without '/', '\\' or \
                 NUL that is not '.' or '..'",
            ));
        }
        match (&self.dir, self.files.get(file_name)) {
            (Some(dir), Some(file)) => Ok((dir.join(file_name), TYPES[file.kind].1)),
            _ => Err(ApiError::not_found(format!(
                "no video file {file_name:?} in this collection"
            ))),
        }
    }

    /// The answer to `GET /videos/{file_name}` with the request's `Range` header (`None`
    /// when absent or to be ignored): the whole file, the range asked for, or 416.
    pub async fn respond(
        &self,
        file_name: &str,
        range: Option<&str>,
    ) -> Result<Response, ApiError> {
        let (path, content_type) = self.resolve(file_name)?;
        let (file, len) = open_blocking(path.clone()).await.map_err(|error| {
            tracing::warn!(path = %path.display(), %error, "video listed at start-up cannot be served");
            ApiError::not_found(format!("the video {file_name} cannot be read"))
        })?;
        match RangeAnswer::for_header(range, len) {
            RangeAnswer::Full => Ok(stream(file, content_type, StatusCode::OK, 0, len, None)),
            RangeAnswer::Partial { start, end } => {
                let content_range = format!("bytes {start}-{end}/{len}");
                let count = end - start + 1;
                let status = StatusCode::PARTIAL_CONTENT;
                Ok(stream(
                    file,
                    content_type,
                    status,
                    start,
                    count,
                    Some(content_range),
                ))
            }
            RangeAnswer::Unsatisfiable => Ok(unsatisfiable(len)),
        }
    }
}

/// The video file a directory entry named `name` is, if it is one (a known extension after
/// a valid id).
fn video_file(name: &str) -> Option<VideoFile> {
    let (id, extension) = name.rsplit_once('.')?;
    let kind = TYPES
        .iter()
        .position(|(known, _)| extension.eq_ignore_ascii_case(known))?;
    valid_id(id).then(|| VideoFile {
        id: id.to_owned(),
        kind,
    })
}

/// Opens a regular file, no link followed (see [`open_regular_file_no_links`]), on the
/// blocking pool.
async fn open_blocking(path: PathBuf) -> io::Result<(std::fs::File, u64)> {
    tokio::task::spawn_blocking(move || open_regular_file_no_links(&path))
        .await
        .unwrap_or_else(|error| Err(io::Error::other(error)))
}

/// An answer streaming `count` bytes of `file` from `start`.
fn stream(
    mut file: std::fs::File,
    content_type: &'static str,
    status: StatusCode,
    start: u64,
    count: u64,
    content_range: Option<String>,
) -> Response {
    // Seeking a regular file only moves its offset: it does not block.
    if let Err(error) = file.seek(SeekFrom::Start(start)) {
        return ApiError::from(crate::backend::SearchError::Backend(format!(
            "cannot seek in the video file: {error}"
        )))
        .into_response();
    }
    let reader = tokio::fs::File::from_std(file).take(count);
    let mut response = Response::new(Body::from_stream(ReaderStream::with_capacity(
        reader, CHUNK,
    )));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    if let Some(value) = content_range.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(header::CONTENT_RANGE, value);
    }
    response
}

/// 416 Range Not Satisfiable (a JSON error), with the file's length in
/// `Content-Range: bytes */LEN`.
fn unsatisfiable(len: u64) -> Response {
    let mut response = ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "range_not_satisfiable",
        format!("the range asked for is outside the file's {len} bytes"),
    )
    .into_response();
    let headers = response.headers_mut();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(value) = HeaderValue::from_str(&format!("bytes */{len}")) {
        headers.insert(header::CONTENT_RANGE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(members: &[&str]) -> (tempfile::TempDir, Videos) {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in [
            "v1.mp4",
            "v1.webm",
            "v2.WEBM",
            "v3.avi",
            "v4.txt",
            "other.mp4",
            "a b.mkv",
        ] {
            std::fs::write(dir.path().join(name), b"video").expect("write");
        }
        std::fs::create_dir(dir.path().join("v5.mp4")).expect("mkdir");
        std::os::unix::fs::symlink(dir.path().join("v1.mp4"), dir.path().join("v6.mp4"))
            .expect("link");
        let members: Vec<String> = members.iter().map(|m| m.to_string()).collect();
        let videos = Videos::scan(dir.path(), |id| members.iter().any(|m| m == id)).expect("scan");
        (dir, videos)
    }

    #[test]
    fn scan_keeps_regular_video_files_of_the_collection() {
        let (_dir, videos) = sample(&["v1", "v2", "v3", "v4", "v5", "v6", "a b"]);
        assert_eq!(videos.len(), 4, "{videos:?}");
        assert_eq!(videos.url("v1").as_deref(), Some("/videos/v1.mp4"));
        assert_eq!(videos.url("v2").as_deref(), Some("/videos/v2.WEBM"));
        assert_eq!(videos.url("a b").as_deref(), Some("/videos/a%20b.mkv"));
        for absent in ["v4", "v5", "v6", "other"] {
            assert_eq!(videos.url(absent), None, "{absent}");
        }
    }

    #[test]
    fn resolve_gives_the_media_type_and_refuses_the_rest() {
        let (dir, videos) = sample(&["v1", "v2", "v3"]);
        let (path, kind) = videos.resolve("v3.avi").expect("known");
        assert_eq!((path, kind), (dir.path().join("v3.avi"), "video/x-msvideo"));
        assert_eq!(videos.resolve("v2.WEBM").expect("known").1, "video/webm");
        for missing in ["v1.webm", "other.mp4", "v4.txt", "v6.mp4"] {
            let error = videos.resolve(missing).expect_err(missing);
            assert_eq!(error.status, StatusCode::NOT_FOUND, "{missing}");
        }
        for bad in ["../v1.mp4", "..", ".", "a/b.mp4", "a\\b.mp4", ""] {
            let error = videos.resolve(bad).expect_err(bad);
            assert_eq!(error.body.code, "invalid_video_name", "{bad}");
        }
    }

    #[test]
    fn missing_directory_is_an_error_naming_it() {
        let error = Videos::scan(Path::new("/nonexistent/videos"), |_| true).expect_err("missing");
        assert!(error.to_string().contains("/nonexistent/videos"), "{error}");
    }
}
