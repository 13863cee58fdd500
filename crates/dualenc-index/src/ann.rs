//! Approximate search: a usearch HNSW graph whose candidates are re-scored exactly.
//!
//! The graph (file `ann.usearch` of an index) stores every row under its row index as key,
//! with cosine distance and the vectors in `f32`, `f16` or `i8` ([`Storage`]): the smaller
//! storages cost less memory and distance time but rank less precisely, which the exact
//! re-scoring of the `k' >= k` candidates from `embeddings.f32` repairs. Parameters:
//! `connectivity` (HNSW `M`, edges per node), `expansion_add` (`efConstruction`) and
//! `expansion_search` (`ef`; a search explores at least `max(ef, k')` nodes).
//!
//! Appending rows to an index leaves the graph covering only the first rows; searches scan
//! the rows after them exactly, and [`Index::build_ann`](crate::Index::build_ann) with the
//! same parameters adds the missing rows to the graph.
//!
//! # Trusting the graph file
//!
//! usearch follows the offsets and neighbour lists of a graph file without checking them:
//! a damaged file makes it read out of bounds (the process dies). So a graph is never handed
//! to usearch unverified: when it is saved, its length and XXH3-64 hash are recorded in the
//! manifest ([`AnnFile`]); [`AnnIndex::open`] reads the whole file into memory, compares
//! length and hash, then checks usearch's own reading of the header and of the loaded graph
//! (dimension, metric, storage, connectivity, number of vectors) against the manifest, and
//! only then loads the graph from those same bytes (so the file cannot change between the
//! check and the load). The graph lives in memory; opening costs one read of the file and,
//! for a moment, twice its size in memory.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use usearch::{IndexOptions, MetricKind, ScalarKind};

use crate::exact::Scored;
use crate::index::{Index, SearchMode};
use crate::IndexError;

/// Name of the graph file in an index folder.
pub const ANN_FILE: &str = "ann.usearch";

/// Rows between two calls of a build's progress callback.
const PROGRESS_EVERY: usize = 1024;

/// How the graph stores vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    /// 4 bytes per value: exact distances, the most memory.
    F32,
    /// 2 bytes per value (IEEE half precision).
    F16,
    /// 1 byte per value (vector scaled to unit norm, times 127).
    I8,
}

impl Storage {
    fn scalar_kind(self) -> ScalarKind {
        match self {
            Storage::F32 => ScalarKind::F32,
            Storage::F16 => ScalarKind::F16,
            Storage::I8 => ScalarKind::I8,
        }
    }
}

impl fmt::Display for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Storage::F32 => "f32",
            Storage::F16 => "f16",
            Storage::I8 => "i8",
        })
    }
}

impl FromStr for Storage {
    type Err = String;

    /// Parses `f32`, `f16` or `i8` (as on a command line).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Ok(Storage::F32),
            "f16" => Ok(Storage::F16),
            "i8" => Ok(Storage::I8),
            other => Err(format!(
                "unknown ANN storage {other:?}: expected f32, f16 or i8"
            )),
        }
    }
}

/// HNSW construction and search parameters, recorded in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnParams {
    /// Edges per node (HNSW `M`); more means better recall, more memory, slower build.
    pub connectivity: usize,
    /// Breadth of the search while inserting (`efConstruction`).
    pub expansion_add: usize,
    /// Default breadth of a query's search (`ef`).
    pub expansion_search: usize,
    /// Vector storage inside the graph.
    pub storage: Storage,
}

impl Default for AnnParams {
    /// M 16, efConstruction 128, ef 128, f16 storage: favours recall (the re-scoring makes
    /// f16 lossless in ranking terms) over the last milliseconds.
    fn default() -> Self {
        AnnParams {
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 128,
            storage: Storage::F16,
        }
    }
}

/// The `ann` entry of the manifest: parameters, how many leading rows the graph holds and
/// the fingerprint of its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnInfo {
    /// Parameters the graph was built with.
    pub params: AnnParams,
    /// Rows `0..count` are in the graph.
    pub count: usize,
    /// Length and hash of `ann.usearch` as saved; a graph without one (written by an older
    /// version) is not loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<AnnFile>,
}

