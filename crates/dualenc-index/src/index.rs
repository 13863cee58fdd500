//! The on-disk index: format, writer (create / append) and reader (open, validate, search).
//!
//! # Format (version 1)
//!
//! An index is a folder:
//!
//! ```text
//! INDEX/manifest.json    what the folder holds; written last, it is the commit point
//! INDEX/embeddings.f32   count x dim little-endian f32, row-major, row i = video i
//! INDEX/ids.txt          count lines, line i (1-based: i + 1) = id of video i, UTF-8
//! INDEX/ann.usearch      optional usearch HNSW graph over the first `ann.count` rows
//! INDEX/captions.txt     optional: line i = caption of video i (empty line: none), UTF-8
//! ```
//!
//! `manifest.json`:
//!
//! ```json
//! {
//!   "format_version": 1,
//!   "dim": 2048,
//!   "count": 3,
//!   "model": "runs/msrvtt/model_best.pth.tar",
//!   "collections": [
//!     {"name": "msrvtt10ktest", "count": 3, "model": "runs/msrvtt/model_best.pth.tar",
//!      "feature": "resnext101-resnet152", "encoding": "batch-128"}
//!   ],
//!   "ann": {"params": {"connectivity": 16, "expansion_add": 128, "expansion_search": 128,
//!           "storage": "f16"}, "count": 3,
//!           "file": {"bytes": 2984, "xxh3_64": "5f0e0b8a8d3c1e27"}},
//!   "captions": {"count": 3}
//! }
//! ```
//!
//! - `model` is a reference to the model that encoded the videos (a path or a name, as given
//!   by the writer); every collection of an index must come from the same model, since
//!   embeddings of different models are not comparable. `encoding` (optional, free text) tells
//!   how the videos were batched (docs/training.md, "The network": batch dependence).
//! - Rows of the collections follow one another in `collections` order; ids are unique over
//!   the whole index.
//! - Embeddings are expected L2-normalised: scores are dot products, i.e. cosines. They must
//!   be finite: the writer refuses NaN and infinities (naming the id), and a row of an
//!   existing index that gives a non-finite score fails the search with
//!   [`IndexError::NonFiniteRow`] naming the row and its id instead of being ranked.
//! - Ids are non-empty and hold no whitespace (one id per line; VisualSearch id files are
//!   space-separated): the writer refuses others, and [`Index::open`] reports a blank line
//!   or an id with whitespace with its line. A trailing `\r` (Windows line end) is dropped.
//! - `dim` is at most [`MAX_DIM`]; counts and sizes from the manifest are checked with
//!   overflow-checked arithmetic and against the files before anything is allocated.
//! - `ann.file` is the length and XXH3-64 hash of `ann.usearch` (see [`crate::ann`]); a
//!   graph that does not match it, or that usearch reads with another shape than the
//!   manifest's, is not loaded: [`Index::open`] logs a warning naming the file and why, and
//!   approximate searches fall back to exact ones until [`Index::build_ann`] rebuilds it.
//! - `captions` (optional; indexes written before it have none and open as before) says that
//!   `captions.txt` holds one caption line per row, `count` of them non-empty, each at most
//!   [`MAX_CAPTION_BYTES`] bytes (longer ones are cut at a character boundary, line breaks
//!   and other control characters become spaces). The file is read bounded by
//!   `count x (MAX_CAPTION_BYTES + 2)` bytes; a missing or unreadable file only loses the
//!   captions (a warning), never the index. [`Hit::caption`] carries a result's caption.
//!
//! # Writes and crashes
//!
//! Nothing is modified in place. A commit writes the new `ids.txt` and `embeddings.f32` into
//! temporary files of the folder (an append first copies the committed rows), renames them
//! over the old ones, and writes `manifest.json` last (again temp file + rename). Readers
//! that mapped the old files keep a valid view. If a commit is cut between the renames, the
//! data files hold more rows than the manifest: [`Index::open`] uses the first `count` rows
//! and lines (the last committed state) and logs a warning, and the next append rewrites
//! them. Files shorter than the manifest says are an error.
//!
//! Temporary files (`.dualenc-<pid>-*.tmp`) of a writer that was killed are removed by the
//! next writer in the folder (see `dualenc_data::atomic`).
//!
//! **Rename only.** Other tools must follow the same discipline: replace index files by
//! rename, never rewrite or truncate them in place. A mapped file that shrinks would make
//! reading its lost pages kill the process (SIGBUS); as a guard, every search first checks
//! the length of the mapped `embeddings.f32` and fails with [`IndexError::FileShrank`] if it
//! shrank, so only a truncation racing with a running scan can still hurt.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use dualenc_data::atomic::PendingFile;
use memmap2::{Mmap, MmapOptions};
use serde::{Deserialize, Serialize};

use crate::ann::{self, AnnIndex, AnnInfo, AnnParams, ApproxOptions};
use crate::exact::{self, Scored, TopK};
use crate::{Hit, IndexError};

