//! The format check on a small VisualSearch root, clean and broken in each way.

use dualenc_data::captions::{write_captions, write_image_set};
use dualenc_data::check::{check_collections, Problem, Role};
use dualenc_data::{BigFileWriter, Caption, Collection, Video2Frames};
use std::path::Path;

const FEAT: &str = "f";

/// A collection with `videos` videos of 2 frames each, 2 captions per video.
fn make(root: &Path, name: &str, videos: usize, dim: usize) -> Collection {
    let c = Collection::new(root, name);
    let mut w = BigFileWriter::create(c.feature_dir(FEAT), dim).unwrap();
    let mut set = Vec::new();
    let mut caps = Vec::new();
    for v in 0..videos {
        let video = format!("{name}v{v}");
        for k in 0..2 {
            w.push(&format!("{video}_{k}"), &vec![v as f32; dim])
                .unwrap();
            caps.push(Caption {
                id: format!("{video}#enc#{k}"),
                text: "a cat".into(),
            });
        }
        set.push(video);
    }
    w.finish().unwrap();
    write_image_set(c.image_set_path(), &set).unwrap();
    write_captions(c.caption_path(), &caps).unwrap();
    c
}

fn roles(names: [&str; 3]) -> Vec<(Role, String)> {
    vec![
        (Role::Train, names[0].into()),
        (Role::Val, names[1].into()),
        (Role::Test, names[2].into()),
    ]
}

#[test]
fn clean_collections_pass() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["tr", "va", "te"] {
        make(tmp.path(), name, 3, 4);
    }
    let mut seen = Vec::new();
    let report = check_collections(tmp.path(), &roles(["tr", "va", "te"]), FEAT, |n| {
        seen.push(n.to_owned())
    });
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(seen, ["tr", "va", "te"]);
    let tr = &report.collections[0];
    assert_eq!(
        (tr.videos, tr.captions, tr.frames, tr.dim),
        (Some(3), Some(6), Some(6), Some(4))
    );
    assert!(!tr.used_video2frames);
}

#[test]
fn a_collection_in_two_roles_is_checked_once() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path(), "tr", 2, 4);
    make(tmp.path(), "te", 2, 4);
    let report = check_collections(tmp.path(), &roles(["tr", "te", "te"]), FEAT, |_| {});
    assert_eq!(report.collections.len(), 2);
    assert_eq!(report.collections[1].roles, [Role::Val, Role::Test]);
}

#[test]
fn missing_files_and_broken_bigfile() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path(), "tr", 2, 4);
    let va = make(tmp.path(), "va", 2, 4);
    let te = make(tmp.path(), "te", 2, 4);
    std::fs::remove_file(va.caption_path()).unwrap();
    std::fs::remove_file(va.feature_dir(FEAT).join("id.txt")).unwrap();
    std::fs::write(te.feature_dir(FEAT).join("shape.txt"), "5 4").unwrap();
    let report = check_collections(tmp.path(), &roles(["tr", "va", "te"]), FEAT, |_| {});
    assert_eq!(report.problem_count(), 3, "{report:?}");
    let va_problems = &report.collections[1].problems;
    assert!(va_problems.contains(&Problem::MissingFile {
        path: va.caption_path()
    }));
    assert!(va_problems.contains(&Problem::MissingFile {
        path: va.feature_dir(FEAT).join("id.txt")
    }));
    let te_problem = report.collections[2].problems[0].to_string();
    assert!(
        te_problem.contains("holds 4 ids but shape.txt announces N = 5"),
        "{te_problem}"
    );
}