/// Length and XXH3-64 hash (16 hex digits) of a saved graph file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnFile {
    /// File length in bytes.
    pub bytes: u64,
    /// XXH3-64 (seed 0) of the whole file, as 16 lower-case hex digits.
    pub xxh3_64: String,
}

impl AnnFile {
    /// The fingerprint of a file's bytes.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        AnnFile {
            bytes: bytes.len() as u64,
            xxh3_64: hex64(xxhash_rust::xxh3::xxh3_64(bytes)),
        }
    }

    /// The fingerprint of the file at `path`, read in chunks.
    pub fn of_file(path: &Path) -> std::io::Result<Self> {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = xxhash_rust::xxh3::Xxh3Default::new();
        let mut buffer = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            bytes += n as u64;
        }
        Ok(AnnFile {
            bytes,
            xxh3_64: hex64(hasher.digest()),
        })
    }
}

fn hex64(hash: u64) -> String {
    format!("{hash:016x}")
}

/// Options of one approximate search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApproxOptions {
    /// Candidates asked of the graph and re-scored exactly: `k' = max(k, candidates)`.
    pub candidates: usize,
}

/// An HNSW graph over the rows of an index (keys are row indices).
pub struct AnnIndex {
    inner: usearch::Index,
    params: AnnParams,
    dim: usize,
    path: PathBuf,
}

impl fmt::Debug for AnnIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnnIndex")
            .field("path", &self.path)
            .field("params", &self.params)
            .field("dim", &self.dim)
            .field("len", &self.len())
            .finish()
    }
}