/// The format version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Name of the manifest file in an index folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Name of the embeddings file in an index folder.
pub const EMBEDDINGS_FILE: &str = "embeddings.f32";
/// Name of the ids file in an index folder.
pub const IDS_FILE: &str = "ids.txt";
/// Name of the optional captions file in an index folder (one line per row).
pub const CAPTIONS_FILE: &str = "captions.txt";
/// The longest caption an index keeps, in bytes of UTF-8; a longer one is cut at the last
/// character boundary before it.
pub const MAX_CAPTION_BYTES: usize = 4096;
/// The largest embedding dimension an index may have (2^20 floats, 4 MiB a row): a bound
/// on what an untrusted manifest can make the reader compute with.
pub const MAX_DIM: usize = 1 << 20;

/// The content of `manifest.json` (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version, [`FORMAT_VERSION`] for indexes this crate writes.
    pub format_version: u32,
    /// Dimension of every embedding.
    pub dim: usize,
    /// Number of videos (rows).
    pub count: usize,
    /// Reference (path or name) of the model that encoded the videos.
    pub model: String,
    /// The collections, in row order.
    pub collections: Vec<CollectionInfo>,
    /// The approximate-search graph, when one was built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ann: Option<AnnInfo>,
    /// The captions file, when some video has a caption (absent in older indexes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captions: Option<CaptionsInfo>,
}

/// The captions file recorded in the manifest: `captions.txt` holds one line per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptionsInfo {
    /// Rows with a caption (non-empty lines).
    pub count: usize,
}

/// One collection recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionInfo {
    /// Collection name (e.g. `iacc.3`).
    pub name: String,
    /// Number of its videos in the index.
    pub count: usize,
    /// The model that encoded them (same as the index's).
    pub model: String,
    /// The frame feature the videos were encoded from.
    pub feature: String,
    /// How videos were batched when encoded (free text, e.g. `batch-128` or `independent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
}

/// What a writer needs to know about a collection it starts adding.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionMeta {
    /// Collection name.
    pub name: String,
    /// Frame feature name.
    pub feature: String,
    /// Encoding mode (free text), recorded so that users know how the embeddings were made.
    pub encoding: Option<String>,
}

impl CollectionMeta {
    /// A collection with no encoding note.
    pub fn new(name: impl Into<String>, feature: impl Into<String>) -> Self {
        CollectionMeta {
            name: name.into(),
            feature: feature.into(),
            encoding: None,
        }
    }

    /// The same, noting how the videos were batched when encoded.
    pub fn with_encoding(mut self, encoding: impl Into<String>) -> Self {
        self.encoding = Some(encoding.into());
        self
    }
}

/// How to search: scan every row, or ask the HNSW graph for candidates and re-score them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SearchMode {
    /// Brute force over all rows: the reference result.
    Exact,
    /// HNSW candidates re-scored exactly (needs an ANN graph, see [`Index::build_ann`]).
    Approx(ApproxOptions),
}

fn manifest_path(dir: &Path) -> PathBuf {
    dir.join(MANIFEST_FILE)
}

/// Reads and checks `manifest.json`: version first (so that a newer layout is reported as
/// such, not as a parse error), then shape and internal consistency.
pub fn read_manifest(dir: &Path) -> Result<Manifest, IndexError> {
    let path = manifest_path(dir);
    let text = dualenc_data::untrusted::read_regular_text(&path).map_err(IndexError::io(&path))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| IndexError::ManifestParse {
            path: path.clone(),
            source,
        })?;
    let found = value
        .get("format_version")
        .and_then(serde_json::Value::as_u64);
    if found != Some(u64::from(FORMAT_VERSION)) {
        return Err(IndexError::VersionMismatch {
            path,
            found: found.and_then(|v| u32::try_from(v).ok()).unwrap_or(0),
            expected: FORMAT_VERSION,
        });
    }
    let manifest: Manifest =
        serde_json::from_value(value).map_err(|source| IndexError::ManifestParse {
            path: path.clone(),
            source,
        })?;
    check_manifest(&manifest, &path)?;
    Ok(manifest)
}

fn check_manifest(m: &Manifest, path: &Path) -> Result<(), IndexError> {
    let inconsistent = |detail: String| IndexError::ManifestInconsistent {
        path: path.to_path_buf(),
        detail,
    };
    if m.dim == 0 || m.dim > MAX_DIM {
        return Err(inconsistent(format!(
            "dim is {}, expected 1 to {MAX_DIM}",
            m.dim
        )));
    }
    let sum = m
        .collections
        .iter()
        .try_fold(0usize, |sum, c| sum.checked_add(c.count))
        .ok_or_else(|| inconsistent("the collections' counts add up beyond any size".into()))?;
    if sum != m.count {
        return Err(inconsistent(format!(
            "count is {} but the collections hold {sum} videos",
            m.count
        )));
    }
    embeddings_len(m, path)?;
    if let Some(a) = &m.ann {
        if a.count > m.count {
            return Err(inconsistent(format!(
                "ann covers {} rows of {}",
                a.count, m.count
            )));
        }
    }
    if let Some(c) = &m.captions {
        if c.count > m.count {
            return Err(inconsistent(format!(
                "captions cover {} rows of {}",
                c.count, m.count
            )));
        }
    }
    Ok(())
}

