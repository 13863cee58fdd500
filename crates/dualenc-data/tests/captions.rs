//! Captions, image sets and AVS topics: round trips and malformed lines.

use dualenc_data::captions::{
    read_captions, read_image_set, read_topics, write_captions, write_image_set, write_topics,
};
use dualenc_data::{video_id_of, AvsTopic, Caption, DataError};

#[test]
fn video_ids_of_caption_ids() {
    assert_eq!(video_id_of("video7#enc#0"), "video7");
    assert_eq!(video_id_of("abc.jpg#1"), "abc");
    assert_eq!(video_id_of("tgif_1.mp4#enc#2"), "tgif_1");
    assert_eq!(video_id_of("plain"), "plain");
    assert_eq!(
        video_id_of("a.mp4.mp4#x"),
        "a.mp4",
        "only one suffix removed"
    );
}

#[test]
fn captions_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("TextData/c.caption.txt");
    let captions = vec![
        Caption {
            id: "v1#enc#0".into(),
            text: "a man is cooking".into(),
        },
        Caption {
            id: "v1#enc#1".into(),
            text: "Un café, s'il vous plaît!".into(),
        },
    ];
    write_captions(&path, &captions).unwrap();
    assert_eq!(read_captions(&path).unwrap(), captions);
}

#[test]
fn reading_tolerates_blank_lines_crlf_tabs_and_latin1() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("c.txt");
    std::fs::write(&path, b"\nv1#0\ta dog  runs \r\n   \nv2#0 caf\xe9 time\n").unwrap();
    let got = read_captions(&path).unwrap();
    assert_eq!(
        got[0],
        Caption {
            id: "v1#0".into(),
            text: "a dog  runs".into()
        }
    );
    assert_eq!(got[1].text, "caf\u{e9} time");
    assert_eq!(got.len(), 2);
}

#[test]
fn caption_without_text_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.caption.txt");
    std::fs::write(&path, "v1#0 ok\n\nv1#1   \n").unwrap();
    let err = read_captions(&path).unwrap_err();
    assert!(matches!(err, DataError::Parse { line: 3, .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("bad.caption.txt: line 3") && msg.contains("v1#1"),
        "{msg}"
    );
}

#[test]
fn writers_reject_records_that_would_not_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("c.txt");
    let bad_text = [Caption {
        id: "v#0".into(),
        text: "two\nlines".into(),
    }];
    assert!(matches!(
        write_captions(&path, &bad_text),
        Err(DataError::InvalidText { .. })
    ));
    let empty = [Caption {
        id: "v#0".into(),
        text: " ".into(),
    }];
    assert!(matches!(
        write_captions(&path, &empty),
        Err(DataError::InvalidText { .. })
    ));
    let bad_id = [Caption {
        id: "v 0".into(),
        text: "x".into(),
    }];
    assert!(matches!(
        write_captions(&path, &bad_id),
        Err(DataError::InvalidId { .. })
    ));
    assert!(matches!(
        write_image_set(&path, &["a", ""]),
        Err(DataError::InvalidId { .. })
    ));
    assert!(!path.exists(), "nothing written on error");
}

#[test]
fn image_set_round_trip_and_error() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ImageSets/c.txt");
    write_image_set(&path, &["v1", "v2", "vidéo3"]).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "v1\nv2\nvidéo3\n");
    assert_eq!(read_image_set(&path).unwrap(), ["v1", "v2", "vidéo3"]);
    std::fs::write(&path, "v1\n\n v2 \nv3 v4\n").unwrap();
    let err = read_image_set(&path).unwrap_err();
    assert!(matches!(err, DataError::Parse { line: 4, .. }), "{err}");
}

#[test]
fn topics_round_trip_and_error() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tv16.avs.txt");
    let topics = vec![
        AvsTopic {
            number: "501".into(),
            query: "Find shots of a person playing guitar outdoors".into(),
        },
        AvsTopic {
            number: "502".into(),
            query: "Find shots of a man indoors looking at camera".into(),
        },
    ];
    write_topics(&path, &topics).unwrap();
    assert_eq!(read_topics(&path).unwrap(), topics);
    std::fs::write(&path, "501 a query\n502\n").unwrap();
    let msg = read_topics(&path).unwrap_err().to_string();
    assert!(
        msg.contains("line 2") && msg.contains("TNUM query"),
        "{msg}"
    );
}

#[test]
fn missing_files_are_named() {
    let err = read_captions("/nonexistent/x.caption.txt").unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("x.caption.txt"));
}
