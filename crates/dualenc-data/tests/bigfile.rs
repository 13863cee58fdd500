//! BigFile reading, writing and every open error, on real files in a temp folder.

use dualenc_data::{BigFile, BigFileWriter, DataError};
use std::path::Path;

/// Writes a BigFile by hand: raw shape text, raw id bytes, little-endian floats.
fn write_raw(dir: &Path, shape: &str, ids: &[u8], values: &[f32]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("shape.txt"), shape).unwrap();
    std::fs::write(dir.join("id.txt"), ids).unwrap();
    let bytes: Vec<u8> = values.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(dir.join("feature.bin"), bytes).unwrap();
}

fn rows(n: usize, dim: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|i| (0..dim).map(|j| (i * 10 + j) as f32 + 0.5).collect())
        .collect()
}

fn write_with_writer(dir: &Path, ids: &[&str], dim: usize) -> Vec<Vec<f32>> {
    let data = rows(ids.len(), dim);
    let mut w = BigFileWriter::create(dir, dim).unwrap();
    for (id, v) in ids.iter().zip(&data) {
        w.push(id, v).unwrap();
    }
    w.finish().unwrap();
    data
}

#[test]
fn writer_round_trip_and_lookups() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("feat");
    let data = write_with_writer(&dir, &["v1_0", "v1_1", "v2_0"], 4);
    let f = BigFile::open(&dir).unwrap();
    assert_eq!((f.len(), f.dim()), (3, 4));
    assert_eq!(f.ids(), ["v1_0", "v1_1", "v2_0"]);
    assert_eq!(f.vector(1), data[1].as_slice());
    assert_eq!(f.vector_by_id("v2_0"), Some(data[2].as_slice()));
    assert_eq!(f.index_of("v1_1"), Some(1));
    assert_eq!(f.index_of("nope"), None);
    assert_eq!(f.get(3), None);
    assert_eq!(f.as_slice().len(), 12);
    assert_eq!(f.duplicate_ids(), 0);
    assert_eq!(
        std::fs::read_to_string(dir.join("shape.txt")).unwrap(),
        "3 4"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("id.txt")).unwrap(),
        "v1_0 v1_1 v2_0"
    );
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["feature.bin", "id.txt", "shape.txt"],
        "no temp file left"
    );
}

#[test]
fn empty_bigfile_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    BigFileWriter::create(tmp.path(), 7)
        .unwrap()
        .finish()
        .unwrap();
    let f = BigFile::open(tmp.path()).unwrap();
    assert!(f.is_empty());
    assert_eq!(f.dim(), 7);
    assert!(f.scan_non_finite().is_empty());
}

#[test]
fn dropped_writer_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = BigFileWriter::create(tmp.path(), 2).unwrap();
    w.push("a", &[1.0, 2.0]).unwrap();
    drop(w);
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn writer_rejects_wrong_length_and_bad_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = BigFileWriter::create(tmp.path(), 3).unwrap();
    let err = w.push("a", &[1.0]).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::WrongDim {
                expected: 3,
                found: 1,
                ..
            }
        ),
        "{err}"
    );
    for bad in ["", "a b", "a\nb"] {
        let err = w.push(bad, &[1.0, 2.0, 3.0]).unwrap_err();
        assert!(matches!(err, DataError::InvalidId { .. }), "{err}");
    }
    assert!(w.is_empty());
}

#[test]
fn latin1_and_utf8_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let ids = b"caf\xe9_1 vid\xc3\xa9o_2\n";
    write_raw(tmp.path(), "2 1\n", ids, &[1.0, 2.0]);
    let f = BigFile::open(tmp.path()).unwrap();
    assert_eq!(f.ids(), ["caf\u{e9}_1", "vidéo_2"]);
    assert_eq!(f.vector_by_id("café_1"), Some([1.0f32].as_slice()));
}

#[test]
fn ids_split_on_any_whitespace() {
    let tmp = tempfile::tempdir().unwrap();
    write_raw(tmp.path(), "3 1", b"a\nb\t c\r\n", &[1.0, 2.0, 3.0]);
    assert_eq!(BigFile::open(tmp.path()).unwrap().ids(), ["a", "b", "c"]);
}

#[test]
fn duplicate_ids_keep_first_and_are_counted() {
    let tmp = tempfile::tempdir().unwrap();
    write_raw(tmp.path(), "3 1", b"a b a", &[1.0, 2.0, 3.0]);
    let f = BigFile::open(tmp.path()).unwrap();
    assert_eq!(f.duplicate_ids(), 1);
    assert_eq!(f.vector_by_id("a"), Some([1.0f32].as_slice()));
    assert_eq!(f.vector(2), [3.0]);
}

