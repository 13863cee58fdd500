//! Thumbnails: one JPEG per video, `DIR/ID.jpg`, listed once at start-up.
//!
//! Only files found by that listing are ever served, so a request cannot reach any other path
//! (`..`, `/` or an absolute path in the name are refused before the lookup as well). Files
//! added to the directory later are not served until the service restarts.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::{ApiError, ServerError};

/// The file name suffix of a thumbnail.
const SUFFIX: &str = ".jpg";

/// Characters escaped in a thumbnail URL's path segment (all but unreserved ones).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The thumbnails the service can serve.
#[derive(Debug, Clone, Default)]
pub struct Thumbnails {
    /// The directory, when thumbnails were asked for.
    dir: Option<PathBuf>,
    /// Video ids that have `DIR/ID.jpg`.
    ids: HashSet<String>,
}

impl Thumbnails {
    /// Lists `dir` and remembers every `ID.jpg` regular file (or link to one) in it.
    ///
    /// File names that are not UTF-8 are skipped (they could not be asked for in a URL path
    /// that names the video id anyway).
    pub fn scan(dir: &Path) -> Result<Self, ServerError> {
        let error = |source| ServerError::Thumbnails {
            dir: dir.to_path_buf(),
            source,
        };
        let mut ids = HashSet::new();
        for entry in std::fs::read_dir(dir).map_err(error)? {
            let entry = entry.map_err(error)?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Some(id) = name.strip_suffix(SUFFIX) else {
                continue;
            };
            if valid_id(id) && entry.path().is_file() {
                ids.insert(id.to_owned());
            }
        }
        Ok(Thumbnails {
            dir: Some(dir.to_path_buf()),
            ids,
        })
    }

    /// How many videos have a thumbnail.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no video has a thumbnail.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The URL path of a video's thumbnail (`/thumbnails/ID.jpg`, percent-encoded), if it has
    /// one.
    pub fn url(&self, id: &str) -> Option<String> {
        self.ids
            .contains(id)
            .then(|| format!("/thumbnails/{}{SUFFIX}", utf8_percent_encode(id, SEGMENT)))
    }

    /// The file behind a requested name `ID.jpg` (already percent-decoded): 400 for a name
    /// that is not a plain `ID.jpg`, 404 for an id without a thumbnail.
    pub fn resolve(&self, file_name: &str) -> Result<PathBuf, ApiError> {
        let id = file_name
            .strip_suffix(SUFFIX)
            .filter(|id| valid_id(id))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_thumbnail_name",
                    "a thumbnail is asked for as /thumbnails/ID.jpg, where ID is a video id \
                     without '/', '\\' or NUL and is not '.' or '..'",
                )
            })?;
        match (&self.dir, self.ids.contains(id)) {
            (Some(dir), true) => Ok(dir.join(file_name)),
            _ => Err(ApiError::not_found(format!(
                "no thumbnail for video {id:?}"
            ))),
        }
    }
}

/// Whether `id` can name a file inside the thumbnail directory and nothing else.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id != "." && id != ".." && !id.contains(['/', '\\', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (tempfile::TempDir, Thumbnails) {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in ["video1.jpg", "a b#c.jpg", "notes.txt", "video2.png"] {
            std::fs::write(dir.path().join(name), b"\xFF\xD8jpeg").expect("write");
        }
        std::fs::create_dir(dir.path().join("sub.jpg")).expect("mkdir");
        let thumbnails = Thumbnails::scan(dir.path()).expect("scan");
        (dir, thumbnails)
    }

    #[test]
    fn scan_keeps_only_jpg_files() {
        let (_dir, thumbnails) = sample();
        assert_eq!(thumbnails.len(), 2);
        assert!(thumbnails.url("video2").is_none());
        assert!(thumbnails.url("sub").is_none());
    }

    #[test]
    fn urls_are_percent_encoded() {
        let (_dir, thumbnails) = sample();
        assert_eq!(
            thumbnails.url("video1").as_deref(),
            Some("/thumbnails/video1.jpg")
        );
        assert_eq!(
            thumbnails.url("a b#c").as_deref(),
            Some("/thumbnails/a%20b%23c.jpg")
        );
    }

    #[test]
    fn resolve_refuses_traversal_and_unknown_ids() {
        let (dir, thumbnails) = sample();
        assert_eq!(
            thumbnails.resolve("video1.jpg").expect("known"),
            dir.path().join("video1.jpg")
        );
        for bad in [
            "../video1.jpg",
            "..jpg",
            "/etc/passwd.jpg",
            "a\\b.jpg",
            "video1",
            ".jpg",
        ] {
            let error = thumbnails.resolve(bad).expect_err(bad);
            assert_eq!(error.body.code, "invalid_thumbnail_name", "{bad}");
        }
        assert_eq!(
            thumbnails
                .resolve("video9.jpg")
                .expect_err("unknown")
                .body
                .code,
            "not_found"
        );
    }

    #[test]
    fn missing_directory_is_an_error_naming_it() {
        let error = Thumbnails::scan(Path::new("/nonexistent/thumbs")).expect_err("missing");
        assert!(error.to_string().contains("/nonexistent/thumbs"), "{error}");
    }
}