/// Writes `manifest.json` atomically (temp file + rename).
fn write_manifest(dir: &Path, m: &Manifest) -> Result<(), IndexError> {
    let path = manifest_path(dir);
    let json = serde_json::to_vec_pretty(m).map_err(|source| IndexError::ManifestParse {
        path: path.clone(),
        source,
    })?;
    dualenc_data::atomic::write_bytes_atomic(&path, &json).map_err(IndexError::io(&path))
}

/// Byte length of `count` rows of `dim` floats, or an error naming the manifest (at
/// `path`) on overflow.
fn embeddings_len(m: &Manifest, path: &Path) -> Result<usize, IndexError> {
    m.count
        .checked_mul(m.dim)
        .and_then(|n| n.checked_mul(4))
        .ok_or_else(|| IndexError::ManifestInconsistent {
            path: path.to_path_buf(),
            detail: format!("{} rows of {} floats do not fit in memory", m.count, m.dim),
        })
}

/// The memory-mapped rows of `embeddings.f32`, with the open file to check its length.
#[derive(Debug)]
struct MappedRows {
    path: PathBuf,
    file: File,
    map: Mmap,
}

impl MappedRows {
    /// The mapped floats, after checking that the file still holds them all (see the module
    /// docs, "Rename only"); no rows at all when `rows` is `None`.
    fn floats(rows: &Option<MappedRows>) -> Result<&[f32], IndexError> {
        let Some(rows) = rows else {
            return Ok(&[]);
        };
        let found = rows
            .file
            .metadata()
            .map_err(IndexError::io(&rows.path))?
            .len();
        let expected = rows.map.len() as u64;
        if found < expected {
            return Err(IndexError::FileShrank {
                path: rows.path.clone(),
                expected,
                found,
            });
        }
        // Alignment cannot fail (mappings are page-aligned); an empty slice is the fallback.
        Ok(bytemuck::try_cast_slice(&rows.map[..]).unwrap_or(&[]))
    }
}

/// A read-only index: manifest, ids, memory-mapped embeddings and the optional HNSW graph.
#[derive(Debug)]
pub struct Index {
    dir: PathBuf,
    manifest: Manifest,
    ids: Vec<String>,
    rows: Option<MappedRows>,
    ann: Option<AnnIndex>,
    /// One caption per row (empty: none), or no entry at all when the index has none.
    captions: Vec<String>,
}