#[test]
fn content_problems_are_found() {
    let tmp = tempfile::tempdir().unwrap();
    let tr = make(tmp.path(), "tr", 3, 4);
    make(tmp.path(), "va", 2, 4);
    make(tmp.path(), "te", 2, 5);
    // A caption of an unknown video, and a video without frames.
    let mut caps = dualenc_data::captions::read_captions(tr.caption_path()).unwrap();
    caps.push(Caption {
        id: "ghost#enc#0".into(),
        text: "boo".into(),
    });
    write_captions(tr.caption_path(), &caps).unwrap();
    write_image_set(tr.image_set_path(), &["trv0", "trv1", "trv2", "lonely"]).unwrap();
    // A NaN row and a duplicate id.
    let mut w = BigFileWriter::create(tr.feature_dir(FEAT), 4).unwrap();
    for (id, x) in [
        ("trv0_0", 0.0),
        ("trv0_0", 1.0),
        ("trv1_0", f32::NAN),
        ("trv2_0", 2.0),
    ] {
        w.push(id, &[x; 4]).unwrap();
    }
    w.finish().unwrap();
    let report = check_collections(tmp.path(), &roles(["tr", "va", "te"]), FEAT, |_| {});
    let p = &report.collections[0].problems;
    assert!(
        p.contains(&Problem::CaptionsOutsideImageSet {
            count: 1,
            examples: vec!["ghost#enc#0".into()]
        }),
        "{p:?}"
    );
    assert!(
        p.contains(&Problem::VideosWithoutFrames {
            count: 1,
            examples: vec!["lonely".into()]
        }),
        "{p:?}"
    );
    assert!(
        p.contains(&Problem::NonFiniteRows {
            count: 1,
            examples: vec!["trv1_0".into()]
        }),
        "{p:?}"
    );
    assert_eq!(
        report.collections[0].warnings,
        [Problem::DuplicateIds { count: 1 }]
    );
    assert_eq!(
        report.problems,
        [Problem::DimensionMismatch {
            collection: "te".into(),
            dim: 5,
            expected: 4
        }]
    );
}

#[test]
fn video2frames_is_used_when_present() {
    let tmp = tempfile::tempdir().unwrap();
    let tr = make(tmp.path(), "tr", 2, 4);
    make(tmp.path(), "va", 2, 4);
    make(tmp.path(), "te", 2, 4);
    // trv1 absent from the map; a frame that is not in the BigFile.
    let ids = ["trv0_0", "trv0_1", "trv0_7"];
    let v2f = Video2Frames::from_frame_ids(ids, Path::new("x")).unwrap();
    v2f.write_dict_literal(tr.video2frames_path(FEAT)).unwrap();
    let report = check_collections(tmp.path(), &roles(["tr", "va", "te"]), FEAT, |_| {});
    let c = &report.collections[0];
    assert!(c.used_video2frames);
    assert_eq!(
        c.problems,
        [
            Problem::VideosWithoutFrames {
                count: 1,
                examples: vec!["trv1".into()]
            },
            Problem::FramesMissingFromFeatures {
                count: 1,
                examples: vec!["trv0_7".into()]
            },
        ]
    );
    std::fs::write(tr.video2frames_path(FEAT), "{'trv0': [").unwrap();
    let report = check_collections(tmp.path(), &roles(["tr", "va", "te"]), FEAT, |_| {});
    let msg = report.collections[0].problems[0].to_string();
    assert!(msg.contains("video2frames.txt: line 1"), "{msg}");
}

#[test]
fn an_empty_caption_file_is_a_problem() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["tr", "va", "te"] {
        make(tmp.path(), name, 3, 4);
    }
    let va = Collection::new(tmp.path(), "va");
    std::fs::write(va.caption_path(), "").unwrap();
    let report = check_collections(tmp.path(), &roles(["tr", "va", "te"]), FEAT, |_| {});
    assert!(!report.is_ok(), "{report:?}");
    let problems = &report.collections[1].problems;
    assert!(
        problems
            .iter()
            .any(|p| matches!(p, Problem::EmptyFile { path, .. } if *path == va.caption_path())),
        "{problems:?}"
    );
    assert!(
        problems[0].to_string().contains("lists no caption"),
        "{}",
        problems[0]
    );
}
