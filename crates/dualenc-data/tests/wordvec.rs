//! Word vectors in the three forms: detection, round trips and errors.

use dualenc_data::wordvec::{write_binary, write_text};
use dualenc_data::{BigFileWriter, DataError, WordVectorFormat, WordVectors};

fn entries() -> Vec<(&'static str, Vec<f32>)> {
    vec![
        ("the", vec![0.1, -2.5, 3.0e-7]),
        ("café", vec![1.0, 0.0, -0.0]),
        ("<unk>", vec![f32::MAX, f32::MIN_POSITIVE, 42.0]),
    ]
}

fn refs<'a>(e: &'a [(&'static str, Vec<f32>)]) -> Vec<(&'static str, &'a [f32])> {
    e.iter().map(|(w, v)| (*w, v.as_slice())).collect()
}

fn assert_same(wv: &WordVectors, e: &[(&'static str, Vec<f32>)]) {
    assert_eq!(wv.dim(), 3);
    assert_eq!(wv.len(), e.len());
    for (word, v) in e {
        assert_eq!(wv.get(word), Some(v.as_slice()), "{word}");
    }
    assert_eq!(wv.get("absent"), None);
}

#[test]
fn binary_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vec.bin");
    let e = entries();
    write_binary(&path, 3, &refs(&e)).unwrap();
    let wv = WordVectors::open(&path).unwrap();
    assert_eq!(wv.format(), WordVectorFormat::Word2VecBinary);
    assert_same(&wv, &e);
}

#[test]
fn binary_without_newlines_and_with_latin1_words() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vec.bin");
    let mut bytes = b"2 2\n".to_vec();
    bytes.extend(b"caf\xe9 ");
    bytes.extend(1.5f32.to_le_bytes());
    bytes.extend(2.5f32.to_le_bytes());
    bytes.extend(b"b ");
    bytes.extend(10.0f32.to_le_bytes()); // 0x41200000: holds no newline byte
    bytes.extend(0.0f32.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let wv = WordVectors::open(&path).unwrap();
    assert_eq!(wv.format(), WordVectorFormat::Word2VecBinary);
    assert_eq!(wv.get("caf\u{e9}"), Some([1.5f32, 2.5].as_slice()));
    assert_eq!(wv.get("b"), Some([10.0f32, 0.0].as_slice()));
}

#[test]
fn truncated_binary_names_the_record() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vec.bin");
    let e = entries();
    write_binary(&path, 3, &refs(&e)).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 6]).unwrap();
    let err = WordVectors::read_binary(&path).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Truncated {
                index: 2,
                count: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("vec.bin"));
}

#[test]
fn binary_with_a_bad_header() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vec.bin");
    std::fs::write(&path, b"three 2\n").unwrap();
    let err = WordVectors::read_binary(&path).unwrap_err();
    assert!(matches!(err, DataError::Parse { line: 1, .. }), "{err}");
}

#[test]
fn absurd_binary_header_is_an_error_not_an_allocation() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vec.bin");
    std::fs::write(&path, b"999999999999 4000000000000\nw \x00\x00").unwrap();
    let err = WordVectors::read_binary(&path).unwrap_err();
    assert!(
        matches!(err, DataError::Truncated { index: 0, .. }),
        "{err}"
    );
    std::fs::write(&path, b"999999999999 1\nw \x00\x00\x80\x3f").unwrap();
    let err = WordVectors::read_binary(&path).unwrap_err();
    assert!(
        matches!(err, DataError::Truncated { index: 1, .. }),
        "{err}"
    );
}

#[test]
fn text_round_trip_with_and_without_header() {
    let tmp = tempfile::tempdir().unwrap();
    let e = entries();
    for header in [true, false] {
        let path = tmp.path().join(format!("vec{header}.txt"));
        write_text(&path, 3, &refs(&e), header).unwrap();
        let wv = WordVectors::open(&path).unwrap();
        assert_eq!(wv.format(), WordVectorFormat::Text);
        assert_same(&wv, &e);
    }
}

#[test]
fn glove_words_with_spaces_and_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("glove.txt");
    std::fs::write(&path, "the 1 2\n. . . 3 4\nthe 5 6\n\n").unwrap();
    let wv = WordVectors::open(&path).unwrap();
    assert_eq!(wv.get(". . ."), Some([3.0f32, 4.0].as_slice()));
    assert_eq!(
        wv.get("the"),
        Some([1.0f32, 2.0].as_slice()),
        "first vector wins"
    );
    assert_eq!(wv.len(), 2);
}

#[test]
fn text_errors_name_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("glove.txt");
    std::fs::write(&path, "a 1 2 3\nb 1 2 x\n").unwrap();
    let err = WordVectors::open(&path).unwrap_err();
    assert!(matches!(err, DataError::Parse { line: 2, .. }), "{err}");
    assert!(err.to_string().contains("\"x\" is not a number"));
    std::fs::write(&path, "2 3\na 1 2 3\nb 1\n").unwrap();
    let err = WordVectors::open(&path).unwrap_err();
    assert!(matches!(err, DataError::Parse { line: 3, .. }), "{err}");
    assert!(err
        .to_string()
        .contains("expected a word and 3 values, found 2 fields"));
}

#[test]
fn bigfile_form() {
    let tmp = tempfile::tempdir().unwrap();
    let e = entries();
    let mut w = BigFileWriter::create(tmp.path(), 3).unwrap();
    for (word, v) in &e {
        w.push(word, v).unwrap();
    }
    w.finish().unwrap();
    let wv = WordVectors::open(tmp.path()).unwrap();
    assert_eq!(wv.format(), WordVectorFormat::BigFile);
    assert_same(&wv, &e);
}

#[test]
fn missing_file() {
    let err = WordVectors::open("/nonexistent/vec.bin").unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err}");
}