impl Index {
    /// Opens the index in `dir`, checking the manifest version, the file sizes against the
    /// manifest and the ids (unique, no blank line, no whitespace), memory-maps the
    /// embeddings and loads the HNSW graph if it verifies (otherwise a warning: approximate
    /// searches then scan exactly) and the captions, if any (a captions file that cannot be
    /// read is a warning: the index opens without captions).
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        let manifest = read_manifest(dir)?;
        let ids = read_ids(dir, manifest.count)?;
        let rows = map_embeddings(dir, &manifest)?;
        let ann = open_ann(dir, &manifest);
        let captions = open_captions(dir, &manifest);
        Ok(Index {
            dir: dir.to_path_buf(),
            manifest,
            ids,
            rows,
            ann,
            captions,
        })
    }

    /// The index folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest (dimension, count, collections, model, ANN parameters).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Number of videos.
    pub fn len(&self) -> usize {
        self.manifest.count
    }

    /// Whether the index holds no video.
    pub fn is_empty(&self) -> bool {
        self.manifest.count == 0
    }

    /// Embedding dimension.
    pub fn dim(&self) -> usize {
        self.manifest.dim
    }

    /// All ids, in row order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// All embeddings, `len() x dim()` row-major, straight from the memory map, or
    /// [`IndexError::FileShrank`] if `embeddings.f32` was truncated since the index was
    /// opened. The slice stays valid only as long as nobody truncates the file in place.
    pub fn embeddings(&self) -> Result<&[f32], IndexError> {
        MappedRows::floats(&self.rows)
    }

    /// The HNSW graph, when the index has one.
    pub fn ann(&self) -> Option<&AnnIndex> {
        self.ann.as_ref()
    }

    /// The caption of the video in row `row`, if the index keeps one for it.
    pub fn caption(&self, row: usize) -> Option<&str> {
        self.captions
            .get(row)
            .map(String::as_str)
            .filter(|c| !c.is_empty())
    }

    /// How many videos have a caption.
    pub fn caption_count(&self) -> usize {
        self.captions.iter().filter(|c| !c.is_empty()).count()
    }

    /// The score of every video for `query`, in row order (e.g. to rank a whole collection).
    pub fn scores(&self, query: &[f32]) -> Result<Vec<f32>, IndexError> {
        exact::scores(self.embeddings()?, self.dim(), query).map_err(|e| self.locate(e))
    }

    /// Adds the file, row and id to an error about a row of the embeddings.
    fn locate(&self, error: IndexError) -> IndexError {
        match error {
            IndexError::NonFiniteScore { row, score } => IndexError::NonFiniteRow {
                path: self.dir.join(EMBEDDINGS_FILE),
                row,
                id: self.ids.get(row).cloned().unwrap_or_default(),
                value: score,
            },
            other => other,
        }
    }

    /// The `k` best rows for `query` without ids (see [`Index::search`]).
    pub fn top_k(
        &self,
        query: &[f32],
        k: usize,
        mode: SearchMode,
    ) -> Result<Vec<Scored>, IndexError> {
        let top = match mode {
            SearchMode::Exact => exact::top_k(self.embeddings()?, self.dim(), query, k),
            SearchMode::Approx(options) => self.approx_top_k(query, k, options),
        };
        top.map_err(|e| self.locate(e))
    }

    /// The `k` best videos for `query` (a `dim()` vector), best first.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        mode: SearchMode,
    ) -> Result<Vec<Hit>, IndexError> {
        Ok(self.hits(self.top_k(query, k, mode)?))
    }

    /// The `k` best rows of each query of a batch (`queries`: `q x dim()` row-major), without ids.
    pub fn top_k_batch(
        &self,
        queries: &[f32],
        k: usize,
        mode: SearchMode,
    ) -> Result<Vec<Vec<Scored>>, IndexError> {
        let tops = match mode {
            SearchMode::Exact => exact::top_k_batch(self.embeddings()?, self.dim(), queries, k),
            SearchMode::Approx(options) => {
                if !queries.len().is_multiple_of(self.dim()) {
                    return Err(IndexError::DimMismatch {
                        what: "query batch (not a whole number of queries)".into(),
                        expected: self.dim(),
                        found: queries.len(),
                    });
                }
                use rayon::prelude::*;
                queries
                    .par_chunks_exact(self.dim())
                    .map(|q| self.approx_top_k(q, k, options))
                    .collect()
            }
        };
        tops.map_err(|e| self.locate(e))
    }

    /// The `k` best videos of each query of a batch, in query order.
    pub fn search_batch(
        &self,
        queries: &[f32],
        k: usize,
        mode: SearchMode,
    ) -> Result<Vec<Vec<Hit>>, IndexError> {
        Ok(self
            .top_k_batch(queries, k, mode)?
            .into_iter()
            .map(|top| self.hits(top))
            .collect())
    }

    /// Attaches ids and 1-based ranks to scored rows.
    fn hits(&self, top: Vec<Scored>) -> Vec<Hit> {
        top.into_iter()
            .enumerate()
            .map(|(rank, s)| Hit {
                index: s.index,
                id: self.ids.get(s.index).cloned().unwrap_or_default(),
                score: s.score,
                rank: rank + 1,
                caption: self.caption(s.index).map(str::to_owned),
            })
            .collect()
    }

    /// HNSW candidates of the graph's rows, plus an exact scan of rows appended after the
    /// graph was built, all re-scored from the embeddings. An index whose graph was not
    /// loaded (it did not verify, see [`Index::open`]) is scanned exactly.
    fn approx_top_k(
        &self,
        query: &[f32],
        k: usize,
        options: ApproxOptions,
    ) -> Result<Vec<Scored>, IndexError> {
        let rows = self.embeddings()?;
        let dim = self.dim();
        let Some(ann) = &self.ann else {
            return match self.manifest.ann {
                Some(_) => exact::top_k(rows, dim, query, k),
                None => Err(IndexError::NoAnn {
                    path: self.dir.clone(),
                }),
            };
        };
        let mut top = TopK::new(k);
        for row in ann.candidates(query, k.max(options.candidates))? {
            if let Some(embedding) = row_of(rows, dim, row) {
                top.push(row, exact::dot(embedding, query));
            }
        }
        let covered = ann.len().min(self.len());
        let tail = rows.get(covered * dim..).unwrap_or(&[]);
        top.merge(exact::top_k_from(tail, dim, query, k, covered)?)
            .into_result()
    }

    /// Builds (or extends) the HNSW graph over all rows, saves it as `ann.usearch` and records
    /// it in the manifest. With the same parameters as an existing graph, only the rows
    /// appended since are added; otherwise the graph is rebuilt. `progress` receives the
    /// number of rows added so far.
    pub fn build_ann(
        &mut self,
        params: AnnParams,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<(), IndexError> {
        if self.is_empty() {
            return Err(IndexError::Usage(format!(
                "{}: the index is empty; add videos before building an ANN graph",
                self.dir.display()
            )));
        }
        let dim = self.dim();
        let rows = MappedRows::floats(&self.rows)?;
        if let Some((row, value)) = exact::first_non_finite(rows, dim) {
            return Err(self.locate(IndexError::NonFiniteScore { row, score: value }));
        }
        let path = self.dir.join(ann::ANN_FILE);
        let graph = match self.ann.take().filter(|graph| graph.params() == params) {
            Some(mut graph) => {
                graph.extend(rows, progress)?;
                graph
            }
            None => AnnIndex::build(&path, rows, dim, params, progress)?,
        };
        let file = graph.save(&path)?;
        self.manifest.ann = Some(AnnInfo {
            params,
            count: graph.len(),
            file: Some(file),
        });
        write_manifest(&self.dir, &self.manifest)?;
        self.ann = Some(graph);
        Ok(())
    }

    /// Changes the HNSW search breadth (usearch `expansion_search`) for later searches.
    pub fn set_ann_expansion_search(&mut self, expansion: usize) {
        if let Some(ann) = &self.ann {
            ann.set_expansion_search(expansion);
        }
    }
}

