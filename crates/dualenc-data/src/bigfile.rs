//! BigFile: the original's feature store, a folder holding `feature.bin` (N x D
//! little-endian f32, row-major), `shape.txt` ("N D") and `id.txt` (N ids separated by
//! white space).
//!
//! Real files are gigabytes, so [`BigFile`] memory-maps `feature.bin` and hands out
//! zero-copy row slices; [`BigFileWriter`] streams rows to disk and publishes the folder
//! with atomic renames.

use crate::atomic::PendingFile;
use crate::error::{DataError, Result};
use crate::textio;
use memmap2::Mmap;
use rayon::prelude::*;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name of the feature matrix inside a BigFile folder.
pub const FEATURE_FILE: &str = "feature.bin";
/// File name of the "N D" shape line inside a BigFile folder.
pub const SHAPE_FILE: &str = "shape.txt";
/// File name of the id list inside a BigFile folder.
pub const ID_FILE: &str = "id.txt";

/// Rows per rayon task when copying rows: enough work to amortise the scheduling.
const ROWS_PER_TASK: usize = 16;

/// The feature matrix: a read-only memory map when it can be viewed as `[f32]` in place
/// (little-endian target, 4-aligned mapping), otherwise a decoded copy.
enum Rows {
    Mapped(Mmap),
    Owned(Vec<f32>),
}

impl Rows {
    /// The whole matrix, row-major.
    fn as_slice(&self) -> &[f32] {
        match self {
            Rows::Mapped(map) => {
                // SAFETY: `Rows::Mapped` is only built by `map_rows` after checking that the
                // mapping is 4-aligned, its length a multiple of 4 and the target
                // little-endian; every bit pattern is a valid f32, and the slice borrows
                // `self`, which owns the mapping.
                unsafe { std::slice::from_raw_parts(map.as_ptr().cast::<f32>(), map.len() / 4) }
            }
            Rows::Owned(v) => v,
        }
    }
}

/// A read-only BigFile: ids, an id index and the N x D matrix.
pub struct BigFile {
    dir: PathBuf,
    dim: usize,
    ids: Vec<String>,
    index: HashMap<String, usize>,
    duplicate_ids: usize,
    rows: Rows,
}

impl std::fmt::Debug for BigFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigFile")
            .field("dir", &self.dir)
            .field("len", &self.len())
            .field("dim", &self.dim)
            .field("duplicate_ids", &self.duplicate_ids)
            .finish()
    }
}

impl BigFile {
    /// Opens the BigFile in `dir`, checking that the three files exist and agree: N ids,
    /// N x D x 4 bytes of features.
    ///
    /// Ids are decoded as UTF-8, or Latin-1 when not valid UTF-8. A duplicated id keeps its
    /// first row in the index (the others stay reachable by row number); the count is
    /// logged and available from [`BigFile::duplicate_ids`].
    pub fn open(dir: impl AsRef<Path>) -> Result<BigFile> {
        let dir = dir.as_ref().to_owned();
        let (n, dim) = read_shape(&dir.join(SHAPE_FILE))?;
        let ids = read_ids(&dir.join(ID_FILE), n)?;
        let rows = map_rows(&dir.join(FEATURE_FILE), n, dim)?;
        let (index, duplicate_ids) = index_ids(&ids);
        if duplicate_ids > 0 {
            tracing::warn!(
                "{}: {duplicate_ids} duplicate ids; the first occurrence of each is used",
                dir.join(ID_FILE).display()
            );
        }
        Ok(BigFile {
            dir,
            dim,
            ids,
            index,
            duplicate_ids,
            rows,
        })
    }

    /// The folder the BigFile was opened from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of rows N.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when the file holds no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Vector dimension D.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The N ids in row order (duplicates included).
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Number of ids that repeat an earlier id (0 for a clean file).
    pub fn duplicate_ids(&self) -> usize {
        self.duplicate_ids
    }

    /// Row of `id` (its first row when duplicated).
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The whole N x D matrix, row-major, without copying.
    pub fn as_slice(&self) -> &[f32] {
        self.rows.as_slice()
    }

    /// Row `i`, without copying.
    ///
    /// # Panics
    /// When `i >= len()`; use [`BigFile::get`] for indices that are not known to be valid.
    pub fn vector(&self, i: usize) -> &[f32] {
        match self.get(i) {
            Some(v) => v,
            None => panic!("row {i} out of range for a BigFile of {} rows", self.len()),
        }
    }

