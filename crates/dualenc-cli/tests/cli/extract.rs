//! `dualenc extract` on small videos that ffmpeg makes from its `lavfi` test sources: the
//! original extractor's frame sampling and ids, every file of the collection (features,
//! shape, ids, video2frames, image set, thumbnails, the JSON report), corrupt and empty
//! files reported without stopping the run, resume after a rerun and after a SIGKILL (the
//! result byte for byte a clean run's), the ONNX path, one crop against ten, bad options.
//!
//! The CNN is the tiny torchvision-layout ResNet of `fixtures/cnn/resnet_tiny.pth` (feature
//! dimension 256 at 64-pixel crops) and the tiny ONNX model `fixtures/cnn/conv_flatten.onnx`
//! (dimension 8). The tests need `ffmpeg` and `ffprobe` on `PATH`: under CI they fail
//! without them, elsewhere they skip with a line on stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dualenc_data::{BigFile, Video2Frames};
use dualenc_video::{Ffmpeg, PARTS_DIR};
use serde_json::Value;

use crate::common::dualenc;

/// The collection and feature names of these tests.
const COLLECTION: &str = "clips";
const FEATURE: &str = "tiny";

/// Feature dimension of the tiny ResNet fixture.
const TINY_DIM: usize = 256;

/// A file of the repository's `fixtures/cnn/`.
pub fn cnn_fixture(name: &str) -> PathBuf {
    dualenc_testkit::fixtures_dir().join("cnn").join(name)
}

/// `ffmpeg` and `ffprobe` as the extractor finds them on `PATH`, or `None` when they are
/// missing outside CI (see [`dualenc_testkit::require_tool`]: the test fails under CI).
pub fn ffmpeg_or_skip(test: &str) -> Option<Ffmpeg> {
    match Ffmpeg::locate() {
        Ok(ffmpeg) => Some(ffmpeg),
        Err(e) => {
            dualenc_testkit::skip_missing_tool(test, "ffmpeg/ffprobe on PATH", &e.to_string());
            None
        }
    }
}

/// Writes `seconds` of the lavfi source `source` (a filter with its options, e.g.
/// `color=c=red` or `testsrc`) at `size` and `rate` frames a second to `path` (H.264 in MP4
/// when the container is .mp4). `filter` is an extra video filter (e.g. `hue=h=30`), or "".
pub fn make_video(
    ffmpeg: &Ffmpeg,
    path: &Path,
    source: &str,
    size: &str,
    rate: &str,
    seconds: f64,
    filter: &str,
) {
    let sep = if source.contains('=') { ':' } else { '=' };
    let input = format!("{source}{sep}size={size}:rate={rate}");
    let mut command = Command::new(ffmpeg.ffmpeg_path());
    command
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", &input])
        .args(["-t", &seconds.to_string(), "-pix_fmt", "yuv420p"]);
    if !filter.is_empty() {
        command.args(["-vf", filter]);
    }
    let out = command.arg(path).output().expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg could not make {} from {input}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The number of frames ffprobe decodes from `path`.
fn decoded_frames(ffmpeg: &Ffmpeg, path: &Path) -> u64 {
    let out = Command::new(ffmpeg.ffprobe_path())
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(out.status.success(), "ffprobe {}", path.display());
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("frame count of {}: {text:?}", path.display()))
}

/// The frame ids the original extractor keeps from a video of `frames` frames at integer
/// rate `fps`: frame k when k % fps == 0 or k % fps == fps / 2, as `VIDEO_k`.
fn original_ids(video: &str, frames: u64, fps: u64) -> Vec<String> {
    (0..frames)
        .filter(|k| k % fps == 0 || k % fps == fps / 2)
        .map(|k| format!("{video}_{k}"))
        .collect()
}