/// Turns a usearch exception into an error naming the graph file.
fn ann_error<E: fmt::Display>(path: &Path) -> impl FnOnce(E) -> IndexError + '_ {
    move |e| IndexError::Ann {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// A graph file that fails verification, named with the reason.
fn rejected(path: &Path, reason: String) -> IndexError {
    IndexError::AnnRejected {
        path: path.to_path_buf(),
        reason,
    }
}

/// Reads the whole file at `path`, which must be `expected` bytes long (checked before
/// reading, so that a wrong file costs no large allocation).
fn read_exactly(path: &Path, expected: u64) -> Result<Vec<u8>, IndexError> {
    let file = std::fs::File::open(path).map_err(IndexError::io(path))?;
    let found = file.metadata().map_err(IndexError::io(path))?.len();
    if found != expected {
        return Err(rejected(
            path,
            format!("{found} bytes, the manifest records {expected}"),
        ));
    }
    let capacity = usize::try_from(expected)
        .map_err(|_| rejected(path, format!("{expected} bytes do not fit in memory")))?;
    let mut bytes = Vec::with_capacity(capacity);
    file.take(expected.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(IndexError::io(path))?;
    if bytes.len() as u64 != expected {
        return Err(rejected(
            path,
            format!(
                "{} bytes read, the manifest records {expected}",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

/// Compares usearch's reading of the (verified) header with what the manifest says.
fn check_header(bytes: &[u8], path: &Path, info: &AnnInfo, dim: usize) -> Result<(), IndexError> {
    let meta = usearch::Index::metadata_from_buffer(bytes).map_err(ann_error(path))?;
    let expected = (
        dim as u64,
        MetricKind::Cos,
        info.params.storage.scalar_kind(),
        false,
        info.count as u64,
        0,
    );
    let found = (
        meta.dimensions,
        meta.metric,
        meta.quantization,
        meta.multi,
        meta.count_present,
        meta.count_deleted,
    );
    if found != expected {
        return Err(rejected(
            path,
            format!(
                "header says {} vectors ({} deleted) of dimension {}, the manifest {} of dimension {dim} (or the metric, storage or multi-key flag differ)",
                meta.count_present, meta.count_deleted, meta.dimensions, info.count
            ),
        ));
    }
    Ok(())
}

/// usearch takes paths as `&str`.
fn path_str(path: &Path) -> Result<&str, IndexError> {
    path.to_str().ok_or_else(|| IndexError::Ann {
        path: path.to_path_buf(),
        message: "the path is not valid UTF-8".into(),
    })
}

impl AnnIndex {
    /// Builds a graph over all rows of `rows` (`n x dim`, row-major) with the rayon pool;
    /// `path` is where it will be saved (used in error messages). `progress` receives the
    /// number of rows inserted so far.
    pub fn build(
        path: &Path,
        rows: &[f32],
        dim: usize,
        params: AnnParams,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Self, IndexError> {
        let options = IndexOptions {
            dimensions: dim,
            metric: MetricKind::Cos,
            quantization: params.storage.scalar_kind(),
            connectivity: params.connectivity,
            expansion_add: params.expansion_add,
            expansion_search: params.expansion_search,
            multi: false,
        };
        let inner = usearch::Index::new(&options).map_err(ann_error(path))?;
        let mut graph = AnnIndex {
            inner,
            params,
            dim,
            path: path.to_path_buf(),
        };
        graph.extend(rows, progress)?;
        Ok(graph)
    }

    /// Inserts the rows of `rows` (`n x dim`) that the graph does not hold yet (those after
    /// its first `len()`), in parallel.
    pub fn extend(
        &mut self,
        rows: &[f32],
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<(), IndexError> {
        if self.dim == 0 || !rows.len().is_multiple_of(self.dim) {
            return Err(IndexError::DimMismatch {
                what: "rows for the ANN graph (not a whole number of rows)".into(),
                expected: self.dim,
                found: rows.len(),
            });
        }
        let total = rows.len() / self.dim;
        let start = self.len();
        let new_rows = rows.get(start * self.dim..).unwrap_or(&[]);
        let path = self.path.clone();
        self.inner
            .reserve_capacity_and_threads(total, rayon::current_num_threads())
            .map_err(ann_error(&path))?;
        let done = AtomicUsize::new(0);
        new_rows
            .par_chunks_exact(self.dim)
            .enumerate()
            .try_for_each(|(i, row)| {
                self.inner
                    .add((start + i) as u64, row)
                    .map_err(ann_error(&path))?;
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(PROGRESS_EVERY) {
                    progress(n);
                }
                Ok::<(), IndexError>(())
            })?;
        progress(done.into_inner());
        Ok(())
    }

    /// Loads the saved graph at `path` after verifying it against the manifest's `info`
    /// (see the module docs): a missing fingerprint, another length or hash, or a graph that
    /// usearch reads with another shape than the manifest's is an [`IndexError::AnnRejected`]
    /// naming the file, and usearch never sees such a file.
    pub fn open(path: &Path, info: &AnnInfo, dim: usize) -> Result<Self, IndexError> {
        let expected = info.file.as_ref().ok_or_else(|| {
            rejected(
                path,
                "the manifest records no length and hash of the graph file (older index)".into(),
            )
        })?;
        let bytes = read_exactly(path, expected.bytes)?;
        let found = AnnFile::of_bytes(&bytes);
        if found != *expected {
            return Err(rejected(
                path,
                format!(
                    "XXH3-64 {} differs from the {} recorded in the manifest (damaged or replaced file)",
                    found.xxh3_64, expected.xxh3_64
                ),
            ));
        }
        check_header(&bytes, path, info, dim)?;
        let inner = usearch::Index::restore_from_buffer(&bytes).map_err(ann_error(path))?;
        Self::checked(inner, path, info, dim)
    }

    /// Checks the loaded graph's shape against the manifest.
    fn checked(
        inner: usearch::Index,
        path: &Path,
        info: &AnnInfo,
        dim: usize,
    ) -> Result<Self, IndexError> {
        if inner.dimensions() != dim
            || inner.size() != info.count
            || inner.connectivity() != info.params.connectivity
        {
            return Err(rejected(
                path,
                format!(
                    "graph holds {} vectors of dimension {} with connectivity {}, the manifest says {} of dimension {dim} with connectivity {}",
                    inner.size(),
                    inner.dimensions(),
                    inner.connectivity(),
                    info.count,
                    info.params.connectivity
                ),
            ));
        }
        inner.change_expansion_search(info.params.expansion_search);
        Ok(AnnIndex {
            inner,
            params: info.params,
            dim,
            path: path.to_path_buf(),
        })
    }

    /// Saves the graph to `path` atomically (temporary file in the same folder, renamed)
    /// and returns the file's fingerprint, to be recorded in the manifest.
    pub fn save(&self, path: &Path) -> Result<AnnFile, IndexError> {
        let tmp = dualenc_data::atomic::temp_path_for(path).map_err(IndexError::io(path))?;
        self.inner.save(path_str(&tmp)?).map_err(ann_error(path))?;
        let file = AnnFile::of_file(&tmp).map_err(IndexError::io(path))?;
        dualenc_data::atomic::persist_path(tmp, path).map_err(IndexError::io(path))?;
        Ok(file)
    }

    /// Number of rows in the graph (rows `0..len()`).
    pub fn len(&self) -> usize {
        self.inner.size()
    }

    /// Whether the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parameters the graph was built with.
    pub fn params(&self) -> AnnParams {
        self.params
    }

    /// Row indices of the graph's (approximately) `k` nearest rows to `query`, nearest first
    /// (at most `len()`, whatever `k`).
    pub fn candidates(&self, query: &[f32], k: usize) -> Result<Vec<usize>, IndexError> {
        if query.len() != self.dim {
            return Err(IndexError::DimMismatch {
                what: "query".into(),
                expected: self.dim,
                found: query.len(),
            });
        }
        crate::exact::check_query(query, "query")?;
        let k = k.min(self.len());
        if k == 0 {
            return Ok(Vec::new());
        }
        let matches = self.inner.search(query, k).map_err(ann_error(&self.path))?;
        Ok(matches.keys.into_iter().map(|key| key as usize).collect())
    }

    /// Changes the search breadth (`ef`) of later searches.
    pub fn set_expansion_search(&self, expansion: usize) {
        self.inner.change_expansion_search(expansion);
    }
}

/// Recall@k of approximate results against exact ones: the share of the exact top-k rows
/// (per query, pooled over queries) found in the approximate top-k. 1.0 when there is none.
pub fn recall_at_k(exact: &[Vec<Scored>], approx: &[Vec<Scored>], k: usize) -> f64 {
    let (mut found, mut total) = (0usize, 0usize);
    for (truth, got) in exact.iter().zip(approx) {
        let truth: std::collections::HashSet<usize> =
            truth.iter().take(k).map(|s| s.index).collect();
        found += got
            .iter()
            .take(k)
            .filter(|s| truth.contains(&s.index))
            .count();
        total += truth.len();
    }
    if total == 0 {
        1.0
    } else {
        found as f64 / total as f64
    }
}

/// Recall@k of the index's approximate mode (with `options`) against exact search, over a
/// batch of queries (`q x dim`, row-major).
pub fn measure_recall(
    index: &Index,
    queries: &[f32],
    k: usize,
    options: ApproxOptions,
) -> Result<f64, IndexError> {
    let exact = index.top_k_batch(queries, k, SearchMode::Exact)?;
    let approx = index.top_k_batch(queries, k, SearchMode::Approx(options))?;
    Ok(recall_at_k(&exact, &approx, k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(indices: &[usize]) -> Vec<Scored> {
        indices
            .iter()
            .map(|&index| Scored { index, score: 0.0 })
            .collect()
    }

    #[test]
    fn recall_counts_shared_rows_of_the_top_k() {
        let exact = vec![scored(&[1, 2, 3, 4]), scored(&[5, 6])];
        let approx = vec![scored(&[2, 9, 1, 4]), scored(&[6, 5])];
        // k = 2: query 1 finds {2} of {1, 2}; query 2 finds {6, 5} of {5, 6}: 3 / 4.
        assert_eq!(recall_at_k(&exact, &approx, 2), 0.75);
        assert_eq!(recall_at_k(&[], &[], 10), 1.0);
    }

    #[test]
    fn storage_parses_and_prints() {
        for s in [Storage::F32, Storage::F16, Storage::I8] {
            assert_eq!(s.to_string().parse::<Storage>(), Ok(s));
        }
        assert!("q4"
            .parse::<Storage>()
            .unwrap_err()
            .contains("f32, f16 or i8"));
    }
}