/// Row `row` of a `n x dim` matrix, if it exists.
fn row_of(rows: &[f32], dim: usize, row: usize) -> Option<&[f32]> {
    let start = row.checked_mul(dim)?;
    rows.get(start..start.checked_add(dim)?)
}

/// The verified HNSW graph of the index, or `None` (with a warning naming the file and the
/// reason) when the manifest records none or the file does not verify.
fn open_ann(dir: &Path, manifest: &Manifest) -> Option<AnnIndex> {
    let info = manifest.ann.as_ref()?;
    match AnnIndex::open(&dir.join(ann::ANN_FILE), info, manifest.dim) {
        Ok(graph) => Some(graph),
        Err(e) => {
            tracing::warn!("{e}; approximate searches scan every row exactly until the graph is rebuilt (`dualenc index --ann`)");
            None
        }
    }
}

/// The captions of the index's rows, or none (with a warning naming the file and the reason)
/// when the manifest records none or `captions.txt` cannot be read.
fn open_captions(dir: &Path, manifest: &Manifest) -> Vec<String> {
    if manifest.captions.is_none() {
        return Vec::new();
    }
    let path = dir.join(CAPTIONS_FILE);
    match read_captions_file(&path, manifest.count) {
        Ok(captions) => captions,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "the index's captions cannot be read; results are shown without captions");
            Vec::new()
        }
    }
}

/// Reads the first `count` lines of a captions file, at most `count x (MAX_CAPTION_BYTES +
/// 2)` bytes (a caption, `\r`, `\n`); a missing line is an empty caption (with a warning),
/// bytes that are not UTF-8 are replaced and an over-long line is cut.
fn read_captions_file(path: &Path, count: usize) -> std::io::Result<Vec<String>> {
    let (file, len) = dualenc_data::untrusted::open_regular_file(path)?;
    let bound = u64::try_from(count)
        .ok()
        .and_then(|n| n.checked_mul(MAX_CAPTION_BYTES as u64 + 2))
        .unwrap_or(u64::MAX);
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(usize::try_from(len.min(bound)).unwrap_or(0))?;
    file.take(bound).read_to_end(&mut bytes)?;
    let mut captions: Vec<String> = bytes
        .split(|&b| b == b'\n')
        .take(count)
        .map(|line| clean_caption(&String::from_utf8_lossy(line)))
        .collect();
    if captions.len() < count {
        tracing::warn!(path = %path.display(), lines = captions.len(), count, "captions.txt holds fewer lines than the index has rows; the others have no caption");
        captions.resize(count, String::new());
    }
    Ok(captions)
}

/// A caption as the index keeps it: control characters (line breaks included) become spaces,
/// surrounding white space is trimmed and the text is cut to [`MAX_CAPTION_BYTES`] at a
/// character boundary.
pub fn clean_caption(text: &str) -> String {
    let spaced: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = spaced.trim();
    let mut end = trimmed.len().min(MAX_CAPTION_BYTES);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    trimmed[..end].trim_end().to_owned()
}

/// Reads the first `count` ids of `ids.txt`, checking that there are enough, that each is a
/// valid id (see [`id_problem`]) and that they are unique.
fn read_ids(dir: &Path, count: usize) -> Result<Vec<String>, IndexError> {
    let path = dir.join(IDS_FILE);
    let mut bytes = Vec::new();
    File::open(&path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(IndexError::io(&path))?;
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        lines.pop();
    }
    if lines.len() < count {
        return Err(IndexError::SizeMismatch {
            path,
            count,
            expected: format!("{count} lines"),
            found: format!("{} lines", lines.len()),
        });
    }
    if lines.len() > count {
        tracing::warn!(path = %path.display(), lines = lines.len(), count, "ids.txt holds more lines than the manifest (interrupted commit?); using the first {count}");
    }
    let mut ids = Vec::with_capacity(count);
    let mut seen = HashSet::with_capacity(count);
    for (line_no, line) in lines.into_iter().take(count).enumerate() {
        let text = std::str::from_utf8(line).map_err(|e| IndexError::Io {
            path: path.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("line {}: not UTF-8 ({e})", line_no + 1),
            ),
        })?;
        let id = text.strip_suffix('\r').unwrap_or(text);
        if let Some(reason) = id_problem(id) {
            return Err(IndexError::InvalidIdInFile {
                path,
                line: line_no + 1,
                id: id.to_string(),
                reason,
            });
        }
        if !seen.insert(id) {
            return Err(IndexError::DuplicateIdInFile {
                path,
                line: line_no + 1,
                id: id.to_string(),
            });
        }
        ids.push(id.to_string());
    }
    Ok(ids)
}

