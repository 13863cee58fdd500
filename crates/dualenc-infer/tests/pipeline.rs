//! Embed, test and predict end to end on a tiny VisualSearch tree, with the imported reference
//! model (`fixtures/reference/model_full`, 16-d frames, 12-d space).

use std::path::{Path, PathBuf};

use dualenc_data::{BigFile, BigFileWriter, Collection, Video2Frames};
use dualenc_dataset::BigFileVideos;
use dualenc_dataset::{load_pair_data, DatasetError};
use dualenc_infer::{
    embed_collection, encode_collection_pairs, encode_videos_alone, import_checkpoint, predict,
    test_model, CaptionLayout, EmbedOutputs, EncodeOptions, LoadedModel, PredictOptions,
    TestOptions, VocabOverrides,
};
use dualenc_model::CpuBackend;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/reference");

const SENTENCES: [&str; 8] = [
    "a man is playing a guitar",
    "a man plays on the stage",
    "dog",
    "a dog runs in the park",
    "the woman slices zucchini in the kitchen",
    "a woman in the kitchen",
    "A Cat, sleeping.",
    "two kids run and jump on the grass",
];

struct Tree {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    model: PathBuf,
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A collection `name` of videos with `frames[i]` 16-d frames and the given captions.
fn collection(root: &Path, name: &str, frames: &[usize], captions: &[(usize, usize)]) {
    let coll = Collection::new(root, name);
    let mut writer = BigFileWriter::create(coll.feature_dir("tinyfeat"), 16).unwrap();
    let mut ids = Vec::new();
    for (v, &n) in frames.iter().enumerate() {
        for f in 0..n {
            let row: Vec<f32> = (0..16)
                .map(|d| ((v * 31 + f * 7 + d) as f32 * 0.37).sin())
                .collect();
            let id = format!("vid{v}_{f}");
            writer.push(&id, &row).unwrap();
            ids.push(id);
        }
    }
    writer.finish().unwrap();
    let v2f =
        Video2Frames::from_frame_ids(ids.iter().map(String::as_str), Path::new("id.txt")).unwrap();
    v2f.write_dict_literal(coll.video2frames_path("tinyfeat"))
        .unwrap();
    let lines: String = captions
        .iter()
        .enumerate()
        .map(|(i, &(v, s))| format!("vid{v}#enc#{i} {}\n", SENTENCES[s]))
        .collect();
    write(&coll.caption_path(), &lines);
}

fn tree() -> Tree {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("VisualSearch");
    dualenc_testkit::write_reference_vocabularies(&root, "tinytrain");
    let model = tmp.path().join("model");
    import_checkpoint(
        Path::new(&format!("{FIXTURES}/model_full/checkpoint.pth")),
        &root,
        &VocabOverrides::default(),
        &model,
    )
    .unwrap();
    let pairs: Vec<(usize, usize)> = (0..8).map(|i| (i / 2, i)).collect();
    collection(&root, "tinytest", &[3, 70, 1, 5], &pairs);
    write(
        &root.join("tinytest/TextData/tv16.avs.txt"),
        "501 a man playing a guitar\n502 a dog in the park\n",
    );
    write(
        &root.join("tinytest/TextData/avs.qrels.tv16"),
        "1501 0 vid0 1 1\n1501 0 vid1 1 0\n1502 0 vid1 1 1\n1502 0 vid2 1 0\n",
    );
    Tree {
        _tmp: tmp,
        root,
        model,
    }
}

fn load(tree: &Tree) -> LoadedModel<CpuBackend> {
    LoadedModel::load(&tree.model, &Default::default()).unwrap()
}

fn options(tree: &Tree, collection: &str, n_caption: Option<usize>) -> TestOptions {
    TestOptions {
        rootpath: tree.root.clone(),
        collection: collection.into(),
        feature: "tinyfeat".into(),
        n_caption,
        encode: EncodeOptions::default(),
        measure: Default::default(),
    }
}

#[test]
fn test_writes_metrics_and_an_error_matrix_matching_the_embeddings() {
    let tree = tree();
    let loaded = load(&tree);
    let report = test_model(
        &loaded.model,
        &loaded.vocab,
        &tree.model,
        &options(&tree, "tinytest", Some(2)),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(report.layout, CaptionLayout::Fixed(2));
    assert_eq!((report.videos, report.captions), (4, 8));
    let m = &report.metrics;
    assert!((m.sumr - (m.t2v.recall_sum() + m.v2t.recall_sum())).abs() < 1e-9);
    // With 4 videos every caption's video is within the top 5.
    assert_eq!(m.t2v.r5, 100.0);
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.out_dir.join("metrics.json")).unwrap())
            .unwrap();
    assert_eq!(written["t2v"]["r1"].as_f64(), Some(m.t2v.r1));
    assert_eq!(written["sumr"].as_f64(), Some(m.sumr));

