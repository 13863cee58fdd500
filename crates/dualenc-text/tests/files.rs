//! Our JSON form, `Vocabulary::load` picking the form by content, and broken files.

use dualenc_text::{TextError, TextStyle, Vocabulary, WordCounter};
use std::path::PathBuf;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/reference/"
    ))
    .join(rel)
}

#[test]
fn json_round_trip_and_load_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let counter = WordCounter::from_captions(["the dog runs", "the cat sleeps", "a dog"]);
    for style in [TextStyle::Bow, TextStyle::Rnn] {
        let vocab = counter.vocabulary(style, 1);
        // A misleading extension: the content decides.
        let path = dir.path().join(format!("sub/{style}.pkl"));
        vocab.save_json(&path).unwrap();
        assert_eq!(Vocabulary::load_json(&path).unwrap(), vocab);
        assert_eq!(Vocabulary::load(&path).unwrap(), vocab);
    }
    let pkl = Vocabulary::load(fixture("vocab/rnn_word_vocab_5.pkl")).unwrap();
    assert_eq!(pkl.style(), TextStyle::Rnn);
    assert_eq!(pkl.id("<unk>"), Some(3));
}

#[test]
fn counter_file_written_atomically_without_trailing_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c/word_vocab_counter_1.txt");
    let counter = WordCounter::from_captions(["b a", "a c", "c"]);
    counter.write_counter_file(&path, 1).unwrap();
    // a and c tie at 2: first appearance (a) first; b last.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 2\nc 2\nb 1");
    assert_eq!(counter.counter_text(3), "");
}

#[test]
fn bow_vocabulary_has_no_unk() {
    let counter = WordCounter::from_captions(["a b"]);
    let bow = counter.vocabulary(TextStyle::Bow, 1);
    assert_eq!(bow.id_or_unk("zzz"), None);
    let rnn = counter.vocabulary(TextStyle::Rnn, 1);
    assert_eq!(rnn.id_or_unk("zzz"), Some(3));
    assert_eq!(rnn.word(4), Some("a"));
}

#[test]
fn broken_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let bad_json = write(
        "bad.json",
        b"{\"format\": \"dualenc-vocabulary\",\n \"words\": [1",
    );
    let err = Vocabulary::load(&bad_json).unwrap_err();
    assert!(matches!(err, TextError::Json { .. }), "{err:?}");
    assert!(
        err.to_string().contains("bad.json") && err.to_string().contains("line 2"),
        "{err}"
    );

    let no_specials = write(
        "rnn.json",
        br#"{"format": "dualenc-vocabulary", "text_style": "rnn", "words": ["a", "b"]}"#,
    );
    let err = Vocabulary::load(&no_specials).unwrap_err();
    assert!(err.to_string().contains("must start with"), "{err}");

    let dup = write(
        "dup.json",
        br#"{"format": "dualenc-vocabulary", "text_style": "bow", "words": ["a", "b", "a"]}"#,
    );
    let err = Vocabulary::load(&dup).unwrap_err();
    assert!(err.to_string().contains("ids 0 and 2"), "{err}");

    let other_json = write(
        "other.json",
        br#"{"format": "x", "text_style": "bow", "words": []}"#,
    );
    assert!(Vocabulary::load(&other_json).is_err());

    let pkl = std::fs::read(fixture("vocab/bow_word_vocab_5.pkl")).unwrap();
    let cut = write("cut.pkl", &pkl[..pkl.len() / 2]);
    let err = Vocabulary::load(&cut).unwrap_err();
    assert!(matches!(err, TextError::Pickle { .. }), "{err:?}");
    assert!(err.to_string().contains("truncated"), "{err}");

    // A pickle that is not a Vocabulary: the int 5.
    let not_vocab = write("int.pkl", b"\x80\x02K\x05.");
    let err = Vocabulary::load(&not_vocab).unwrap_err();
    assert!(err.to_string().contains("text_style"), "{err}");

    let missing = dir.path().join("missing.json");
    assert!(matches!(
        Vocabulary::load(&missing),
        Err(TextError::Io { .. })
    ));
}
