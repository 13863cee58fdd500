//! End-to-end extraction on small videos made by ffmpeg: sampling and ids, the files of a
//! VisualSearch collection, thumbnails, bad files, resume and overwrite.
//!
//! Needs `ffmpeg` and `ffprobe`; without them each test prints a `SKIPPED` line and passes,
//! unless the environment variable `CI` is set (then it fails).

use std::path::{Path, PathBuf};
use std::process::Command;

use dualenc_data::check::check_collection;
use dualenc_data::{BigFile, Collection, Video2Frames};
use dualenc_video::{
    extract_collection, Crops, EncodeError, ExtractEvent, ExtractOptions, ExtractReport, Ffmpeg,
    FrameDecoder, FrameEncoder, Normalization, Preprocessor, ResizeMode, RgbImage, VideoError,
    VideoInput, VideoStatus, PARTS_DIR,
};

const FEATURE: &str = "meanfeat";
const COLLECTION: &str = "clips";

/// The located programs, or `None` (with a visible message) when they are missing outside
/// CI; under CI a missing ffmpeg fails the test `test`.
fn ffmpeg_or_skip(test: &str) -> Option<Ffmpeg> {
    match Ffmpeg::locate() {
        Ok(ffmpeg) => Some(ffmpeg),
        Err(e) => {
            dualenc_testkit::skip_missing_tool(test, "ffmpeg/ffprobe on PATH", &e.to_string());
            None
        }
    }
}

