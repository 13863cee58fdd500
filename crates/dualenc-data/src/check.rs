//! Format check of the collections a run needs (the original's `do_format_check.sh`, made
//! thorough): the files exist, the BigFile is consistent, captions and image set agree,
//! every video has frames, no vector holds NaN or infinity, and the collections share one
//! feature dimension. The result is a structured report; printing is the caller's job.

use crate::bigfile::{BigFile, FEATURE_FILE, ID_FILE, SHAPE_FILE};
use crate::captions::{read_captions, read_image_set, video_id_of, Caption};
use crate::collection::Collection;
use crate::video2frames::Video2Frames;
use serde::Serialize;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// Ids quoted as examples in a problem.
const EXAMPLES: usize = 5;

/// What a collection is used for in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Training collection.
    Train,
    /// Validation collection (model selection).
    Val,
    /// Test collection.
    Test,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Train => "train",
            Role::Val => "val",
            Role::Test => "test",
        })
    }
}

/// One thing wrong (or worth a warning) in the data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// A required file does not exist.
    MissingFile {
        /// The missing file.
        path: PathBuf,
    },
    /// A file exists and reads, but lists nothing (no caption, no video).
    EmptyFile {
        /// The empty file.
        path: PathBuf,
        /// What it should list.
        what: String,
    },
    /// A file exists but cannot be read (the reader's error message).
    Unreadable {
        /// The reader's error, naming file and position.
        message: String,
    },
    /// Captions whose video is not in the image set.
    CaptionsOutsideImageSet {
        /// Number of such captions.
        count: usize,
        /// A few caption ids.
        examples: Vec<String>,
    },
    /// Image-set videos with no frame in the BigFile.
    VideosWithoutFrames {
        /// Number of such videos.
        count: usize,
        /// A few video ids.
        examples: Vec<String>,
    },
    /// Frames listed in video2frames that the BigFile does not hold.
    FramesMissingFromFeatures {
        /// Number of such frames.
        count: usize,
        /// A few frame ids.
        examples: Vec<String>,
    },
    /// Feature rows holding NaN or infinity.
    NonFiniteRows {
        /// Number of such rows.
        count: usize,
        /// A few frame ids.
        examples: Vec<String>,
    },
    /// Repeated ids in `id.txt` (the first row of each is used).
    DuplicateIds {
        /// Number of repeats.
        count: usize,
    },
    /// A collection's feature dimension differs from the first collection's.
    DimensionMismatch {
        /// The collection that differs.
        collection: String,
        /// Its dimension.
        dim: usize,
        /// The first collection's dimension.
        expected: usize,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::MissingFile { path } => write!(f, "missing file {}", path.display()),
            Problem::EmptyFile { path, what } => {
                write!(f, "{} lists no {what}", path.display())
            }
            Problem::Unreadable { message } => f.write_str(message),
            Problem::CaptionsOutsideImageSet { count, examples } => write!(
                f,
                "{count} captions belong to videos not in the image set (e.g. {})",
                examples.join(", ")
            ),
            Problem::VideosWithoutFrames { count, examples } => write!(
                f,
                "{count} videos of the image set have no frames (e.g. {})",
                examples.join(", ")
            ),
            Problem::FramesMissingFromFeatures { count, examples } => write!(
                f,
                "{count} frames listed in video2frames are not in the BigFile (e.g. {})",
                examples.join(", ")
            ),
            Problem::NonFiniteRows { count, examples } => write!(
                f,
                "{count} feature rows hold NaN or infinity (e.g. {})",
                examples.join(", ")
            ),
            Problem::DuplicateIds { count } => {
                write!(f, "{count} duplicate ids in id.txt (first occurrence used)")
            }
            Problem::DimensionMismatch {
                collection,
                dim,
                expected,
            } => write!(
                f,
                "{collection}: feature dimension {dim}, but the first collection has {expected}"
            ),
        }
    }
}

