//! video2frames: building from frame ids, both file forms, and their errors.

use dualenc_data::{DataError, Video2Frames};
use std::path::Path;

fn build(ids: &[&str]) -> Video2Frames {
    Video2Frames::from_frame_ids(ids.iter().copied(), Path::new("id.txt")).unwrap()
}

fn pairs(v: &Video2Frames) -> Vec<(String, Vec<String>)> {
    v.iter().map(|(k, f)| (k.to_owned(), f.to_vec())).collect()
}

#[test]
fn groups_by_last_underscore_sorted_by_number_in_first_appearance_order() {
    let v = build(&["b_10", "a_2", "b_9", "a_10", "a_1", "b_2", "x_y_3", "a_2"]);
    let videos: Vec<&str> = v.iter().map(|(k, _)| k).collect();
    assert_eq!(videos, ["b", "a", "x_y"]);
    assert_eq!(v.frames("b").unwrap(), ["b_2", "b_9", "b_10"]);
    assert_eq!(
        v.frames("a").unwrap(),
        ["a_1", "a_2", "a_10"],
        "repeat kept once"
    );
    assert_eq!(v.frames("x_y").unwrap(), ["x_y_3"]);
    assert_eq!(v.frames("x"), None);
    assert_eq!(v.len(), 3);
}

#[test]
fn rejects_frame_ids_without_a_number() {
    for bad in ["noframe", "v_abc", "v_"] {
        let err = Video2Frames::from_frame_ids([bad], Path::new("/x/id.txt")).unwrap_err();
        assert!(matches!(err, DataError::BadFrameId { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("/x/id.txt") && msg.contains(bad), "{msg}");
    }
}

#[test]
fn dict_literal_is_what_python_prints_and_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let v = build(&["v1_0", "v1_1", "it's_0", "b\\s_0"]);
    let text = v.to_dict_literal();
    assert_eq!(
        text,
        r#"{'v1': ['v1_0', 'v1_1'], "it's": ["it's_0"], 'b\\s': ['b\\s_0']}"#
    );
    let path = tmp.path().join("video2frames.txt");
    v.write_dict_literal(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    assert_eq!(Video2Frames::read(&path).unwrap(), v);
}

#[test]
fn empty_map_round_trips_in_both_forms() {
    let tmp = tempfile::tempdir().unwrap();
    let v = build(&[]);
    v.write_dict_literal(tmp.path().join("a.txt")).unwrap();
    v.write_json(tmp.path().join("a.json")).unwrap();
    assert!(Video2Frames::read(tmp.path().join("a.txt"))
        .unwrap()
        .is_empty());
    assert!(Video2Frames::read(tmp.path().join("a.json"))
        .unwrap()
        .is_empty());
}

#[test]
fn parses_python_literal_variants() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("v2f.txt");
    let text = "{\n  u'v1': [\"v1_0\", 'v1_\\x31',],\n  \"caf\\xe9\": ['\\u00e9\\101\\'\\\\\\q'],\n  'e': [],\n}\n";
    std::fs::write(&path, text).unwrap();
    let v = Video2Frames::read(&path).unwrap();
    assert_eq!(
        pairs(&v),
        vec![
            ("v1".into(), vec!["v1_0".into(), "v1_1".into()]),
            ("caf\u{e9}".into(), vec!["\u{e9}A'\\\\q".into()]),
            ("e".into(), vec![]),
        ]
    );
}

#[test]
fn json_round_trip_keeps_file_order() {
    let tmp = tempfile::tempdir().unwrap();
    let v = build(&["zeta_1", "alpha_0", "zeta_0", "mid\"q_0"]);
    let path = tmp.path().join("video2frames.json");
    v.write_json(&path).unwrap();
    let back = Video2Frames::read(&path).unwrap();
    assert_eq!(back, v);
    let videos: Vec<&str> = back.iter().map(|(k, _)| k).collect();
    assert_eq!(videos, ["zeta", "alpha", "mid\"q"]);
    let parsed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(parsed["zeta"], serde_json::json!(["zeta_0", "zeta_1"]));
}

fn syntax_error(name: &str, text: &str) -> (usize, usize, String) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(name);
    std::fs::write(&path, text).unwrap();
    match Video2Frames::read(&path).unwrap_err() {
        err @ DataError::Syntax { line, column, .. } => {
            let msg = err.to_string();
            assert!(msg.contains(name), "{msg}");
            (line, column, msg)
        }
        other => panic!("expected a syntax error, got {other}"),
    }
}

#[test]
fn dict_literal_errors_give_positions() {
    let (line, column, msg) = syntax_error("a.txt", "{'a': ['a_1',\n  'a_2' 'a_3']}");
    assert_eq!((line, column), (2, 9), "{msg}");
    assert!(msg.contains("expected ']'"), "{msg}");
    let (line, _, msg) = syntax_error("b.txt", "{'a': ['a_1]}\n");
    assert!(line == 1 && msg.contains("unterminated string"), "{msg}");
    let (_, _, msg) = syntax_error("c.txt", "{'a': [], 'a': []}");
    assert!(msg.contains("duplicate video id \"a\""), "{msg}");
    let (_, _, msg) = syntax_error("d.txt", "{'a': []} x");
    assert!(msg.contains("after the closing"), "{msg}");
    let (_, _, msg) = syntax_error("e.txt", "{'a': ['\\x4']}");
    assert!(msg.contains("hex digits"), "{msg}");
    let (_, _, msg) = syntax_error("f.txt", "{'a': [1]}");
    assert!(msg.contains("expected a quoted string"), "{msg}");
    let (_, _, msg) = syntax_error("g.txt", "");
    assert!(msg.contains("end of file"), "{msg}");
}

#[test]
fn json_errors_give_positions() {
    let (line, _, msg) = syntax_error("a.json", "{\"a\": [\"a_1\"],\n \"b\": 3}");
    assert_eq!(line, 2, "{msg}");
    let (_, _, msg) = syntax_error("b.json", "{\"a\": [], \"a\": []}");
    assert!(msg.contains("duplicate video id"), "{msg}");
}

#[test]
fn missing_file_is_named() {
    let err = Video2Frames::read("/nonexistent/video2frames.txt").unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err}");
}