/// Maps the first `count x dim` floats of `embeddings.f32` after checking the file size.
fn map_embeddings(dir: &Path, m: &Manifest) -> Result<Option<MappedRows>, IndexError> {
    let path = dir.join(EMBEDDINGS_FILE);
    let needed = embeddings_len(m, &manifest_path(dir))?;
    let file = File::open(&path).map_err(IndexError::io(&path))?;
    let found = file.metadata().map_err(IndexError::io(&path))?.len();
    // `check_manifest` bounds dim by MAX_DIM: 4 * dim cannot overflow.
    let row_bytes = (m.dim * 4) as u64;
    if found < needed as u64 || !(found - needed as u64).is_multiple_of(row_bytes) {
        return Err(IndexError::SizeMismatch {
            path,
            count: m.count,
            expected: format!("{needed} bytes ({} x {} little-endian f32)", m.count, m.dim),
            found: format!("{found} bytes"),
        });
    }
    if found > needed as u64 {
        tracing::warn!(path = %path.display(), found, needed, "embeddings.f32 is longer than the manifest says (interrupted commit?); using the first {} rows", m.count);
    }
    if needed == 0 {
        return Ok(None);
    }
    // SAFETY: index files are never modified in place (commits write new files and rename
    // them), so the mapped bytes cannot change while the map lives; a file truncated in
    // place anyway is caught by the length check of `MappedRows::floats` before each use.
    let map =
        unsafe { MmapOptions::new().len(needed).map(&file) }.map_err(IndexError::io(&path))?;
    Ok(Some(MappedRows { path, file, map }))
}

/// A pending temporary file in the index folder, renamed over its target at commit.
struct Staged(PendingFile);

impl Staged {
    fn new(dir: &Path, name: &str) -> Result<Self, IndexError> {
        let target = dir.join(name);
        PendingFile::create(&target)
            .map(Staged)
            .map_err(IndexError::io(&target))
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), IndexError> {
        let target = self.0.target().to_path_buf();
        self.0
            .writer()
            .write_all(bytes)
            .map_err(IndexError::io(&target))
    }

    /// Flushes, syncs and renames the temporary file over the target.
    fn persist(self) -> Result<(), IndexError> {
        let target = self.0.target().to_path_buf();
        self.0.commit().map_err(IndexError::io(&target))
    }
}

/// Creates an index or appends collections to one; nothing is visible until [`commit`].
///
/// [`commit`]: IndexWriter::commit
pub struct IndexWriter {
    dir: PathBuf,
    manifest: Manifest,
    /// Every id of the index and of this commit, with the position of its collection and its
    /// row.
    known: HashMap<String, (usize, usize)>,
    /// One caption per row (empty: none); the index's own when appending.
    captions: Vec<String>,
    embeddings: Staged,
    ids: Staged,
    /// Position in `manifest.collections` of the collection rows go to, once started.
    current: Option<usize>,
}

