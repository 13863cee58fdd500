//! Captions and video files end to end on the quick demo's model: `dualenc index` keeps each
//! video's first caption, `dualenc search --json` and `dualenc serve`'s API show it, and
//! `dualenc serve --videos DIR` plays the index's videos (range requests) and nothing else.

use crate::common::{dualenc, http_get as get, serve_with};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The quick demo (synthetic collections and a small model) with `demotest` indexed.
fn demo_index(dir: &Path) -> PathBuf {
    dualenc()
        .args([
            "demo", "--quick", "--epochs", "1", "--device", "cpu", "--dir",
        ])
        .arg(dir)
        .assert()
        .success();
    let index = dir.join("test-index");
    dualenc()
        .arg("index")
        .arg("--model")
        .arg(dir.join("run/model_best"))
        .arg("--rootpath")
        .arg(dir.join("VisualSearch"))
        .arg("demotest")
        .arg("--out")
        .arg(&index)
        .args(["--device", "cpu"])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "demotest: first caption kept for",
        ));
    index
}

/// The first caption of each video of `demotest`, in file order, and its word for a query.
fn first_captions(dir: &Path) -> Vec<(String, String)> {
    let path = dir.join("VisualSearch/demotest/TextData/demotest.caption.txt");
    let text = std::fs::read_to_string(path).unwrap();
    let mut seen = Vec::<(String, String)>::new();
    for line in text.lines() {
        let (cap_id, caption) = line.split_once(' ').unwrap();
        let video = cap_id.split('#').next().unwrap().to_string();
        if !seen.iter().any(|(v, _)| *v == video) {
            seen.push((video, caption.trim().to_string()));
        }
    }
    seen
}

#[test]
fn captions_and_videos_reach_search_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    let index = demo_index(dir.path());
    let captions = first_captions(dir.path());
    let (video, caption) = captions[0].clone();

    // `search --json`: every hit carries its video's first caption.
    let out = dualenc()
        .arg("search")
        .arg("--index")
        .arg(&index)
        .arg(&caption)
        .args(["-k", "100", "--json"])
        .assert()
        .success();
    let json: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), captions.len());
    for hit in results {
        let id = hit["id"].as_str().unwrap();
        let (_, expected) = captions.iter().find(|(v, _)| v == id).unwrap();
        assert_eq!(hit["caption"].as_str(), Some(expected.as_str()), "{id}");
    }

    // `serve --videos`: the index's video plays, a file of another collection does not.
    let videos = dir.path().join("videos");
    std::fs::create_dir(&videos).unwrap();
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(videos.join(format!("{video}.mp4")), &bytes).unwrap();
    std::fs::write(videos.join("video999999.mp4"), b"not indexed").unwrap();
    let (_server, addr) = serve_with(&index, ["--videos".as_ref(), videos.as_os_str()]);

    let query = caption.replace(' ', "+");
    let (status, _, body) = get(&addr, &format!("/api/search?q={query}&k=100"), "");
    assert!(status.contains("200"), "{status}");
    let json: Value = serde_json::from_slice(&body).unwrap();
    for hit in json["results"].as_array().unwrap() {
        let id = hit["id"].as_str().unwrap();
        let expected = (id == video).then(|| format!("/videos/{video}.mp4"));
        assert_eq!(hit["video"].as_str(), expected.as_deref(), "{id}");
        assert!(hit["caption"].is_string(), "{hit}");
    }

    let path = format!("/videos/{video}.mp4");
    let (status, head, body) = get(&addr, &path, "Range: bytes=100-199\r\n");
    assert!(status.contains("206"), "{status}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-range: bytes 100-199/5000"),
        "{head}"
    );
    assert_eq!(body, &bytes[100..200]);
    let (status, _, body) = get(&addr, &path, "");
    assert!(status.contains("200"), "{status}");
    assert_eq!(body, bytes);
    let (status, _, _) = get(&addr, "/videos/video999999.mp4", "");
    assert!(status.contains("404"), "{status}");
}