/// Writes a 2-second 64x48 test pattern at `rate` frames a second to `path`.
fn make_video(ffmpeg: &Ffmpeg, path: &Path, rate: &str) {
    let source = format!("testsrc=size=64x48:rate={rate}:duration=2");
    let status = Command::new(ffmpeg.ffmpeg_path())
        .args([
            "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", &source,
        ])
        .args(["-pix_fmt", "yuv420p"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg could not make {}", path.display());
}

/// The three videos of most tests: 10, 25 and 7.5 (integer 7) frames a second.
fn three_videos(ffmpeg: &Ffmpeg, dir: &Path) -> Vec<VideoInput> {
    std::fs::create_dir_all(dir).unwrap();
    for (name, rate) in [("a10", "10"), ("b25", "25"), ("c7", "7.5")] {
        make_video(ffmpeg, &dir.join(format!("{name}.mp4")), rate);
    }
    VideoInput::from_arg(dir).unwrap()
}

/// A test encoder: the per-channel means of each crop (dim 3, 32-pixel crops). Fails on
/// call `fail_on_call` (1-based), when set.
struct MeanEncoder {
    calls: usize,
    fail_on_call: Option<usize>,
}

impl MeanEncoder {
    fn new() -> Self {
        MeanEncoder {
            calls: 0,
            fail_on_call: None,
        }
    }
}

const SIZE: usize = 32;

impl FrameEncoder for MeanEncoder {
    fn dim(&self) -> usize {
        3
    }

    fn input_size(&self) -> usize {
        SIZE
    }

    fn encode(&mut self, images: &[f32], n: usize) -> Result<Vec<f32>, EncodeError> {
        self.calls += 1;
        if self.fail_on_call == Some(self.calls) {
            return Err("simulated encoder failure".into());
        }
        assert_eq!(images.len(), n * 3 * SIZE * SIZE);
        Ok(images
            .chunks_exact(SIZE * SIZE)
            .map(|plane| plane.iter().sum::<f32>() / plane.len() as f32)
            .collect())
    }
}

fn raw_options() -> ExtractOptions {
    ExtractOptions {
        normalization: Normalization::raw(),
        ..ExtractOptions::default()
    }
}

/// Runs an extraction into `root`, collecting the events.
fn run(
    videos: &[VideoInput],
    root: &Path,
    encoder: &mut MeanEncoder,
    opts: &ExtractOptions,
) -> (Result<ExtractReport, VideoError>, Vec<ExtractEvent>) {
    let mut events = Vec::new();
    let result = extract_collection(videos, root, COLLECTION, FEATURE, encoder, opts, &mut |e| {
        events.push(e)
    });
    (result, events)
}

fn feature_dir(root: &Path) -> PathBuf {
    Collection::new(root, COLLECTION).feature_dir(FEATURE)
}

fn expected_ids() -> Vec<String> {
    let frames: [(&str, &[u64]); 3] = [
        ("a10", &[0, 5, 10, 15]),
        ("b25", &[0, 12, 25, 37]),
        ("c7", &[0, 3, 7, 10, 14]),
    ];
    frames
        .iter()
        .flat_map(|(v, ks)| ks.iter().map(move |k| format!("{v}_{k}")))
        .collect()
}

#[test]
fn extracts_a_collection_with_the_original_sampling() {
    let Some(ffmpeg) = ffmpeg_or_skip("extracts_a_collection_with_the_original_sampling") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let videos = three_videos(&ffmpeg, &tmp.path().join("videos"));
    let root = tmp.path().join("VisualSearch");
    let (report, events) = run(&videos, &root, &mut MeanEncoder::new(), &raw_options());
    let report = report.unwrap();
    assert_eq!((report.ok, report.skipped, report.failed), (3, 0, 0));
    assert_eq!(
        (report.frames, report.encoded_frames, report.dim),
        (13, 13, 3)
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["videos"][2]["status"], "ok");

    let dir = feature_dir(&root);
    let features = BigFile::open(&dir).unwrap();
    assert_eq!(features.ids(), expected_ids().as_slice());
    assert_eq!(
        std::fs::read_to_string(dir.join("shape.txt")).unwrap(),
        "13 3"
    );
    assert!(
        !dir.join(PARTS_DIR).exists(),
        "parts are removed when all succeed"
    );
    let v2f = Video2Frames::read(dir.join("video2frames.txt")).unwrap();
    assert_eq!(v2f.len(), 3);
    assert_eq!(
        v2f.frames("b25").unwrap(),
        ["b25_0", "b25_12", "b25_25", "b25_37"]
    );
    let coll = Collection::new(&root, COLLECTION);
    assert_eq!(
        std::fs::read_to_string(coll.image_set_path()).unwrap(),
        "a10\nb25\nc7\n"
    );
    for video in ["a10", "b25", "c7"] {
        assert_thumbnail(
            &ffmpeg,
            &coll.dir().join("thumbnails").join(format!("{video}.jpg")),
        );
    }

    // The collection passes the format check once it has captions.
    std::fs::create_dir_all(coll.caption_path().parent().unwrap()).unwrap();
    std::fs::write(coll.caption_path(), "a10#enc#0 a test pattern\n").unwrap();
    let check = check_collection(&coll, FEATURE);
    assert!(check.problems.is_empty(), "{:?}", check.problems);

    let started = events
        .iter()
        .filter(|e| matches!(e, ExtractEvent::VideoStarted { .. }))
        .count();
    let encoded: usize = events
        .iter()
        .map(|e| match e {
            ExtractEvent::FramesEncoded { frames, .. } => *frames,
            _ => 0,
        })
        .sum();
    assert_eq!((started, encoded), (3, 13));
    assert!(matches!(
        events.last(),
        Some(ExtractEvent::Assembling {
            videos: 3,
            frames: 13
        })
    ));

    // Row b25_12 is the mean over ten crops of frame 12, decoded and prepared directly.
    let row = features.vector_by_id("b25_12").unwrap();
    let want = frame_features(&ffmpeg, &videos[1].path, 12);
    for (got, want) in row.iter().zip(want) {
        assert!((got - want).abs() < 1e-3, "{row:?} vs {want}");
    }
}

/// The mean-encoder features of frame `k` of `video`, with the default preprocessing.
fn frame_features(ffmpeg: &Ffmpeg, video: &Path, k: u64) -> Vec<f32> {
    let info = ffmpeg.probe(video).unwrap();
    let mut decoder = FrameDecoder::start(ffmpeg, video, &info).unwrap();
    let image = loop {
        let frame = decoder.next_frame().unwrap().expect("frame exists");
        if frame.index == k {
            break RgbImage::new(info.width, info.height, frame.rgb.to_vec()).unwrap();
        }
    };
    let pre = Preprocessor::new(SIZE, ResizeMode::Square, Crops::Ten, &Normalization::raw());
    let mut images = Vec::new();
    pre.push_frame(&image, &mut images);
    let crops = MeanEncoder::new().encode(&images, 10).unwrap();
    (0..3)
        .map(|c| (0..10).map(|i| crops[i * 3 + c]).sum::<f32>() / 10.0)
        .collect()
}

/// The thumbnail is a JPEG 320 pixels wide.
fn assert_thumbnail(ffmpeg: &Ffmpeg, path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..3],
        &[0xFF, 0xD8, 0xFF],
        "{} is a JPEG",
        path.display()
    );
    assert_eq!(&bytes[bytes.len() - 2..], &[0xFF, 0xD9]);
    let out = Command::new(ffmpeg.ffprobe_path())
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "320,240");
}