/// The check of one collection.
#[derive(Debug, Clone, Serialize)]
pub struct CollectionReport {
    /// Collection name.
    pub name: String,
    /// What the collection is used for (several when one collection plays several roles).
    pub roles: Vec<Role>,
    /// Videos in the image set, when readable.
    pub videos: Option<usize>,
    /// Captions, when readable.
    pub captions: Option<usize>,
    /// Frames (BigFile rows), when readable.
    pub frames: Option<usize>,
    /// Feature dimension, when readable.
    pub dim: Option<usize>,
    /// Whether frames were matched through video2frames.txt (else by frame-id prefix).
    pub used_video2frames: bool,
    /// What makes the collection unusable.
    pub problems: Vec<Problem>,
    /// What is suspicious but tolerated.
    pub warnings: Vec<Problem>,
}

/// The check of a whole run.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The feature checked.
    pub feature: String,
    /// One report per distinct collection, in argument order.
    pub collections: Vec<CollectionReport>,
    /// Problems across collections (dimension mismatch).
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// Total number of problems (warnings excluded).
    pub fn problem_count(&self) -> usize {
        self.problems.len()
            + self
                .collections
                .iter()
                .map(|c| c.problems.len())
                .sum::<usize>()
    }

    /// True when no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problem_count() == 0
    }
}

/// Checks each distinct collection of `collections` (a collection given twice is checked
/// once, with both roles) for `feature`, then their dimensions against each other.
/// `progress` is called with each collection's name before it is checked.
pub fn check_collections(
    root: &Path,
    collections: &[(Role, String)],
    feature: &str,
    mut progress: impl FnMut(&str),
) -> CheckReport {
    let mut reports: Vec<CollectionReport> = Vec::new();
    for (role, name) in collections {
        if let Some(done) = reports.iter_mut().find(|r| &r.name == name) {
            done.roles.push(*role);
            continue;
        }
        progress(name);
        let mut report = check_collection(&Collection::new(root, name.as_str()), feature);
        report.roles.push(*role);
        reports.push(report);
    }
    let problems = dimension_problems(&reports);
    CheckReport {
        feature: feature.to_owned(),
        collections: reports,
        problems,
    }
}