    let matrix = BigFile::open(report.out_dir.join("pred_errors_matrix")).unwrap();
    assert_eq!((matrix.len(), matrix.dim()), (8, 4));
    let coll = Collection::new(&tree.root, "tinytest");
    let data = load_pair_data(&coll, "tinyfeat", &loaded.vocab).unwrap();
    let embs = encode_collection_pairs(&loaded.model, &data, 128).unwrap();
    for (c, cap) in embs.caption_embs.chunks_exact(12).enumerate() {
        for (v, vid) in embs.video_embs.chunks_exact(12).enumerate() {
            let cos: f32 = cap.iter().zip(vid).map(|(a, b)| a * b).sum();
            // Tolerance 1e-5: unit-norm f32 embeddings, stored as f32.
            assert!(
                (matrix.vector(c)[v] + cos).abs() < 1e-5,
                "caption {c} video {v}"
            );
        }
    }
    assert_eq!(matrix.ids()[3], "vid1#enc#3");
    let videos =
        std::fs::read_to_string(report.out_dir.join("pred_errors_matrix/videos.txt")).unwrap();
    assert_eq!(videos, "vid0\nvid1\nvid2\nvid3\n");
}

#[test]
fn varying_caption_counts_are_evaluated_msvd_style_and_mismatches_are_errors() {
    let tree = tree();
    let loaded = load(&tree);
    collection(
        &tree.root,
        "tinyvaried",
        &[2, 4, 3],
        &[(0, 0), (1, 2), (1, 3), (1, 7), (2, 4), (2, 5)],
    );
    let opts = options(&tree, "tinyvaried", None);
    let report = test_model(
        &loaded.model,
        &loaded.vocab,
        &tree.model,
        &opts,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(report.layout, CaptionLayout::Varied);
    // Three videos: a median rank is one of 1..=3 (NaN or a rank past the end fails).
    let medr = report.metrics.t2v.medr;
    assert!((1.0..=3.0).contains(&medr), "medr {medr}");
    let err = test_model(
        &loaded.model,
        &loaded.vocab,
        &tree.model,
        &options(&tree, "tinyvaried", Some(2)),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("--n-caption 2"), "{err}");
}

#[test]
fn a_caption_whose_video_has_no_frames_is_named() {
    let tree = tree();
    let loaded = load(&tree);
    collection(&tree.root, "tinybad", &[2, 2], &[(0, 0), (1, 1)]);
    let path = Collection::new(&tree.root, "tinybad").caption_path();
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("ghost#enc#9 a dog\n");
    write(&path, &text);
    let err = load_pair_data(
        &Collection::new(&tree.root, "tinybad"),
        "tinyfeat",
        &loaded.vocab,
    )
    .unwrap_err();
    assert!(
        matches!(err, DatasetError::VideoWithoutFrames { ref caption_id, .. } if caption_id == "ghost#enc#9")
    );
    assert!(err.to_string().contains("ghost#enc#9"), "{err}");
}

#[test]
fn predict_ranks_every_video_by_cosine_and_scores_infap() {
    let tree = tree();
    let loaded = load(&tree);
    let opts = PredictOptions {
        rootpath: tree.root.clone(),
        collection: "tinytest".into(),
        feature: "tinyfeat".into(),
        query_sets: vec!["tv16.avs.txt".into()],
        encode: EncodeOptions::default(),
        topic_prefix: Default::default(),
    };
    let reports = predict(
        &loaded.model,
        &loaded.vocab,
        &tree.model,
        &opts,
        &mut |_| {},
    )
    .unwrap();
    let report = &reports[0];
    assert_eq!((report.edition.as_str(), report.topics), ("tv16", 2));
    let text = std::fs::read_to_string(&report.score_file).unwrap();
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines.len(), 2);
    let coll = Collection::new(&tree.root, "tinytest");
    let videos = BigFileVideos::open(&coll, "tinyfeat", None).unwrap();
    let video_embs = encode_videos_alone(
        &loaded.model,
        &videos,
        &EncodeOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    let query = loaded.vocab.encode_all([("501", "a man playing a guitar")]);
    let query_emb = dualenc_infer::encode_captions_alone(
        &loaded.model,
        &query,
        &EncodeOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    let line = &lines[0];
    assert_eq!(line[0], "501");
    let mut previous = f64::INFINITY;
    for pair in line[1..].chunks(2) {
        let v: usize = pair[0].trim_start_matches("vid").parse().unwrap();
        let score: f64 = pair[1].parse().unwrap();
        let expected: f32 = video_embs[v * 12..(v + 1) * 12]
            .iter()
            .zip(&query_emb)
            .map(|(a, b)| a * b)
            .sum();
        // Tolerance 1e-5: f32 embeddings, scores summed in f64.
        assert!(
            (score - f64::from(expected)).abs() < 1e-5,
            "vid{v}: {score} vs {expected}"
        );
        assert!(score <= previous);
        previous = score;
    }
    assert_eq!(line.len(), 1 + 2 * 4);
    let infap = report.infap.as_ref().expect("qrels exist");
    assert_eq!(infap.per_topic.len(), 2);
    assert!(report.trec_file.is_file());
    assert!(report.score_file.with_file_name("perf.txt").is_file());
}

#[test]
fn embed_writes_bigfiles_of_videos_and_captions() {
    let tree = tree();
    let loaded = load(&tree);
    let coll = Collection::new(&tree.root, "tinytest");
    let out = tree.root.join("emb");
    let outputs = EmbedOutputs {
        videos: Some(out.join("videos")),
        captions: Some(out.join("captions")),
    };
    let report = embed_collection(
        &loaded.model,
        &loaded.vocab,
        &coll,
        "tinyfeat",
        &outputs,
        &EncodeOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!((report.videos, report.captions, report.dim), (4, 8, 12));
    let videos = BigFile::open(out.join("videos")).unwrap();
    let captions = BigFile::open(out.join("captions")).unwrap();
    assert_eq!(videos.ids(), ["vid0", "vid1", "vid2", "vid3"]);
    assert_eq!(captions.ids()[7], "vid3#enc#7");
    let norm: f32 = captions.vector(0).iter().map(|x| x * x).sum();
    assert!((norm - 1.0).abs() < 1e-5);
    let only_videos = EmbedOutputs {
        videos: Some(out.join("all_videos")),
        captions: None,
    };
    let report = embed_collection(
        &loaded.model,
        &loaded.vocab,
        &coll,
        "tinyfeat",
        &only_videos,
        &EncodeOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!((report.videos, report.captions), (4, 0));
}

/// The pair encoding encodes each video once, in the batch of its first caption, padded to
/// that batch's longest video; the original encodes one copy per caption. Both must agree.
#[test]
fn pair_encoding_equals_the_originals_one_copy_per_caption_batches() {
    use dualenc_dataset::collate_pairs;
    use dualenc_model::named::tensor_to_vec;
    use dualenc_model::PaddingMode;
    let tree = tree();
    let loaded = load(&tree);
    let coll = Collection::new(&tree.root, "tinytest");
    let data = load_pair_data(&coll, "tinyfeat", &loaded.vocab).unwrap();
    let ours = encode_collection_pairs(&loaded.model, &data, 3).unwrap();
    let frames: Vec<_> = (0..data.videos.len())
        .map(|v| data.videos.frames(v).unwrap())
        .collect();
    let inputs: Vec<_> = data
        .captions
        .tokens
        .iter()
        .map(|t| t.to_input(data.captions.bow_dim).unwrap())
        .collect();
    let mut done = [false; 4];
    for start in (0..8).step_by(3) {
        let end = (start + 3).min(8);
        let vids: Vec<_> = (start..end)
            .map(|i| &frames[data.caption_video[i]])
            .collect();
        let caps: Vec<_> = inputs[start..end].iter().collect();
        let batch = collate_pairs(&vids, &caps, 64).unwrap();
        let rows = tensor_to_vec(
            loaded
                .model
                .embed_video_batch(&batch.video, PaddingMode::Batch)
                .unwrap(),
        )
        .unwrap();
        for (row, &k) in rows.chunks_exact(12).zip(&batch.perm) {
            let v = data.caption_video[start + k];
            if !done[v] && (start + k) % 2 == 0 {
                done[v] = true;
                let got = &ours.video_embs[v * 12..(v + 1) * 12];
                let diff = dualenc_testkit::compare::max_abs_diff(got, row);
                // Tolerance 1e-6: same arithmetic, other batch composition (float summation order).
                assert!(diff < 1e-6, "video {v}: {diff}");
            }
        }
    }
    assert_eq!(done, [true; 4]);
}