#[test]
fn corrupt_and_empty_files_are_reported_and_skipped() {
    let Some(ffmpeg) = ffmpeg_or_skip("corrupt_and_empty_files_are_reported_and_skipped") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("videos");
    std::fs::create_dir_all(&dir).unwrap();
    make_video(&ffmpeg, &dir.join("good.mp4"), "10");
    let noise: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("corrupt.mp4"), noise).unwrap();
    std::fs::write(dir.join("empty.mp4"), b"").unwrap();
    std::fs::write(dir.join("notes.txt"), b"not a video").unwrap();
    let videos = VideoInput::from_arg(&dir).unwrap();
    let ids: Vec<&str> = videos.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, ["corrupt", "empty", "good"]);

    let root = tmp.path().join("VisualSearch");
    let report = run(&videos, &root, &mut MeanEncoder::new(), &raw_options())
        .0
        .unwrap();
    assert_eq!((report.ok, report.failed, report.frames), (1, 2, 4));
    for (i, name) in [(0, "corrupt.mp4"), (1, "empty.mp4")] {
        let entry = &report.videos[i];
        assert_eq!(entry.status, VideoStatus::Failed);
        let message = entry.message.as_deref().unwrap();
        assert!(message.contains(name), "{message}");
    }
    let features = BigFile::open(feature_dir(&root)).unwrap();
    assert_eq!(features.ids(), ["good_0", "good_5", "good_10", "good_15"]);
    let coll = Collection::new(&root, COLLECTION);
    assert_eq!(
        std::fs::read_to_string(coll.image_set_path()).unwrap(),
        "good\n"
    );
    assert!(
        feature_dir(&root)
            .join(PARTS_DIR)
            .join("good.part")
            .exists(),
        "parts are kept while some video failed"
    );

    // A rerun retries only the failures.
    let mut encoder = MeanEncoder::new();
    let report = run(&videos, &root, &mut encoder, &raw_options()).0.unwrap();
    assert_eq!((report.ok, report.skipped, report.failed), (0, 1, 2));
    assert_eq!(encoder.calls, 0);
    assert_eq!(BigFile::open(feature_dir(&root)).unwrap().len(), 4);
}

#[test]
fn a_run_stopped_by_the_encoder_resumes_where_it_stopped() {
    let Some(ffmpeg) = ffmpeg_or_skip("a_run_stopped_by_the_encoder_resumes_where_it_stopped")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let videos = three_videos(&ffmpeg, &tmp.path().join("videos"));
    let root = tmp.path().join("VisualSearch");
    let mut failing = MeanEncoder {
        calls: 0,
        fail_on_call: Some(2),
    };
    let err = run(&videos, &root, &mut failing, &raw_options())
        .0
        .unwrap_err();
    assert!(
        matches!(&err, VideoError::Encode { video, .. } if video == "b25"),
        "{err}"
    );
    let dir = feature_dir(&root);
    assert!(dir.join(PARTS_DIR).join("a10.part").exists());
    assert!(!dir.join("feature.bin").exists());

    // Other settings do not mix with the parts made so far.
    let one_crop = ExtractOptions {
        crops: Crops::One,
        ..raw_options()
    };
    let err = run(&videos, &root, &mut MeanEncoder::new(), &one_crop)
        .0
        .unwrap_err();
    assert!(matches!(err, VideoError::PartsMismatch { .. }), "{err}");

    let mut encoder = MeanEncoder::new();
    let report = run(&videos, &root, &mut encoder, &raw_options()).0.unwrap();
    let statuses: Vec<VideoStatus> = report.videos.iter().map(|v| v.status).collect();
    assert_eq!(
        statuses,
        [VideoStatus::Skipped, VideoStatus::Ok, VideoStatus::Ok]
    );
    assert_eq!(encoder.calls, 2, "one batch per remaining video");
    assert_eq!((report.frames, report.encoded_frames), (13, 9));
    assert_eq!(
        BigFile::open(&dir).unwrap().ids(),
        expected_ids().as_slice()
    );
}

