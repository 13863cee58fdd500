//! Thumbnails: one JPEG per video, `DIR/ID.jpg`, listed once at start-up.
//!
//! Only files found by that listing are ever served, so a request cannot reach any other path
//! (`..`, `/` or an absolute path in the name are refused before the lookup as well). Files
//! added to the directory later are not served until the service restarts.
//!
//! Only regular files are served: symbolic links (even to a file in the same folder), pipes,
//! devices and folders are neither listed nor served, and a listed file that is replaced by
//! one of them afterwards is refused when asked for (404). The file is opened without following
//! a link (`O_NOFOLLOW`) and checked once open, so a link swapped in at any moment is refused.
//! The thumbnail folder itself may be a link. (A hard link is a regular file like any other:
//! whoever can make one in the folder could as well copy the file there.)

use std::collections::HashSet;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use dualenc_data::untrusted::open_regular_file_no_links;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::{ApiError, ServerError};

/// The file name suffix of a thumbnail.
const SUFFIX: &str = ".jpg";

/// Characters escaped in a URL's path segment (all but unreserved ones).
pub(crate) const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
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
    /// Lists `dir` and remembers every `ID.jpg` regular file in it (links are not followed).
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
            if valid_id(id) && entry.file_type().map_err(error)?.is_file() {
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

    /// The bytes of the thumbnail asked for as `file_name` (see [`Thumbnails::resolve`]); 404
    /// when the file is no longer a regular file or cannot be read.
    pub async fn load(&self, file_name: &str) -> Result<Vec<u8>, ApiError> {
        let path = self.resolve(file_name)?;
        let task_path = path.clone();
        let read = tokio::task::spawn_blocking(move || read_regular(&task_path))
            .await
            .unwrap_or_else(|error| Err(io::Error::other(error)));
        read.map_err(|error| {
            tracing::warn!(path = %path.display(), %error, "thumbnail listed at start-up cannot be served");
            ApiError::not_found(format!("the thumbnail {file_name} cannot be read"))
        })
    }
}

/// Reads a thumbnail if it is a regular file, without following a symbolic link and without
/// blocking on a pipe; anything else is an error.
fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    let (file, len) = open_regular_file_no_links(path)?;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(len).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Whether `id` can name a file inside a served directory and nothing else.
pub(crate) fn valid_id(id: &str) -> bool {
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
    fn links_and_pipes_are_neither_listed_nor_read() {
        let (dir, _) = sample();
        let link = dir.path().join("link.jpg");
        std::os::unix::fs::symlink(dir.path().join("video1.jpg"), &link).expect("link");
        let pipe = dir.path().join("pipe.jpg");
        let made = std::process::Command::new("mkfifo").arg(&pipe).status();
        assert!(made.expect("run mkfifo").success());
        let thumbnails = Thumbnails::scan(dir.path()).expect("scan");
        assert!(thumbnails.url("link").is_none());
        assert!(thumbnails.url("pipe").is_none());
        assert!(read_regular(&link).is_err(), "a link is not followed");
        assert!(
            read_regular(&pipe).is_err(),
            "a pipe is refused without blocking"
        );
        assert!(read_regular(dir.path()).is_err(), "a folder is refused");
        let file = read_regular(&dir.path().join("video1.jpg")).expect("regular file");
        assert_eq!(file, b"\xFF\xD8jpeg");
    }

    #[test]
    fn missing_directory_is_an_error_naming_it() {
        let error = Thumbnails::scan(Path::new("/nonexistent/thumbs")).expect_err("missing");
        assert!(error.to_string().contains("/nonexistent/thumbs"), "{error}");
    }
}
