//! From video files to the search page: ffmpeg makes eight distinguishable videos from its
//! `lavfi` sources (four plain colours, a test pattern, colour bars, a Mandelbrot zoom, RGB
//! stripes), `dualenc extract` encodes them with the tiny ResNet fixture, captions naming
//! what each shows are written, `dualenc vocab`, `train` (a tiny network, train = val = test)
//! and `index` make a searchable index, and `dualenc serve --thumbnails --videos` serves it.
//! Headless Chromium types a query: every result shows its extracted thumbnail (loaded) and a
//! Play button whose player points at the video file, and that URL answers a range request
//! with the file's exact bytes.
//!
//! Needs ffmpeg and Debian's `chromium`: under CI the test fails without them, elsewhere it
//! skips with a line on stderr.

use std::path::Path;
use std::time::{Duration, Instant};

use dualenc_testkit::chromium::{self, Cdp};
use serde_json::{json, Value};

use crate::common::{dualenc, http_get, serve_with};
use crate::extract::{cnn_fixture, ffmpeg_or_skip, make_video};

/// The videos: id, lavfi source, and the captions that describe it.
const VIDEOS: [(&str, &str, [&str; 3]); 8] = [
    (
        "red",
        "color=c=red",
        [
            "a red screen",
            "a plain red picture",
            "the screen is all red",
        ],
    ),
    (
        "blue",
        "color=c=blue",
        [
            "a blue screen",
            "a plain blue picture",
            "the screen is all blue",
        ],
    ),
    (
        "green",
        "color=c=green",
        [
            "a green screen",
            "a plain green picture",
            "the screen is all green",
        ],
    ),
    (
        "yellow",
        "color=c=yellow",
        [
            "a yellow screen",
            "a plain yellow picture",
            "the screen is all yellow",
        ],
    ),
    (
        "testsrc",
        "testsrc",
        [
            "a test pattern with a counter",
            "a moving test pattern",
            "test pattern and counter",
        ],
    ),
    (
        "bars",
        "smptebars",
        [
            "colour bars",
            "smpte colour bars on a screen",
            "vertical colour bars",
        ],
    ),
    (
        "mandelbrot",
        "mandelbrot",
        [
            "a mandelbrot fractal",
            "a zooming fractal",
            "the mandelbrot set",
        ],
    ),
    (
        "rgb",
        "rgbtestsrc",
        [
            "rgb stripes",
            "red green and blue stripes",
            "an rgb test pattern with stripes",
        ],
    ),
];

const COLLECTION: &str = "clips";
const FEATURE: &str = "tinyresnet";

/// Runs `dualenc ARGS` under `root` (as `--rootpath`) and requires success.
fn run(root: &Path, args: &[&str]) {
    dualenc()
        .args(args)
        .arg("--rootpath")
        .arg(root)
        .assert()
        .success();
}

