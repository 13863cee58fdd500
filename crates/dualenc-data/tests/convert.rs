//! txt2bin and combine on real files.

use dualenc_data::convert::{combine_bigfiles, text_to_bigfile};
use dualenc_data::{BigFile, BigFileWriter, DataError};
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn text_features_become_a_bigfile() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write(tmp.path(), "a.txt", "v1_0 1 2\n\nv1_1 3 4\nv1_0 9 9\n");
    let b = write(tmp.path(), "b.txt", "v2_0 nan 1\nv2_1 5 6e-1\nv2_2 inf 0\n");
    let out = tmp.path().join("feat");
    let mut bytes = 0;
    let stats = text_to_bigfile(&[a, b], &out, None, |n| bytes += n).unwrap();
    assert_eq!(
        (
            stats.lines,
            stats.written,
            stats.duplicates,
            stats.non_finite,
            stats.dim
        ),
        (6, 3, 1, 2, 2)
    );
    assert!(bytes > 0);
    let f = BigFile::open(&out).unwrap();
    assert_eq!(f.ids(), ["v1_0", "v1_1", "v2_1"]);
    assert_eq!(f.vector_by_id("v2_1"), Some([5.0f32, 0.6].as_slice()));
}

#[test]
fn wrong_column_count_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write(tmp.path(), "a.txt", "v1 1 2\nv2 1 2 3\n");
    let err = text_to_bigfile(
        std::slice::from_ref(&a),
        &tmp.path().join("o1"),
        None,
        |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, DataError::Parse { line: 2, .. }), "{err}");
    assert!(err
        .to_string()
        .contains("a.txt: line 2: id \"v2\": 3 values, expected 2"));
    let err = text_to_bigfile(&[a], &tmp.path().join("o2"), Some(3), |_| {}).unwrap_err();
    assert!(matches!(err, DataError::Parse { line: 1, .. }), "{err}");
    assert!(
        !tmp.path().join("o2/feature.bin").exists(),
        "nothing published on error"
    );
    for out in ["o1", "o2"] {
        assert!(
            !tmp.path().join(out).exists(),
            "{out}: the output folder created for a failed conversion is removed"
        );
    }
    // A folder that existed before is left in place.
    let kept = tmp.path().join("kept");
    std::fs::create_dir(&kept).unwrap();
    let a = write(tmp.path(), "b.txt", "v1 1 2\nv2 1\n");
    text_to_bigfile(&[a], &kept, None, |_| {}).unwrap_err();
    assert!(kept.is_dir());
    assert_eq!(
        std::fs::read_dir(&kept).unwrap().count(),
        0,
        "no temporary file left"
    );
}

#[test]
fn bad_numbers_and_empty_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write(tmp.path(), "a.txt", "v1 1 two\n");
    let msg = text_to_bigfile(&[a], &tmp.path().join("o"), None, |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("line 1: value 2: \"two\" is not a number"),
        "{msg}"
    );
    let empty = write(tmp.path(), "e.txt", "\n\n");
    let err = text_to_bigfile(
        std::slice::from_ref(&empty),
        &tmp.path().join("o"),
        None,
        |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, DataError::NoRows { .. }), "{err}");
    let stats = text_to_bigfile(&[empty], &tmp.path().join("o"), Some(4), |_| {}).unwrap();
    assert_eq!((stats.written, stats.dim), (0, 4));
    let only_id = write(tmp.path(), "i.txt", "v1\n");
    let err = text_to_bigfile(&[only_id], &tmp.path().join("o3"), None, |_| {}).unwrap_err();
    assert!(
        err.to_string().contains("cannot infer the dimension"),
        "{err}"
    );
}

fn bigfile(dir: &Path, rows: &[(&str, [f32; 2])]) -> BigFile {
    let mut w = BigFileWriter::create(dir, 2).unwrap();
    for (id, v) in rows {
        w.push(id, v).unwrap();
    }
    w.finish().unwrap();
    BigFile::open(dir).unwrap()
}

#[test]
fn combine_keeps_source_order_and_first_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let a = bigfile(
        &tmp.path().join("a"),
        &[("x_0", [1.0, 2.0]), ("x_1", [3.0, 4.0])],
    );
    let b = bigfile(
        &tmp.path().join("b"),
        &[("y_0", [5.0, 6.0]), ("x_1", [7.0, 8.0])],
    );
    let out = tmp.path().join("ab");
    let mut rows = 0;
    let stats = combine_bigfiles(&[a, b], &out, |n| rows += n).unwrap();
    assert_eq!(
        (stats.written, stats.duplicates, stats.dim, rows),
        (3, 1, 2, 4)
    );
    let f = BigFile::open(&out).unwrap();
    assert_eq!(f.ids(), ["x_0", "x_1", "y_0"]);
    assert_eq!(f.as_slice(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}

#[test]
fn combine_rejects_mixed_dimensions() {
    let tmp = tempfile::tempdir().unwrap();
    let a = bigfile(&tmp.path().join("a"), &[("x_0", [1.0, 2.0])]);
    let mut w = BigFileWriter::create(tmp.path().join("b"), 3).unwrap();
    w.push("y_0", &[1.0, 2.0, 3.0]).unwrap();
    w.finish().unwrap();
    let b = BigFile::open(tmp.path().join("b")).unwrap();
    let err = combine_bigfiles(&[a, b], &tmp.path().join("ab"), |_| {}).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::DimMismatch {
                expected: 2,
                found: 3,
                ..
            }
        ),
        "{err}"
    );
}