#[test]
fn missing_files_are_named() {
    for missing in ["shape.txt", "id.txt", "feature.bin"] {
        let tmp = tempfile::tempdir().unwrap();
        write_raw(tmp.path(), "1 1", b"a", &[1.0]);
        std::fs::remove_file(tmp.path().join(missing)).unwrap();
        let err = BigFile::open(tmp.path()).unwrap_err();
        assert!(matches!(err, DataError::Missing { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(missing) && msg.contains("not found"), "{msg}");
    }
}

#[test]
fn bad_shape_lines() {
    for shape in ["12", "a b", "3 4 5", "", "-1 2"] {
        let tmp = tempfile::tempdir().unwrap();
        write_raw(tmp.path(), shape, b"a", &[1.0]);
        let err = BigFile::open(tmp.path()).unwrap_err();
        assert!(
            matches!(err, DataError::BadShape { .. }),
            "{shape:?}: {err}"
        );
        let msg = err.to_string();
        assert!(msg.contains("shape.txt") && msg.contains("line 1"), "{msg}");
    }
}

#[test]
fn id_count_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    write_raw(tmp.path(), "3 1", b"a b", &[1.0, 2.0, 3.0]);
    let err = BigFile::open(tmp.path()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::IdCount {
                expected: 3,
                found: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("id.txt"));
}

#[test]
fn truncated_feature_file_says_by_how_much() {
    let tmp = tempfile::tempdir().unwrap();
    write_raw(tmp.path(), "3 4", b"a b c", &[0.0; 8]);
    // Cut two more bytes: 3 x 4 x 4 = 48 expected, 30 present.
    let path = tmp.path().join("feature.bin");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..30]).unwrap();
    let msg = BigFile::open(tmp.path()).unwrap_err().to_string();
    assert!(
        msg.contains("feature.bin") && msg.contains("30 bytes, expected 48"),
        "{msg}"
    );
    assert!(
        msg.contains("short by 18 bytes = 1 rows of 4 floats plus 2 bytes"),
        "{msg}"
    );
}

#[test]
fn oversized_feature_file_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    write_raw(tmp.path(), "1 2", b"a", &[0.0; 4]);
    let msg = BigFile::open(tmp.path()).unwrap_err().to_string();
    assert!(
        msg.contains("longer by 8 bytes = 1 rows of 2 floats"),
        "{msg}"
    );
}

#[test]
fn scan_finds_nan_and_inf_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let values = [1.0, 2.0, f32::NAN, 0.0, 3.0, f32::NEG_INFINITY, 5.0, 6.0];
    write_raw(tmp.path(), "4 2", b"a b c d", &values);
    assert_eq!(BigFile::open(tmp.path()).unwrap().scan_non_finite(), [1, 2]);
}

#[test]
fn gather_into_copies_rows_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (0..50).map(|i| format!("v_{i}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let data = write_with_writer(tmp.path(), &id_refs, 3);
    let f = BigFile::open(tmp.path()).unwrap();
    let indices: Vec<usize> = (0..40).map(|k| (k * 7) % 50).collect();
    let mut out = vec![0.0; indices.len() * 3];
    f.gather_into(&indices, &mut out).unwrap();
    for (k, &i) in indices.iter().enumerate() {
        assert_eq!(&out[k * 3..k * 3 + 3], data[i].as_slice());
    }
}

#[test]
fn gather_into_rejects_bad_requests() {
    let tmp = tempfile::tempdir().unwrap();
    write_with_writer(tmp.path(), &["a", "b"], 2);
    let f = BigFile::open(tmp.path()).unwrap();
    let mut out = vec![9.0; 4];
    let err = f.gather_into(&[0, 2], &mut out).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::RowOutOfRange {
                index: 2,
                len: 2,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(out, [9.0; 4], "untouched on error");
    let err = f.gather_into(&[0], &mut out).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BufferSize {
                expected: 2,
                found: 4,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn gather_padded_truncates_and_zero_pads() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write_with_writer(tmp.path(), &["a_0", "a_1", "a_2", "b_0"], 2);
    let f = BigFile::open(tmp.path()).unwrap();
    let videos = vec![vec![0, 1, 2], vec![3]];
    let mut out = vec![7.0; 100]; // dirty buffer: must be fully overwritten
    let steps = f.gather_padded(&videos, 2, &mut out).unwrap();
    assert_eq!(steps, 2);
    let mut expected = Vec::new();
    expected.extend(&data[0]);
    expected.extend(&data[1]);
    expected.extend(&data[3]);
    expected.extend([0.0, 0.0]);
    assert_eq!(out, expected);
    // Longest shorter than the cap: T is the longest.
    let steps = f
        .gather_padded(&[vec![3], vec![2, 1]], 64, &mut out)
        .unwrap();
    assert_eq!((steps, out.len()), (2, 8));
    assert_eq!(&out[2..4], [0.0, 0.0]);
    let err = f.gather_padded(&[vec![0, 9]], 64, &mut out).unwrap_err();
    assert!(
        matches!(err, DataError::RowOutOfRange { index: 9, .. }),
        "{err}"
    );
}