    /// Row `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<&[f32]> {
        if i >= self.len() {
            return None;
        }
        self.as_slice().get(i * self.dim..(i + 1) * self.dim)
    }

    /// The row of `id`, without copying.
    pub fn vector_by_id(&self, id: &str) -> Option<&[f32]> {
        self.index_of(id).and_then(|i| self.get(i))
    }

    /// Copies rows `indices` into `out` (`indices.len() x D`, row-major), in parallel.
    ///
    /// Fails, leaving `out` untouched, when an index is out of range or `out` has the wrong
    /// length.
    pub fn gather_into(&self, indices: &[usize], out: &mut [f32]) -> Result<()> {
        self.check_rows(indices.iter().copied())?;
        self.check_buffer(indices.len() * self.dim, out.len())?;
        if self.dim == 0 {
            return Ok(());
        }
        let data = self.as_slice();
        let dim = self.dim;
        out.par_chunks_mut(dim)
            .with_min_len(ROWS_PER_TASK)
            .zip(indices.par_iter())
            .for_each(|(dst, &i)| dst.copy_from_slice(&data[i * dim..(i + 1) * dim]));
        Ok(())
    }

    /// Gathers a padded batch: video `b`'s first `min(len, max_frames)` rows go to
    /// `out[b, 0..len, :]` and the rest of its `T` steps are zero, where
    /// `T = min(max_frames, longest video)`. `out` is resized to `B x T x D` (its old
    /// content is overwritten, so a buffer can be reused across batches). Returns `T`.
    ///
    /// This is the training/encoding input of the video side (docs/training.md, "The network": the first 64 frames,
    /// zero-padded to the longest).
    pub fn gather_padded<S>(
        &self,
        videos: &[S],
        max_frames: usize,
        out: &mut Vec<f32>,
    ) -> Result<usize>
    where
        S: AsRef<[usize]> + Sync,
    {
        let steps = videos
            .iter()
            .map(|v| v.as_ref().len().min(max_frames))
            .max()
            .unwrap_or(0);
        let kept = videos
            .iter()
            .flat_map(|v| v.as_ref().iter().take(max_frames).copied());
        self.check_rows(kept)?;
        let dim = self.dim;
        out.resize(videos.len() * steps * dim, 0.0);
        if steps == 0 || dim == 0 {
            return Ok(steps);
        }
        let data = self.as_slice();
        out.par_chunks_mut(steps * dim)
            .zip(videos.par_iter())
            .for_each(|(block, video)| {
                let frames = video.as_ref();
                let frames = &frames[..frames.len().min(steps)];
                let (filled, padding) = block.split_at_mut(frames.len() * dim);
                for (dst, &i) in filled.chunks_exact_mut(dim).zip(frames) {
                    dst.copy_from_slice(&data[i * dim..(i + 1) * dim]);
                }
                padding.fill(0.0);
            });
        Ok(steps)
    }

    /// Rows holding a NaN or an infinity, in row order (scanned in parallel).
    pub fn scan_non_finite(&self) -> Vec<usize> {
        if self.dim == 0 {
            return Vec::new();
        }
        self.as_slice()
            .par_chunks(self.dim)
            .enumerate()
            .filter(|(_, row)| row.iter().any(|x| !x.is_finite()))
            .map(|(i, _)| i)
            .collect()
    }

    /// Fails with [`DataError::RowOutOfRange`] on the first index `>= len()`.
    fn check_rows(&self, mut indices: impl Iterator<Item = usize>) -> Result<()> {
        let len = self.len();
        match indices.find(|&i| i >= len) {
            Some(index) => Err(DataError::RowOutOfRange {
                path: self.dir.clone(),
                index,
                len,
            }),
            None => Ok(()),
        }
    }

    /// Fails with [`DataError::BufferSize`] when `found != expected`.
    fn check_buffer(&self, expected: usize, found: usize) -> Result<()> {
        if expected == found {
            Ok(())
        } else {
            Err(DataError::BufferSize {
                path: self.dir.clone(),
                expected,
                found,
            })
        }
    }
}

/// Reads "N D" from the first line of `shape.txt`.
pub fn read_shape(path: &Path) -> Result<(usize, usize)> {
    let bytes = textio::read_all(path, "BigFile shape N D")?;
    let text = String::from_utf8_lossy(&bytes);
    let first = text.lines().next().unwrap_or("");
    let fields: Vec<&str> = first.split_whitespace().collect();
    let parsed = match fields.as_slice() {
        [n, d] => n.parse::<usize>().ok().zip(d.parse::<usize>().ok()),
        _ => None,
    };
    parsed.ok_or_else(|| DataError::BadShape {
        path: path.to_owned(),
        found: first.to_owned(),
    })
}

/// Reads the ids of `id.txt` and checks there are `expected` of them.
fn read_ids(path: &Path, expected: usize) -> Result<Vec<String>> {
    let bytes = textio::read_all(path, "BigFile ids")?;
    let ids = textio::split_ids(&bytes);
    if ids.len() != expected {
        return Err(DataError::IdCount {
            path: path.to_owned(),
            expected,
            found: ids.len(),
        });
    }
    Ok(ids)
}

