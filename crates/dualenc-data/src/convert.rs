//! Building BigFiles: from text features (the original's `txt2bin.py`) and by
//! concatenating other BigFiles (its `combine_features.py`).
//!
//! Like the original, both keep the first row of a repeated id and skip the others, and
//! `txt2bin` drops rows holding NaN (and, here, infinity too), counting them. Unlike the
//! original's combine, which went through `%g` text (6 significant digits), rows are copied
//! bit for bit.

use crate::bigfile::{BigFile, BigFileWriter};
use crate::error::{DataError, Result};
use crate::textio;
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// What a text-to-BigFile conversion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TextConversion {
    /// Non-blank lines read.
    pub lines: usize,
    /// Rows written.
    pub written: usize,
    /// Lines skipped because their id came earlier.
    pub duplicates: usize,
    /// Lines skipped because a value is NaN or infinite.
    pub non_finite: usize,
    /// Dimension of the result.
    pub dim: usize,
}

/// What a combination of BigFiles did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Combination {
    /// Rows written.
    pub written: usize,
    /// Rows skipped because their id came earlier.
    pub duplicates: usize,
    /// Dimension of the result.
    pub dim: usize,
}

/// Converts text features (`id v1 ... vD` per line, blank lines skipped) from `inputs`, in
/// order, into a BigFile in `out`. `dim` is inferred from the first row when `None`.
/// `progress` receives the number of bytes consumed after each line.
pub fn text_to_bigfile(
    inputs: &[PathBuf],
    out: &Path,
    dim: Option<usize>,
    progress: impl FnMut(u64),
) -> Result<TextConversion> {
    removing_new_folder_on_error(out, || convert_text(inputs, out, dim, progress))
}

/// [`text_to_bigfile`] proper.
fn convert_text(
    inputs: &[PathBuf],
    out: &Path,
    dim: Option<usize>,
    mut progress: impl FnMut(u64),
) -> Result<TextConversion> {
    let mut writer: Option<BigFileWriter> =
        dim.map(|d| BigFileWriter::create(out, d)).transpose()?;
    let mut seen: HashSet<String> = HashSet::new();
    let mut stats = TextConversion {
        lines: 0,
        written: 0,
        duplicates: 0,
        non_finite: 0,
        dim: dim.unwrap_or(0),
    };
    for input in inputs {
        textio::for_each_line(input, "text features", |line, text| {
            progress(text.len() as u64 + 1);
            let mut fields = text.split_whitespace();
            let Some(id) = fields.next() else {
                return Ok(());
            };
            stats.lines += 1;
            let values = parse_values(input, line, fields)?;
            let writer = match &mut writer {
                Some(w) => w,
                None => writer.insert(start_writer(out, input, line, values.len())?),
            };
            if values.len() != writer.dim() {
                return Err(DataError::Parse {
                    path: input.clone(),
                    line,
                    message: format!(
                        "id {id:?}: {} values, expected {}",
                        values.len(),
                        writer.dim()
                    ),
                });
            }
            if seen.contains(id) {
                stats.duplicates += 1;
            } else if values.iter().any(|x| !x.is_finite()) {
                stats.non_finite += 1;
            } else {
                seen.insert(id.to_owned());
                writer.push(id, &values)?;
                stats.written += 1;
            }
            Ok(())
        })?;
    }
    let writer = writer.ok_or_else(|| DataError::NoRows {
        path: inputs.first().cloned().unwrap_or_default(),
    })?;
    stats.dim = writer.dim();
    writer.finish()?;
    Ok(stats)
}

/// Parses the values of one text feature line.
fn parse_values<'a>(
    path: &Path,
    line: usize,
    fields: impl Iterator<Item = &'a str>,
) -> Result<Vec<f32>> {
    fields
        .enumerate()
        .map(|(k, f)| {
            f.parse::<f32>().map_err(|_| DataError::Parse {
                path: path.to_owned(),
                line,
                message: format!("value {}: {f:?} is not a number", k + 1),
            })
        })
        .collect()
}