#[test]
fn a_finished_collection_needs_overwrite() {
    let Some(ffmpeg) = ffmpeg_or_skip("a_finished_collection_needs_overwrite") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let videos = three_videos(&ffmpeg, &tmp.path().join("videos"));
    let root = tmp.path().join("VisualSearch");
    run(&videos, &root, &mut MeanEncoder::new(), &raw_options())
        .0
        .unwrap();
    let err = run(&videos, &root, &mut MeanEncoder::new(), &raw_options())
        .0
        .unwrap_err();
    assert!(matches!(err, VideoError::AlreadyExtracted { .. }), "{err}");

    // Overwriting with one frame a second and one crop replaces the folder whole.
    let opts = ExtractOptions {
        fps: 1.0,
        crops: Crops::One,
        resize: ResizeMode::ShortSide,
        overwrite: true,
        ..raw_options()
    };
    let report = run(&videos, &root, &mut MeanEncoder::new(), &opts)
        .0
        .unwrap();
    assert_eq!(report.ok, 3);
    let ids = BigFile::open(feature_dir(&root)).unwrap().ids().to_vec();
    let want = [
        "a10_0", "a10_10", "b25_0", "b25_25", "c7_0", "c7_7", "c7_14",
    ];
    assert_eq!(ids, want);
}

#[test]
fn rotated_videos_decode_upright_at_their_display_size() {
    let Some(ffmpeg) = ffmpeg_or_skip("rotated_videos_decode_upright_at_their_display_size") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("plain.mp4");
    make_video(&ffmpeg, &plain, "10");
    let rotated = tmp.path().join("rotated.mp4");
    let status = Command::new(ffmpeg.ffmpeg_path())
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(&plain)
        .args(["-c", "copy", "-metadata:s:v", "rotate=90"])
        .arg(&rotated)
        .status()
        .unwrap();
    assert!(status.success());
    let info = ffmpeg.probe(&rotated).unwrap();
    assert_eq!((info.width, info.height), (48, 64));
    let mut decoder = FrameDecoder::start(&ffmpeg, &rotated, &info).unwrap();
    let mut frames = 0;
    while let Some(frame) = decoder.next_frame().unwrap() {
        assert_eq!(frame.rgb.len(), 48 * 64 * 3);
        frames += 1;
    }
    assert_eq!(frames, 20);
}

#[test]
fn inputs_come_from_folders_and_lists_with_unique_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    for path in [a.join("x.mp4"), a.join("y.MKV"), b.join("x.avi")] {
        std::fs::write(path, b"").unwrap();
    }
    let ids: Vec<String> = VideoInput::from_arg(&a)
        .unwrap()
        .into_iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(ids, ["x", "y"]);

    let list = tmp.path().join("list.txt");
    std::fs::write(&list, "# my videos\na/y.MKV\n\nb/x.avi\n").unwrap();
    let listed = VideoInput::from_arg(&list).unwrap();
    assert_eq!(listed[0].path, a.join("y.MKV"));
    assert_eq!(listed[1].id, "x");

    std::fs::write(&list, "a/x.mp4\nb/x.avi\n").unwrap();
    let err = VideoInput::from_arg(&list).unwrap_err().to_string();
    assert!(err.contains("x.mp4") && err.contains("x.avi"), "{err}");

    let missing = VideoInput::from_arg(&tmp.path().join("nothing")).unwrap_err();
    assert!(missing.to_string().contains("nothing"), "{missing}");
}
