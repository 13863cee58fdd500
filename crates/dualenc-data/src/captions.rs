//! Line-oriented text files of a collection: captions (`CAPID sentence`), image sets (one
//! video id per line) and AVS topics (`TNUM query`).
//!
//! Reading: lines are decoded as UTF-8 (Latin-1 when a line is not valid UTF-8), trimmed,
//! and blank lines skipped. The id ends at the first white space; the text is the rest,
//! trimmed. A line with an id and no text is an error naming the file and line: in the
//! original it makes the unpacking `cap_id, caption = line.split(' ', 1)` fail.

use crate::error::{DataError, Result};
use crate::textio;
use std::io::Write;
use std::path::Path;

/// One caption: its id (`VIDEO#enc#K`) and its sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caption {
    /// Caption id; the video id is [`video_id_of`] it.
    pub id: String,
    /// The raw sentence (tokenised later by the text crate).
    pub text: String,
}

/// One TRECVID AVS topic: its number (e.g. `501`) and its query sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvsTopic {
    /// Topic number as written in the file.
    pub number: String,
    /// The query sentence.
    pub query: String,
}

/// The video id of a caption id: the part before the first `#`, without a trailing `.jpg`
/// or `.mp4` (as the original's `getVideoId`).
pub fn video_id_of(cap_id: &str) -> &str {
    let head = cap_id.split('#').next().unwrap_or(cap_id);
    head.strip_suffix(".jpg")
        .or_else(|| head.strip_suffix(".mp4"))
        .unwrap_or(head)
}

/// Reads a caption file, in file order.
pub fn read_captions(path: impl AsRef<Path>) -> Result<Vec<Caption>> {
    let pairs = read_id_text(path.as_ref(), "caption file", "CAPID sentence")?;
    Ok(pairs
        .into_iter()
        .map(|(id, text)| Caption { id, text })
        .collect())
}

/// Writes a caption file atomically, one `CAPID sentence` line per caption.
pub fn write_captions(path: impl AsRef<Path>, captions: &[Caption]) -> Result<()> {
    write_id_text(
        path.as_ref(),
        captions.iter().map(|c| (c.id.as_str(), c.text.as_str())),
    )
}

/// Reads AVS topics (`TNUM query` lines), in file order.
pub fn read_topics(path: impl AsRef<Path>) -> Result<Vec<AvsTopic>> {
    let pairs = read_id_text(path.as_ref(), "AVS topics", "TNUM query")?;
    Ok(pairs
        .into_iter()
        .map(|(number, query)| AvsTopic { number, query })
        .collect())
}

/// Writes AVS topics atomically, one `TNUM query` line each.
pub fn write_topics(path: impl AsRef<Path>, topics: &[AvsTopic]) -> Result<()> {
    write_id_text(
        path.as_ref(),
        topics.iter().map(|t| (t.number.as_str(), t.query.as_str())),
    )
}

/// Reads an image set: one video id per line, in file order.
pub fn read_image_set(path: impl AsRef<Path>) -> Result<Vec<String>> {
    let path = path.as_ref();
    let mut ids = Vec::new();
    textio::for_each_line(path, "image set", |line, text| {
        let id = text.trim();
        if id.is_empty() {
            return Ok(());
        }
        if !textio::is_valid_id(id) {
            return Err(DataError::Parse {
                path: path.to_owned(),
                line,
                message: format!("expected one video id, found {id:?}"),
            });
        }
        ids.push(id.to_owned());
        Ok(())
    })?;
    Ok(ids)
}

/// Writes an image set atomically, one id per line.
pub fn write_image_set<S: AsRef<str>>(path: impl AsRef<Path>, ids: &[S]) -> Result<()> {
    let path = path.as_ref();
    if let Some(bad) = ids.iter().find(|id| !textio::is_valid_id(id.as_ref())) {
        return Err(DataError::InvalidId {
            path: path.to_owned(),
            id: bad.as_ref().to_owned(),
        });
    }
    crate::atomic::write_atomic(path, |w| {
        ids.iter().try_for_each(|id| writeln!(w, "{}", id.as_ref()))
    })
    .map_err(|e| DataError::io(path, e))
}

/// Reads `ID text` lines; `form` describes the expected line in errors.
fn read_id_text(path: &Path, what: &'static str, form: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    textio::for_each_line(path, what, |line, text| {
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        let split = text
            .split_once(char::is_whitespace)
            .map(|(id, rest)| (id, rest.trim()))
            .filter(|(_, rest)| !rest.is_empty());
        match split {
            Some((id, rest)) => {
                pairs.push((id.to_owned(), rest.to_owned()));
                Ok(())
            }
            None => Err(DataError::Parse {
                path: path.to_owned(),
                line,
                message: format!("expected \"{form}\", found only {text:?}"),
            }),
        }
    })?;
    Ok(pairs)
}

/// Validates then writes `ID text` lines atomically.
fn write_id_text<'a, I>(path: &Path, records: I) -> Result<()>
where
    I: Iterator<Item = (&'a str, &'a str)> + Clone,
{
    for (id, text) in records.clone() {
        if !textio::is_valid_id(id) {
            return Err(DataError::InvalidId {
                path: path.to_owned(),
                id: id.to_owned(),
            });
        }
        if text.trim().is_empty() || text.contains(['\n', '\r']) {
            return Err(DataError::InvalidText {
                path: path.to_owned(),
                id: id.to_owned(),
            });
        }
    }
    crate::atomic::write_atomic(path, |w| {
        records
            .clone()
            .try_for_each(|(id, text)| writeln!(w, "{id} {text}"))
    })
    .map_err(|e| DataError::io(path, e))
}