impl IndexWriter {
    /// Starts a new index of `dim`-dimensional embeddings of `model` in `dir` (created if
    /// missing). Fails if `dir` already holds an index: append to it instead.
    pub fn create(dir: &Path, dim: usize, model: &str) -> Result<Self, IndexError> {
        if dim == 0 || dim > MAX_DIM {
            return Err(IndexError::Usage(format!(
                "an index needs a dimension of 1 to {MAX_DIM}, not {dim}"
            )));
        }
        if manifest_path(dir).exists() {
            return Err(IndexError::Usage(format!(
                "{} already holds an index; append to it or choose another folder",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(IndexError::io(dir))?;
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            dim,
            count: 0,
            model: model.to_string(),
            collections: Vec::new(),
            ann: None,
            captions: None,
        };
        Ok(IndexWriter {
            dir: dir.to_path_buf(),
            manifest,
            known: HashMap::new(),
            captions: Vec::new(),
            embeddings: Staged::new(dir, EMBEDDINGS_FILE)?,
            ids: Staged::new(dir, IDS_FILE)?,
            current: None,
        })
    }

    /// Opens the index in `dir` for appending embeddings of `model` (which must be the
    /// index's). The committed rows (and their captions) are copied into the new files first.
    pub fn append(dir: &Path, model: &str) -> Result<Self, IndexError> {
        let index = Index::open(dir)?;
        let manifest = index.manifest.clone();
        if manifest.model != model {
            return Err(IndexError::ModelMismatch {
                path: manifest_path(dir),
                index_model: manifest.model,
                given: model.to_string(),
            });
        }
        let mut embeddings = Staged::new(dir, EMBEDDINGS_FILE)?;
        embeddings.write(bytemuck::cast_slice(index.embeddings()?))?;
        let mut ids = Staged::new(dir, IDS_FILE)?;
        let mut known = HashMap::with_capacity(index.len());
        let owners = manifest
            .collections
            .iter()
            .enumerate()
            .flat_map(|(c, info)| std::iter::repeat_n(c, info.count));
        for (row, (id, owner)) in index.ids.iter().zip(owners).enumerate() {
            ids.write(id.as_bytes())?;
            ids.write(b"\n")?;
            known.insert(id.clone(), (owner, row));
        }
        let mut captions = index.captions;
        captions.resize(index.ids.len(), String::new());
        Ok(IndexWriter {
            dir: dir.to_path_buf(),
            manifest,
            known,
            captions,
            embeddings,
            ids,
            current: None,
        })
    }

    /// Embedding dimension the writer expects.
    pub fn dim(&self) -> usize {
        self.manifest.dim
    }

    /// Rows in the index once committed (committed rows plus rows added so far).
    pub fn len(&self) -> usize {
        self.manifest.count
    }

    /// Whether no row is committed or added.
    pub fn is_empty(&self) -> bool {
        self.manifest.count == 0
    }

    /// Starts a collection (its name must not be empty); the rows added next belong to it.
    pub fn start_collection(&mut self, meta: CollectionMeta) -> Result<(), IndexError> {
        if meta.name.trim().is_empty() {
            return Err(IndexError::Usage(
                "a collection needs a name (got an empty one)".into(),
            ));
        }
        self.manifest.collections.push(CollectionInfo {
            name: meta.name,
            count: 0,
            model: self.manifest.model.clone(),
            feature: meta.feature,
            encoding: meta.encoding,
        });
        self.current = Some(self.manifest.collections.len() - 1);
        Ok(())
    }

    /// Adds one video: its id (unique in the index) and its `dim()` embedding.
    pub fn add(&mut self, id: &str, embedding: &[f32]) -> Result<(), IndexError> {
        let current = self.current.ok_or_else(|| {
            IndexError::Usage(format!(
                "video {id:?} added before any collection was started"
            ))
        })?;
        check_id(id)?;
        self.check_row(id, embedding)?;
        if let Some(&(owner, _)) = self.known.get(id) {
            let collection = self
                .manifest
                .collections
                .get(owner)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            return Err(IndexError::DuplicateId {
                id: id.to_string(),
                collection,
            });
        }
        self.embeddings.write(bytemuck::cast_slice(embedding))?;
        self.ids.write(id.as_bytes())?;
        self.ids.write(b"\n")?;
        self.known
            .insert(id.to_string(), (current, self.manifest.count));
        self.captions.push(String::new());
        self.manifest.count += 1;
        if let Some(info) = self.manifest.collections.get_mut(current) {
            info.count += 1;
        }
        Ok(())
    }

    /// Adds a batch of videos: `embeddings` holds `ids.len() x dim()` floats, row-major.
    pub fn add_batch<S: AsRef<str>>(
        &mut self,
        ids: &[S],
        embeddings: &[f32],
    ) -> Result<(), IndexError> {
        if embeddings.len() != ids.len() * self.dim() {
            return Err(IndexError::DimMismatch {
                what: format!("batch of {} embeddings", ids.len()),
                expected: ids.len() * self.dim(),
                found: embeddings.len(),
            });
        }
        for (id, row) in ids.iter().zip(embeddings.chunks_exact(self.dim())) {
            self.add(id.as_ref(), row)?;
        }
        Ok(())
    }

    fn check_row(&self, id: &str, embedding: &[f32]) -> Result<(), IndexError> {
        if embedding.len() != self.dim() {
            return Err(IndexError::DimMismatch {
                what: format!("embedding of id {id:?}"),
                expected: self.dim(),
                found: embedding.len(),
            });
        }
        match embedding.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            Some((position, &value)) => Err(IndexError::NonFinite {
                id: id.to_string(),
                position,
                value,
            }),
            None => Ok(()),
        }
    }

    /// Sets the caption of a video already added (in this writer or committed before),
    /// replacing any it had; see [`clean_caption`] for what is kept. An empty caption
    /// removes it.
    pub fn set_caption(&mut self, id: &str, caption: &str) -> Result<(), IndexError> {
        let row = match self.known.get(id) {
            Some(&(_, row)) => row,
            None => {
                return Err(IndexError::Usage(format!(
                    "caption for video {id:?}, which is not in the index"
                )))
            }
        };
        if let Some(slot) = self.captions.get_mut(row) {
            *slot = clean_caption(caption);
        }
        Ok(())
    }

    /// Makes the new rows visible: renames the data files (and `captions.txt` when some
    /// video has a caption) into place, then writes the manifest. Returns the committed
    /// manifest.
    pub fn commit(mut self) -> Result<Manifest, IndexError> {
        self.ids.persist()?;
        self.embeddings.persist()?;
        self.manifest.captions = write_captions(&self.dir, &self.captions)?;
        write_manifest(&self.dir, &self.manifest)?;
        Ok(self.manifest)
    }
}

/// Writes `captions.txt` (one line per row) when some row has a caption; returns what the
/// manifest records of it.
fn write_captions(dir: &Path, captions: &[String]) -> Result<Option<CaptionsInfo>, IndexError> {
    let count = captions.iter().filter(|c| !c.is_empty()).count();
    if count == 0 {
        return Ok(None);
    }
    let mut file = Staged::new(dir, CAPTIONS_FILE)?;
    for caption in captions {
        file.write(caption.as_bytes())?;
        file.write(b"\n")?;
    }
    file.persist()?;
    Ok(Some(CaptionsInfo { count }))
}

/// Refuses an id that [`id_problem`] finds wrong.
fn check_id(id: &str) -> Result<(), IndexError> {
    match id_problem(id) {
        Some(reason) => Err(IndexError::InvalidId {
            id: id.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Why `id` cannot be a video id, if it cannot: ids are stored one per line and, as in the
/// VisualSearch id files, hold no whitespace at all.
fn id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        Some("an id cannot be empty (blank line?)")
    } else if id.chars().any(char::is_whitespace) {
        Some("an id cannot hold whitespace (spaces, tabs, line breaks)")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a two-row index of `collection` in `dir`, captioning `video0` only.
    fn two_rows(dir: &Path) -> Manifest {
        let mut writer = IndexWriter::create(dir, 2, "model").expect("create");
        writer
            .start_collection(CollectionMeta::new("c1", "feat"))
            .expect("start");
        writer.add("video0", &[1.0, 0.0]).expect("add");
        writer.add("video1", &[0.0, 1.0]).expect("add");
        writer
            .set_caption("video0", "a dog runs\non the beach")
            .expect("caption");
        writer.commit().expect("commit")
    }

    #[test]
    fn captions_survive_write_open_and_append() {
        let dir = tempfile::tempdir().expect("temp dir");
        let manifest = two_rows(dir.path());
        assert_eq!(manifest.captions, Some(CaptionsInfo { count: 1 }));
        let index = Index::open(dir.path()).expect("open");
        assert_eq!(index.caption(0), Some("a dog runs on the beach"));
        assert_eq!(index.caption(1), None);
        let hits = index
            .search(&[1.0, 0.0], 2, SearchMode::Exact)
            .expect("search");
        assert_eq!(hits[0].caption.as_deref(), Some("a dog runs on the beach"));
        assert_eq!(hits[1].caption, None);

        let mut writer = IndexWriter::append(dir.path(), "model").expect("append");
        writer
            .start_collection(CollectionMeta::new("c2", "feat"))
            .expect("start");
        writer.add("video2", &[0.6, 0.8]).expect("add");
        writer.set_caption("video2", "a cat").expect("caption");
        assert!(writer.set_caption("video9", "nobody").is_err());
        writer.commit().expect("commit");
        let index = Index::open(dir.path()).expect("reopen");
        assert_eq!(index.caption(0), Some("a dog runs on the beach"));
        assert_eq!(index.caption(2), Some("a cat"));
        assert_eq!(index.caption_count(), 2);
        assert_eq!(index.manifest().captions, Some(CaptionsInfo { count: 2 }));
    }

    #[test]
    fn an_index_without_captions_opens_as_before() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut writer = IndexWriter::create(dir.path(), 2, "model").expect("create");
        writer
            .start_collection(CollectionMeta::new("c1", "feat"))
            .expect("start");
        writer.add("video0", &[1.0, 0.0]).expect("add");
        let manifest = writer.commit().expect("commit");
        assert_eq!(manifest.captions, None);
        assert!(!dir.path().join(CAPTIONS_FILE).exists());
        let text = std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).expect("manifest");
        assert!(!text.contains("captions"), "{text}");
        let index = Index::open(dir.path()).expect("open");
        assert_eq!(index.caption(0), None);
        let hits = index
            .search(&[1.0, 0.0], 1, SearchMode::Exact)
            .expect("search");
        assert_eq!(hits[0].caption, None);
    }

    #[test]
    fn a_lost_captions_file_only_loses_the_captions() {
        let dir = tempfile::tempdir().expect("temp dir");
        two_rows(dir.path());
        std::fs::remove_file(dir.path().join(CAPTIONS_FILE)).expect("remove");
        let index = Index::open(dir.path()).expect("open");
        assert_eq!(index.caption(0), None);
        assert_eq!(index.len(), 2);
    }

    #[test]
    fn captions_are_read_bounded_and_cut_at_a_char_boundary() {
        let dir = tempfile::tempdir().expect("temp dir");
        two_rows(dir.path());
        // 2 bytes each: as long as the whole bound of a two-row index (2 x 4098 bytes).
        let long = "é".repeat(MAX_CAPTION_BYTES + 2);
        let text = format!("{long}\nsecond\nthird line beyond the rows\n");
        std::fs::write(dir.path().join(CAPTIONS_FILE), text).expect("write");
        let index = Index::open(dir.path()).expect("open");
        let first = index.caption(0).expect("caption");
        assert!(first.len() <= MAX_CAPTION_BYTES, "{}", first.len());
        assert!(first.chars().all(|c| c == 'é'));
        // The bound ends with the first line: the second is never read.
        assert_eq!(index.caption(1), None);
    }

    #[test]
    fn clean_caption_cuts_multibyte_text_on_a_boundary() {
        let text = format!("{}€", "a".repeat(MAX_CAPTION_BYTES - 1));
        let cut = clean_caption(&text);
        assert_eq!(cut.len(), MAX_CAPTION_BYTES - 1);
        assert_eq!(clean_caption("  a\tb\r\n"), "a b");
    }
}