/// `dualenc extract VIDEOS --rootpath ROOT --collection clips --feature FEATURE` with the
/// tiny ResNet on the CPU, plus `extra`.
fn extract_tiny(videos: &Path, root: &Path, feature: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("dualenc"));
    command
        .arg("extract")
        .arg(videos)
        .arg("--rootpath")
        .arg(root)
        .args(["--collection", COLLECTION, "--feature", feature])
        .args(["--cnn", "resnet", "--weights"])
        .arg(cnn_fixture("resnet_tiny.pth"))
        .args(["--input-size", "64", "--device", "cpu"])
        .args(extra);
    command
}

/// Runs `command`; returns (exit code, stdout, stderr).
fn output(command: &mut Command) -> (i32, String, String) {
    let out = command.output().expect("run dualenc");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `command` and requires success.
fn succeed(command: &mut Command) -> String {
    let (code, stdout, stderr) = output(command);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    stdout
}

fn feature_dir(root: &Path, feature: &str) -> PathBuf {
    root.join(COLLECTION).join("FeatureData").join(feature)
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Per-video (status, frames) of a report, in input order.
fn statuses(report: &Value) -> Vec<(String, String, u64)> {
    report["videos"]
        .as_array()
        .unwrap_or_else(|| panic!("no videos in {report}"))
        .iter()
        .map(|v| {
            (
                v["video"].as_str().unwrap().to_string(),
                v["status"].as_str().unwrap().to_string(),
                v["frames"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The three videos of the collection tests (10, 25 and 7.5 frames a second, different
/// sources and sizes) with a corrupt and an empty `.mp4` beside them; returns the good
/// ones as (id, expected frame ids).
fn videos_with_bad_files(ffmpeg: &Ffmpeg, dir: &Path) -> Vec<(String, Vec<String>)> {
    std::fs::create_dir_all(dir).unwrap();
    let good = [
        ("a10", "testsrc", "96x72", "10", 2.0, 10),
        ("b25", "smptebars", "80x60", "25", 1.5, 25),
        ("c7", "testsrc2", "64x48", "7.5", 2.0, 7),
    ];
    let noise: Vec<u8> = (0..6000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("corrupt.mp4"), noise).unwrap();
    std::fs::write(dir.join("empty.mp4"), b"").unwrap();
    good.iter()
        .map(|&(id, source, size, rate, seconds, fps)| {
            let path = dir.join(format!("{id}.mp4"));
            make_video(ffmpeg, &path, source, size, rate, seconds, "");
            let ids = original_ids(id, decoded_frames(ffmpeg, &path), fps);
            (id.to_string(), ids)
        })
        .collect()
}

/// A list file naming the good videos only (paths relative to the list's folder).
fn good_list(dir: &Path, good: &[(String, Vec<String>)]) -> PathBuf {
    let list = dir.join("good.txt");
    let lines: String = good.iter().map(|(id, _)| format!("{id}.mp4\n")).collect();
    std::fs::write(&list, format!("# the videos that decode\n{lines}")).unwrap();
    list
}

#[test]
fn extract_writes_the_collection_reports_bad_files_and_resumes() {
    let test = "extract_writes_the_collection_reports_bad_files_and_resumes";
    let Some(ffmpeg) = ffmpeg_or_skip(test) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let videos = tmp.path().join("videos");
    let good = videos_with_bad_files(&ffmpeg, &videos);
    let expected_ids: Vec<String> = good.iter().flat_map(|(_, ids)| ids.clone()).collect();
    assert_eq!(
        expected_ids.len(),
        13,
        "4 + 4 + 5 frames at two a second: {expected_ids:?}"
    );
    let root = tmp.path().join("VisualSearch");
    let coll = root.join(COLLECTION);
    let dir = feature_dir(&root, FEATURE);

    // First run: two bad files, so the exit status is non-zero, but the good videos are in.
    let (code, stdout, stderr) = output(&mut extract_tiny(&videos, &root, FEATURE, &["--json"]));
    assert_ne!(code, 0, "two videos failed\n{stdout}\n{stderr}");
    for name in ["corrupt.mp4", "empty.mp4"] {
        assert!(
            stderr.contains(name),
            "stderr names {name}:\n{stderr}\nstdout:\n{stdout}"
        );
    }
    assert!(stderr.contains("2 of 5 videos failed"), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("--json prints the report");
    let file: Value =
        serde_json::from_slice(&read(&coll.join(format!("extract.{FEATURE}.json")))).unwrap();
    assert_eq!(report, file, "--json prints what the report file holds");
    assert_eq!(
        statuses(&report),
        [
            ("a10".into(), "ok".into(), 4),
            ("b25".into(), "ok".into(), 4),
            ("c7".into(), "ok".into(), 5),
            ("corrupt".into(), "failed".into(), 0),
            ("empty".into(), "failed".into(), 0),
        ]
    );
    for (i, name) in [(3, "corrupt.mp4"), (4, "empty.mp4")] {
        let message = report["videos"][i]["message"].as_str().unwrap_or_default();
        assert!(message.contains(name), "{message}");
    }
    assert_eq!(
        (&report["ok"], &report["skipped"], &report["failed"]),
        (&Value::from(3), &Value::from(0), &Value::from(2))
    );
    assert_eq!(
        (&report["frames"], &report["dim"]),
        (&13.into(), &256.into())
    );
    assert_eq!(report["collection"], COLLECTION);
    assert_eq!(report["feature"], FEATURE);

    // The feature folder, as the original's tools write it.
    assert_eq!(read_text(&dir.join("shape.txt")).trim(), "13 256");
    let ids: Vec<String> = read_text(&dir.join("id.txt"))
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(ids, expected_ids, "the original's frames, in video order");
    let features = read(&dir.join("feature.bin"));
    assert_eq!(features.len(), 13 * TINY_DIM * 4);
    let bigfile = BigFile::open(&dir).unwrap();
    assert_eq!(bigfile.ids(), expected_ids);
    assert!(bigfile.scan_non_finite().is_empty());
    assert_ne!(
        bigfile.vector_by_id("a10_0"),
        bigfile.vector_by_id("b25_0"),
        "different videos, different features"
    );
    let video2frames = Video2Frames::read(dir.join("video2frames.txt")).unwrap();
    let listed: Vec<(String, Vec<String>)> = video2frames
        .iter()
        .map(|(video, frames)| (video.to_string(), frames.to_vec()))
        .collect();
    assert_eq!(listed, good);
    assert_eq!(
        read_text(&coll.join(format!("ImageSets/{COLLECTION}.txt"))),
        "a10\nb25\nc7\n"
    );
    for (id, _) in &good {
        let jpeg = read(&coll.join(format!("thumbnails/{id}.jpg")));
        assert!(
            jpeg.starts_with(&[0xFF, 0xD8, 0xFF]) && jpeg.ends_with(&[0xFF, 0xD9]),
            "{id}.jpg is a JPEG"
        );
    }
    for bad in ["corrupt", "empty"] {
        assert!(!coll.join(format!("thumbnails/{bad}.jpg")).exists());
    }

    // Rerun: the good videos are found done, the bad ones fail again, nothing changes.
    let report_path = tmp.path().join("rerun.json");
    let mut rerun = extract_tiny(&videos, &root, FEATURE, &["--report"]);
    rerun.arg(&report_path);
    let (code, stdout, stderr) = output(&mut rerun);
    assert_ne!(code, 0, "{stdout}\n{stderr}");
    for name in ["corrupt", "empty"] {
        assert!(
            stdout
                .lines()
                .any(|line| line.starts_with("failed") && line.contains(&format!("{name}.mp4"))),
            "the summary lists {name}.mp4 as failed:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("0 extracted, 3 already done, 2 failed"),
        "{stdout}"
    );
    let rerun_report: Value = serde_json::from_slice(&read(&report_path)).unwrap();
    assert_eq!(
        statuses(&rerun_report),
        [
            ("a10".into(), "skipped".into(), 4),
            ("b25".into(), "skipped".into(), 4),
            ("c7".into(), "skipped".into(), 5),
            ("corrupt".into(), "failed".into(), 0),
            ("empty".into(), "failed".into(), 0),
        ]
    );
    assert_eq!(rerun_report["encoded_frames"], 0);
    assert_eq!(
        read(&dir.join("feature.bin")),
        features,
        "the rerun leaves the features byte for byte"
    );

    // With captions the collection passes the format check.
    std::fs::create_dir_all(coll.join("TextData")).unwrap();
    std::fs::write(
        coll.join(format!("TextData/{COLLECTION}.caption.txt")),
        "a10#enc#0 a test pattern with a counter\n\
         b25#enc#0 colour bars\n\
         c7#enc#0 another test pattern\n",
    )
    .unwrap();
    dualenc()
        .arg("check")
        .arg("--rootpath")
        .arg(&root)
        .args([COLLECTION, COLLECTION, COLLECTION, "--feature", FEATURE])
        .assert()
        .success()
        .stdout(predicates::str::contains("format check passed"));

    // One crop instead of ten: the same frames, other features.
    let list = good_list(&videos, &good);
    succeed(&mut extract_tiny(&list, &root, "tiny1", &["--crops", "1"]));
    let one = feature_dir(&root, "tiny1");
    assert_eq!(
        read_text(&one.join("id.txt")),
        read_text(&dir.join("id.txt"))
    );
    assert_eq!(read_text(&one.join("shape.txt")).trim(), "13 256");
    let one_features = read(&one.join("feature.bin"));
    assert_eq!(one_features.len(), features.len());
    assert_ne!(one_features, features, "1 crop and 10 crops differ");
    assert!(
        !one.join(PARTS_DIR).exists(),
        "no failure, so the parts are gone"
    );
}

#[test]
fn extract_runs_onnx_models_and_refuses_bad_options() {
    let test = "extract_runs_onnx_models_and_refuses_bad_options";
    let Some(ffmpeg) = ffmpeg_or_skip(test) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let videos = tmp.path().join("videos");
    let good = videos_with_bad_files(&ffmpeg, &videos);
    let list = good_list(&videos, &good);
    let root = tmp.path().join("VisualSearch");

    // The ONNX model: its own dimension, the same frames.
    let stdout = succeed(
        Command::new(assert_cmd::cargo::cargo_bin("dualenc"))
            .arg("extract")
            .arg(&list)
            .arg("--rootpath")
            .arg(&root)
            .args(["--collection", COLLECTION, "--feature", "onnx"])
            .arg("--onnx")
            .arg(cnn_fixture("conv_flatten.onnx"))
            .args(["--input-size", "32", "--json"]),
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((&report["dim"], &report["ok"]), (&8.into(), &3.into()));
    let dir = feature_dir(&root, "onnx");
    assert_eq!(read_text(&dir.join("shape.txt")).trim(), "13 8");
    let expected: Vec<String> = good.iter().flat_map(|(_, ids)| ids.clone()).collect();
    assert_eq!(BigFile::open(&dir).unwrap().ids(), expected);
    assert_eq!(read(&dir.join("feature.bin")).len(), 13 * 8 * 4);

    // A finished feature folder is not redone without --overwrite.
    let (code, _, stderr) = output(&mut extract_tiny(&list, &root, "onnx", &[]));
    assert_ne!(code, 0);
    assert!(stderr.contains("--overwrite"), "{stderr}");

    // Bad options are refused with a message before anything is written.
    for (args, words) in [
        (&["--mean", "1,2"][..], &["--mean", "R,G,B"][..]),
        (&["--std", "0.2,nan,0.2"], &["--std", "R,G,B"]),
        (&["--std", "0.2,0,0.2"], &["std"]),
        (&["--batch", "0"], &["batch"]),
        (&["--fps", "0"], &["fps"]),
        (&["--crops", "5"], &["--crops"]),
    ] {
        let (code, stdout, stderr) = output(&mut extract_tiny(&list, &root, "refused", args));
        assert_ne!(code, 0, "{args:?} is refused\n{stdout}");
        for word in words {
            assert!(stderr.contains(word), "{args:?}: {word:?} in\n{stderr}");
        }
        assert!(
            !feature_dir(&root, "refused").exists(),
            "{args:?} wrote nothing"
        );
    }
}

/// Polls `dir` until it holds a finished part (`*.part`, not a temporary file) or `child`
/// exits; returns whether a part appeared while the child still ran.
fn wait_for_first_part(child: &mut std::process::Child, dir: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let done = std::fs::read_dir(dir).ok().is_some_and(|entries| {
            entries
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().ends_with(".part"))
        });
        if done {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("no part file in {} after 120 s", dir.display());
}

#[test]
fn a_killed_extraction_resumes_to_the_clean_result() {
    let test = "a_killed_extraction_resumes_to_the_clean_result";
    let Some(ffmpeg) = ffmpeg_or_skip(test) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // Many short videos, each a different colour and length, so the run is killed with most
    // of them still to do however fast the machine is.
    let videos = tmp.path().join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    let n = 14;
    for i in 0..n {
        let path = videos.join(format!("v{i:02}.mp4"));
        let seconds = 1.0 + (i % 3) as f64 * 0.5;
        let hue = format!("hue=h={}", i * 25);
        make_video(&ffmpeg, &path, "testsrc", "64x48", "10", seconds, &hue);
    }
    let slow = ["--batch", "1", "--crops", "10", "--json"];

    // A clean run, for reference.
    let clean_root = tmp.path().join("clean");
    succeed(&mut extract_tiny(&videos, &clean_root, FEATURE, &slow));
    let clean = feature_dir(&clean_root, FEATURE);

    // A run killed with SIGKILL once its first video is done.
    let root = tmp.path().join("VisualSearch");
    let dir = feature_dir(&root, FEATURE);
    let mut child = extract_tiny(&videos, &root, FEATURE, &slow)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let part_appeared = wait_for_first_part(&mut child, &dir.join(PARTS_DIR));
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(
        part_appeared && !status.success(),
        "the run was killed mid-way ({status}), not finished"
    );
    assert!(
        !dir.join("feature.bin").exists(),
        "a killed run leaves no feature file"
    );
    let parts = std::fs::read_dir(dir.join(PARTS_DIR))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".part")
        })
        .count();
    assert!((1..n).contains(&parts), "{parts} of {n} videos done");

    // The rerun finishes the rest and gives the clean run's collection, byte for byte.
    let stdout = succeed(&mut extract_tiny(&videos, &root, FEATURE, &slow));
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let skipped = report["skipped"].as_u64().unwrap() as usize;
    let ok = report["ok"].as_u64().unwrap() as usize;
    assert!(
        skipped >= parts && skipped + ok == n && ok > 0,
        "{skipped} skipped, {ok} extracted, {parts} parts before"
    );
    for file in ["feature.bin", "shape.txt", "id.txt", "video2frames.txt"] {
        assert!(
            read(&dir.join(file)) == read(&clean.join(file)),
            "{file} differs from a clean run's"
        );
    }
    let image_set = format!("{COLLECTION}/ImageSets/{COLLECTION}.txt");
    assert_eq!(
        read_text(&root.join(&image_set)),
        read_text(&clean_root.join(&image_set))
    );
    assert!(!dir.join(PARTS_DIR).exists(), "the parts are cleaned up");
    let leftovers: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let thumbnails = root.join(COLLECTION).join("thumbnails");
    let mut names: Vec<String> = std::fs::read_dir(&thumbnails)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let expected: Vec<String> = (0..n).map(|i| format!("v{i:02}.jpg")).collect();
    assert_eq!(
        names, expected,
        "one thumbnail a video, no temporary file left"
    );
    for name in &names {
        assert!(
            read(&thumbnails.join(name)).starts_with(&[0xFF, 0xD8]),
            "{name}"
        );
    }
}