/// Polls `expression` in the page until it is `true`; on timeout fails with `report`'s
/// value, which says what the page shows.
fn wait_until(cdp: &mut Cdp, expression: &str, report: &str) {
    let deadline = Instant::now() + chromium::STEP_TIMEOUT;
    while cdp.eval(expression) != json!(true) {
        if Instant::now() > deadline {
            panic!(
                "timed out waiting for {expression}; the page shows {}",
                cdp.eval(report)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn extracted_videos_are_searched_shown_and_played_in_the_browser() {
    let test = "extracted_videos_are_searched_shown_and_played_in_the_browser";
    let Some(ffmpeg) = ffmpeg_or_skip(test) else {
        return;
    };
    if !chromium::present(test) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let videos = tmp.path().join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    for (id, source, _) in VIDEOS {
        let path = videos.join(format!("{id}.mp4"));
        make_video(&ffmpeg, &path, source, "96x72", "10", 2.0, "");
    }

    // Extract, caption, build the vocabulary, train, index.
    let root = tmp.path().join("VisualSearch");
    let coll = root.join(COLLECTION);
    dualenc()
        .arg("extract")
        .arg(&videos)
        .arg("--rootpath")
        .arg(&root)
        .args(["--collection", COLLECTION, "--feature", FEATURE])
        .args(["--cnn", "resnet", "--weights"])
        .arg(cnn_fixture("resnet_tiny.pth"))
        .args(["--input-size", "64", "--crops", "1", "--device", "cpu"])
        .assert()
        .success();
    let captions: String = VIDEOS
        .iter()
        .flat_map(|(id, _, captions)| {
            captions
                .iter()
                .enumerate()
                .map(move |(i, caption)| format!("{id}#enc#{i} {caption}\n"))
        })
        .collect();
    std::fs::create_dir_all(coll.join("TextData")).unwrap();
    std::fs::write(
        coll.join(format!("TextData/{COLLECTION}.caption.txt")),
        captions,
    )
    .unwrap();
    run(&root, &["vocab", COLLECTION, "--threshold", "1"]);
    let model = tmp.path().join("run");
    let mut train = vec!["train", COLLECTION, COLLECTION, COLLECTION];
    train.extend(["--feature", FEATURE, "--vocab", "word_vocab_1"]);
    train.extend(["--word-dim", "16", "--text-rnn-size", "16"]);
    train.extend(["--visual-rnn-size", "16", "--text-kernel-num", "8"]);
    train.extend(["--visual-kernel-num", "8", "--text-mapping-layers", "0-32"]);
    train.extend(["--visual-mapping-layers", "0-32", "--batch-size", "8"]);
    train.extend(["--learning-rate", "0.002", "--num-epochs", "40"]);
    train.extend(["--device", "cpu", "--seed", "1", "--out"]);
    train.push(model.to_str().unwrap());
    run(&root, &train);
    let index = tmp.path().join("index");
    let best = model.join("model_best");
    let index_args = [
        "index",
        "--model",
        best.to_str().unwrap(),
        COLLECTION,
        "--out",
        index.to_str().unwrap(),
        "--device",
        "cpu",
    ];
    run(&root, &index_args);

    // The page, with the extracted thumbnails and the video files.
    let thumbnails = coll.join("thumbnails");
    let (server, addr) = serve_with(
        &index,
        [
            "--thumbnails".as_ref(),
            thumbnails.as_os_str(),
            "--videos".as_ref(),
            videos.as_os_str(),
        ],
    );
    let profile = tempfile::tempdir().unwrap();
    let mut cdp = Cdp::launch(profile.path());
    cdp.open_page();
    // A tall window, so that every (lazily loaded) thumbnail is in view.
    cdp.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1000, "height": 4000, "deviceScaleFactor": 1, "mobile": false}),
    );
    cdp.call("Page.navigate", json!({"url": format!("http://{addr}/")}));
    cdp.wait_for("document.readyState === 'complete' && document.getElementById('about').textContent.startsWith('Searching')");
    let about = cdp.eval("document.getElementById('about').textContent");
    cdp.type_text("a red screen");
    cdp.press_enter();
    cdp.wait_for("document.querySelectorAll('#results li').length === 8");
    let items = "[...document.querySelectorAll('#results li')]";
    wait_until(
        &mut cdp,
        &format!(
            "{items}.every(li => {{ const img = li.querySelector('img.thumb'); \
             return img !== null && img.complete && img.naturalWidth > 0; }})"
        ),
        &format!(
            "JSON.stringify({items}.map(li => {{ const img = li.querySelector('img.thumb'); \
             return [li.dataset.id, img && img.src, img && img.complete, img && img.naturalWidth]; }}))"
        ),
    );
    // Each result's Play button opens a player on its video file.
    let shown = cdp.eval(&format!(
        "JSON.stringify({items}.map(li => {{ \
           const img = li.querySelector('img.thumb'); \
           const play = li.querySelector('button.play'); \
           if (play) play.click(); \
           const video = li.querySelector('video'); \
           return {{id: li.dataset.id, thumb: img.getAttribute('src'), \
                    width: img.naturalWidth, height: img.naturalHeight, \
                    play: play ? play.textContent : null, \
                    video: video ? video.getAttribute('src') : null}}; }}))"
    ));
    cdp.close();

    let shown: Vec<Value> = serde_json::from_str(shown.as_str().expect("JSON text")).unwrap();
    let about = about.as_str().unwrap_or_default();
    assert!(
        about.contains("8 videos")
            && about.contains("8 thumbnails")
            && about.contains("8 playable"),
        "{about}"
    );
    assert_eq!(
        shown[0]["id"], "red",
        "the model trained on these captions finds the red video first: {shown:?}"
    );
    let mut ids: Vec<&str> = shown
        .iter()
        .map(|hit| hit["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut all: Vec<&str> = VIDEOS.iter().map(|(id, ..)| *id).collect();
    all.sort_unstable();
    assert_eq!(ids, all, "every video is listed once");
    for hit in &shown {
        let id = hit["id"].as_str().unwrap();
        assert_eq!(hit["thumb"], format!("/thumbnails/{id}.jpg"), "{hit}");
        let loaded = |side: &str| hit[side].as_u64().is_some_and(|n| n > 0);
        assert!(
            loaded("width") && loaded("height"),
            "{id}: thumbnail not loaded: {hit}"
        );
        assert_eq!(hit["play"], "Close", "{id}: Play opened the player: {hit}");
        let url = format!("/videos/{id}.mp4");
        assert_eq!(hit["video"], url, "{hit}");

        // The player's URL serves the file's bytes, by range.
        let file = std::fs::read(videos.join(format!("{id}.mp4"))).unwrap();
        let (status, head, body) = http_get(&addr, &url, "Range: bytes=0-99\r\n");
        assert!(status.contains(" 206 "), "{url}: {status}");
        let range = format!("content-range: bytes 0-99/{}", file.len());
        assert!(head.to_ascii_lowercase().contains(&range), "{url}: {head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: video/mp4"),
            "{head}"
        );
        assert_eq!(body, &file[..100], "{url}: the first 100 bytes");
    }
    drop(server);
}