/// Maps `feature.bin` after checking its size is `n x dim x 4` bytes.
fn map_rows(path: &Path, n: usize, dim: usize) -> Result<Rows> {
    let (file, actual) = textio::open(path, "BigFile features")?;
    let file = file.into_inner();
    let expected = (n as u64)
        .checked_mul(dim as u64)
        .and_then(|x| x.checked_mul(4))
        .unwrap_or(u64::MAX);
    if actual != expected {
        return Err(DataError::FeatureSize {
            path: path.to_owned(),
            expected,
            actual,
            rows: n,
            dim,
        });
    }
    if actual == 0 {
        // An empty file cannot be mapped.
        return Ok(Rows::Owned(Vec::new()));
    }
    // SAFETY: the mapping is read-only; as with every mmap, another process truncating or
    // rewriting the file while it is open is outside what this program can guard against
    // (our own writers replace files by rename, which leaves this mapping intact).
    let map = unsafe { Mmap::map(&file) }.map_err(|e| DataError::io(path, e))?;
    let aligned = map.as_ptr().align_offset(std::mem::align_of::<f32>()) == 0;
    if aligned && cfg!(target_endian = "little") {
        Ok(Rows::Mapped(map))
    } else {
        let floats = map
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Rows::Owned(floats))
    }
}

/// Id -> first row, and the number of repeated ids.
fn index_ids(ids: &[String]) -> (HashMap<String, usize>, usize) {
    let mut index = HashMap::with_capacity(ids.len());
    let mut duplicates = 0;
    for (i, id) in ids.iter().enumerate() {
        if index.contains_key(id) {
            duplicates += 1;
        } else {
            index.insert(id.clone(), i);
        }
    }
    (index, duplicates)
}

/// Writes a BigFile row by row.
///
/// Rows stream into a temporary file inside the target folder, renamed to `feature.bin` by
/// [`BigFileWriter::finish`], which then writes `shape.txt` and `id.txt` atomically.
/// Dropping the writer without finishing leaves the folder as it was.
pub struct BigFileWriter {
    dir: PathBuf,
    dim: usize,
    ids: Vec<String>,
    features: PendingFile,
    scratch: Vec<u8>,
}

impl BigFileWriter {
    /// Starts a BigFile of `dim`-dimensional rows in `dir` (created if missing).
    pub fn create(dir: impl AsRef<Path>, dim: usize) -> Result<BigFileWriter> {
        let dir = dir.as_ref().to_owned();
        let feature_path = dir.join(FEATURE_FILE);
        let features = PendingFile::create(&feature_path).map_err(|e| DataError::io(&dir, e))?;
        Ok(BigFileWriter {
            dir,
            dim,
            ids: Vec::new(),
            features,
            scratch: Vec::new(),
        })
    }

    /// Vector dimension D of the file being written.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Rows pushed so far.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True before the first row.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Appends a row. Fails when `vector` does not have D values, or when `id` is empty or
    /// contains white space (it could not be read back from `id.txt`).
    pub fn push(&mut self, id: &str, vector: &[f32]) -> Result<()> {
        if !textio::is_valid_id(id) {
            return Err(DataError::InvalidId {
                path: self.dir.join(ID_FILE),
                id: id.to_owned(),
            });
        }
        if vector.len() != self.dim {
            return Err(DataError::WrongDim {
                path: self.dir.join(FEATURE_FILE),
                id: id.to_owned(),
                expected: self.dim,
                found: vector.len(),
            });
        }
        self.scratch.clear();
        self.scratch
            .extend(vector.iter().flat_map(|x| x.to_le_bytes()));
        let temp = self.features.temp_path().to_path_buf();
        self.features
            .writer()
            .write_all(&self.scratch)
            .map_err(|e| DataError::io(&temp, e))?;
        self.ids.push(id.to_owned());
        Ok(())
    }

    /// Publishes the folder: renames the features to `feature.bin`, then writes
    /// `shape.txt` ("N D") and `id.txt` (ids separated by single spaces, as the original
    /// writes them).
    pub fn finish(self) -> Result<()> {
        let BigFileWriter {
            dir,
            dim,
            ids,
            features,
            ..
        } = self;
        let feature_path = dir.join(FEATURE_FILE);
        features
            .commit()
            .map_err(|e| DataError::io(&feature_path, e))?;
        let shape_path = dir.join(SHAPE_FILE);
        crate::atomic::write_bytes_atomic(&shape_path, format!("{} {dim}", ids.len()).as_bytes())
            .map_err(|e| DataError::io(&shape_path, e))?;
        let id_path = dir.join(ID_FILE);
        crate::atomic::write_bytes_atomic(&id_path, ids.join(" ").as_bytes())
            .map_err(|e| DataError::io(&id_path, e))?;
        Ok(())
    }
}