/// The writer of a conversion whose dimension is inferred from its first row.
fn start_writer(out: &Path, input: &Path, line: usize, dim: usize) -> Result<BigFileWriter> {
    if dim == 0 {
        return Err(DataError::Parse {
            path: input.to_owned(),
            line,
            message: "an id without values: cannot infer the dimension".to_owned(),
        });
    }
    BigFileWriter::create(out, dim)
}

/// Writes the rows of `sources`, in order, into a BigFile in `out`, skipping ids already
/// written. All sources must share one dimension. `progress` receives 1 per row read.
pub fn combine_bigfiles(
    sources: &[BigFile],
    out: &Path,
    progress: impl FnMut(u64),
) -> Result<Combination> {
    removing_new_folder_on_error(out, || combine(sources, out, progress))
}

/// Runs `build`, which writes a BigFile into `out`; when it fails and `out` did not exist
/// before, removes the folder again if it is empty (the writer has already removed its
/// temporary file), so that a failed conversion leaves nothing behind.
fn removing_new_folder_on_error<T>(out: &Path, build: impl FnOnce() -> Result<T>) -> Result<T> {
    let existed = out.exists();
    let result = build();
    if result.is_err() && !existed {
        // Fails harmlessly when something else was put there meanwhile.
        let _ = std::fs::remove_dir(out);
    }
    result
}

/// [`combine_bigfiles`] proper.
fn combine(sources: &[BigFile], out: &Path, mut progress: impl FnMut(u64)) -> Result<Combination> {
    let Some(first) = sources.first() else {
        return Err(DataError::NoRows {
            path: out.to_owned(),
        });
    };
    let dim = first.dim();
    if let Some(other) = sources.iter().find(|s| s.dim() != dim) {
        return Err(DataError::DimMismatch {
            path: other.dir().to_owned(),
            expected: dim,
            found: other.dim(),
        });
    }
    let mut writer = BigFileWriter::create(out, dim)?;
    let mut seen: HashSet<&str> = HashSet::new();
    let mut duplicates = 0;
    for source in sources {
        for (i, id) in source.ids().iter().enumerate() {
            progress(1);
            if !seen.insert(id.as_str()) {
                duplicates += 1;
                continue;
            }
            writer.push(id, source.vector(i))?;
        }
    }
    let written = writer.len();
    writer.finish()?;
    Ok(Combination {
        written,
        duplicates,
        dim,
    })
}

/// How the target collection's image set was handled by [`write_combined_image_set`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSetOutcome {
    /// An image set existed and was kept (no overwrite asked).
    Kept(PathBuf),
    /// The image set was written with this many videos.
    Written {
        /// Its path.
        path: PathBuf,
        /// Videos listed.
        videos: usize,
    },
}

/// Writes the image set of a collection combined from `subs` (`do_combine_features.sh`): the
/// sources' image sets concatenated (a source without one contributes the videos of its
/// frame ids), repeated videos once; an existing image set is kept unless `overwrite`.
pub fn write_combined_image_set(
    target: &crate::Collection,
    subs: &[String],
    sources: &[BigFile],
    overwrite: bool,
) -> Result<ImageSetOutcome> {
    let path = target.image_set_path();
    if path.exists() && !overwrite {
        return Ok(ImageSetOutcome::Kept(path));
    }
    let mut videos: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for (sub, source) in subs.iter().zip(sources) {
        let collection = crate::Collection::new(&target.root, sub.as_str());
        for video in source_videos(&collection, source)? {
            if seen.insert(video.clone()) {
                videos.push(video);
            }
        }
    }
    crate::captions::write_image_set(&path, &videos)?;
    Ok(ImageSetOutcome::Written {
        path,
        videos: videos.len(),
    })
}

/// A source collection's videos: its image set, or else the videos of its frame ids.
fn source_videos(collection: &crate::Collection, features: &BigFile) -> Result<Vec<String>> {
    let set = collection.image_set_path();
    if set.is_file() {
        return crate::captions::read_image_set(&set);
    }
    let id_path = features.dir().join("id.txt");
    let v2f =
        crate::Video2Frames::from_frame_ids(features.ids().iter().map(String::as_str), &id_path)?;
    Ok(v2f.iter().map(|(video, _)| video.to_owned()).collect())
}