/// Checks one collection for `feature` (its `roles` are left empty for the caller).
pub fn check_collection(collection: &Collection, feature: &str) -> CollectionReport {
    let mut report = CollectionReport {
        name: collection.name.clone(),
        roles: Vec::new(),
        videos: None,
        captions: None,
        frames: None,
        dim: None,
        used_video2frames: false,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let feature_dir = collection.feature_dir(feature);
    let features = open_features(&feature_dir, &mut report);
    let image_set = read_if_present(
        &collection.image_set_path(),
        |p| read_image_set(p),
        &mut report,
    );
    let captions = read_if_present(
        &collection.caption_path(),
        |p| read_captions(p),
        &mut report,
    );
    report.videos = image_set.as_ref().map(Vec::len);
    report.captions = captions.as_ref().map(Vec::len);
    for (count, path, what) in [
        (report.videos, collection.image_set_path(), "video"),
        (report.captions, collection.caption_path(), "caption"),
    ] {
        if count == Some(0) {
            report.problems.push(Problem::EmptyFile {
                path,
                what: what.to_string(),
            });
        }
    }
    if let (Some(set), Some(captions)) = (&image_set, &captions) {
        report.problems.extend(captions_outside(set, captions));
    }
    if let Some(file) = &features {
        report.frames = Some(file.len());
        report.dim = Some(file.dim());
        if file.duplicate_ids() > 0 {
            report.warnings.push(Problem::DuplicateIds {
                count: file.duplicate_ids(),
            });
        }
        report.problems.extend(non_finite(file));
        if let Some(set) = &image_set {
            check_frames(collection, feature, file, set, &mut report);
        }
    }
    report
}

/// Opens the BigFile, recording missing files or a read error.
fn open_features(dir: &Path, report: &mut CollectionReport) -> Option<BigFile> {
    let mut complete = true;
    for name in [FEATURE_FILE, SHAPE_FILE, ID_FILE] {
        let path = dir.join(name);
        if !path.is_file() {
            report.problems.push(Problem::MissingFile { path });
            complete = false;
        }
    }
    if !complete {
        return None;
    }
    match BigFile::open(dir) {
        Ok(file) => Some(file),
        Err(e) => {
            report.problems.push(Problem::Unreadable {
                message: e.to_string(),
            });
            None
        }
    }
}

/// Reads `path` with `read`, recording a missing file or a read error.
fn read_if_present<T>(
    path: &Path,
    read: impl FnOnce(&Path) -> crate::Result<T>,
    report: &mut CollectionReport,
) -> Option<T> {
    if !path.is_file() {
        report.problems.push(Problem::MissingFile {
            path: path.to_owned(),
        });
        return None;
    }
    match read(path) {
        Ok(value) => Some(value),
        Err(e) => {
            report.problems.push(Problem::Unreadable {
                message: e.to_string(),
            });
            None
        }
    }
}

/// Captions whose video is not in the image set.
fn captions_outside(set: &[String], captions: &[Caption]) -> Option<Problem> {
    let videos: HashSet<&str> = set.iter().map(String::as_str).collect();
    let outside: Vec<&str> = captions
        .iter()
        .map(|c| c.id.as_str())
        .filter(|id| !videos.contains(video_id_of(id)))
        .collect();
    (!outside.is_empty()).then(|| Problem::CaptionsOutsideImageSet {
        count: outside.len(),
        examples: examples(&outside),
    })
}

/// Rows holding NaN or infinity.
fn non_finite(file: &BigFile) -> Option<Problem> {
    let rows = file.scan_non_finite();
    let ids: Vec<&str> = rows
        .iter()
        .filter_map(|&i| file.ids().get(i).map(String::as_str))
        .collect();
    (!ids.is_empty()).then(|| Problem::NonFiniteRows {
        count: ids.len(),
        examples: examples(&ids),
    })
}

/// Every image-set video must have frames: through video2frames.txt when it exists (whose
/// frames must then be in the BigFile), else through the frame ids' `VIDEO_` prefixes.
fn check_frames(
    collection: &Collection,
    feature: &str,
    file: &BigFile,
    set: &[String],
    report: &mut CollectionReport,
) {
    let v2f_path = collection.video2frames_path(feature);
    if v2f_path.is_file() {
        report.used_video2frames = true;
        match Video2Frames::read(&v2f_path) {
            Ok(v2f) => report.problems.extend(check_video2frames(&v2f, file, set)),
            Err(e) => report.problems.push(Problem::Unreadable {
                message: e.to_string(),
            }),
        }
        return;
    }
    let prefixes: HashSet<&str> = file
        .ids()
        .iter()
        .filter_map(|id| id.rsplit_once('_').map(|(video, _)| video))
        .collect();
    report
        .problems
        .extend(without_frames(set, |v| prefixes.contains(v)));
}

/// Problems of a video2frames map against the BigFile and the image set.
fn check_video2frames(v2f: &Video2Frames, file: &BigFile, set: &[String]) -> Vec<Problem> {
    let mut problems: Vec<Problem> = without_frames(set, |v| {
        v2f.frames(v).is_some_and(|frames| !frames.is_empty())
    })
    .into_iter()
    .collect();
    let missing: Vec<&str> = v2f
        .iter()
        .flat_map(|(_, frames)| frames.iter().map(String::as_str))
        .filter(|frame| file.index_of(frame).is_none())
        .collect();
    if !missing.is_empty() {
        problems.push(Problem::FramesMissingFromFeatures {
            count: missing.len(),
            examples: examples(&missing),
        });
    }
    problems
}

/// Image-set videos for which `has_frames` is false.
fn without_frames(set: &[String], has_frames: impl Fn(&str) -> bool) -> Option<Problem> {
    let lacking: Vec<&str> = set
        .iter()
        .map(String::as_str)
        .filter(|v| !has_frames(v))
        .collect();
    (!lacking.is_empty()).then(|| Problem::VideosWithoutFrames {
        count: lacking.len(),
        examples: examples(&lacking),
    })
}

/// Collections whose dimension differs from the first readable one.
fn dimension_problems(reports: &[CollectionReport]) -> Vec<Problem> {
    let mut dims = reports
        .iter()
        .filter_map(|r| r.dim.map(|d| (r.name.as_str(), d)));
    let Some((_, expected)) = dims.next() else {
        return Vec::new();
    };
    dims.filter(|&(_, d)| d != expected)
        .map(|(name, dim)| Problem::DimensionMismatch {
            collection: name.to_owned(),
            dim,
            expected,
        })
        .collect()
}

/// The first few of `ids`, owned.
fn examples(ids: &[&str]) -> Vec<String> {
    ids.iter().take(EXAMPLES).map(|s| (*s).to_owned()).collect()
}
