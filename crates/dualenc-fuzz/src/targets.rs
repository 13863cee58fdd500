//! The fuzz targets: one per parser of a user file or request, each with seed inputs.
//!
//! A target must not panic on any input: errors are fine and expected. Formats made of
//! several files (a BigFile, an index, a model folder) take one input split at [`SEPARATOR`]
//! lines into their files.

use std::path::{Path, PathBuf};

use dualenc_data::captions::{read_captions, read_image_set, read_topics};
use dualenc_data::{BigFile, BigFileWriter, Video2Frames, WordVectors};
use dualenc_eval::avs::{ScoreFile, TrecOptions};
use dualenc_eval::infap::{Qrels, Run};
use dualenc_index::{CollectionMeta, Index, IndexWriter, SearchMode};
use dualenc_pickle::TorchFile;
use dualenc_server::params::parse_search_params;
use dualenc_server::Limits;
use dualenc_synth::SynthLabels;
use dualenc_text::{TextStyle, Vocabulary};

/// Splits a multi-file input.
pub const SEPARATOR: &[u8] = b"\n--8<--\n";

/// A parser under test.
pub struct Target {
    /// Its name (`--target`, regression folder).
    pub name: &'static str,
    /// Seed inputs.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Feeds one input to the parser (must not panic).
    pub run: fn(&[u8], &Scratch),
}

/// A scratch folder for the parsers that read paths.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Scratch {
    /// A fresh scratch folder.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a scratch folder"),
        }
    }

    /// Writes `bytes` to the scratch file `name` (a path below the folder) and returns it.
    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("scratch folder");
        }
        std::fs::write(&path, bytes).expect("scratch file");
        path
    }

    /// A folder `name` holding `names[i]` = the i-th part of `input`.
    pub fn folder(&self, name: &str, names: &[&str], input: &[u8]) -> PathBuf {
        let dir = self.dir.path().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch folder");
        for (file, part) in names.iter().zip(split(input, names.len())) {
            std::fs::write(dir.join(file), part).expect("scratch file");
        }
        dir
    }
}

/// The input cut at the first `n - 1` separators (missing parts are empty).
fn split(input: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts = Vec::with_capacity(n);
    let mut rest = input;
    while parts.len() + 1 < n {
        match rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
            Some(i) => {
                parts.push(&rest[..i]);
                rest = &rest[i + SEPARATOR.len()..];
            }
            None => break,
        }
    }
    parts.push(rest);
    parts.resize(n, &[]);
    parts
}

/// Joins files into one multi-file input.
fn join(parts: &[&[u8]]) -> Vec<u8> {
    parts.join(SEPARATOR)
}

fn fixture(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("seed {}: {e}", path.display()))
}

fn text(input: &[u8]) -> String {
    String::from_utf8_lossy(input).into_owned()
}

/// Every target.
pub fn targets() -> Vec<Target> {
    vec![
        Target {
            name: "pickle",
            seeds: || {
                [
                    "vocab/bow_word_vocab_5.pkl",
                    "vocab/rnn_word_vocab_5.protocol2.pkl",
                ]
                .map(|f| fixture(&format!("reference/{f}")))
                .to_vec()
            },
            run: |input, _| drop(dualenc_pickle::loads(input)),
        },
        Target {
            name: "torch-checkpoint",
            seeds: || {
                [
                    "checkpoint.pth",
                    "checkpoint_legacy.pth",
                    "checkpoint_legacy_cuda.pth",
                ]
                .map(|f| fixture(&format!("reference/model_full/{f}")))
                .to_vec()
            },
            run: |input, _| {
                let Ok(file) = TorchFile::from_bytes("fuzz.pth", input) else {
                    return;
                };
                if let Some(dualenc_pickle::Value::List(dicts)) = file.get("model") {
                    for dict in dicts {
                        drop(file.state_dict(dict));
                    }
                }
            },
        },
        Target {
            name: "safetensors",
            seeds: || vec![fixture("reference/model_full/weights.safetensors")],
            run: |input, scratch| {
                drop(dualenc_model::model_dir::read_safetensors(
                    &scratch.file("w.safetensors", input),
                ))
            },
        },
        Target {
            name: "bigfile",
            seeds: bigfile_seeds,
            run: |input, scratch| {
                let dir = scratch.folder("bf", &["shape.txt", "id.txt", "feature.bin"], input);
                if let Ok(file) = BigFile::open(&dir) {
                    drop(file.scan_non_finite());
                    let rows: Vec<usize> = (0..file.len().min(16)).collect();
                    let mut out = vec![0.0f32; rows.len() * file.dim().min(1 << 16)];
                    drop(file.gather_into(&rows, &mut out));
                }
            },
        },
        Target {
            name: "video2frames-dict",
            seeds: || {
                vec![fixture(
                    "replay/root/replayval/FeatureData/replayfeat/video2frames.txt",
                )]
            },
            run: |input, scratch| {
                drop(Video2Frames::read_dict_literal(
                    scratch.file("v2f.txt", input),
                ))
            },
        },
        Target {
            name: "video2frames-json",
            seeds: || vec![br#"{"v0": ["v0_0", "v0_2", "v0_10"], "v1": ["v1_1"]}"#.to_vec()],
            run: |input, scratch| drop(Video2Frames::read_json(scratch.file("v2f.json", input))),
        },
        Target {
            name: "captions",
            seeds: || {
                vec![
                    fixture("reference/vocab/captions.txt"),
                    fixture("replay/root/replayval/TextData/replayval.caption.txt"),
                ]
            },
            run: |input, scratch| drop(read_captions(scratch.file("c.caption.txt", input))),
        },
        Target {
            name: "image-set",
            seeds: || vec![fixture("replay/root/replayval/ImageSets/replayval.txt")],
            run: |input, scratch| drop(read_image_set(scratch.file("set.txt", input))),
        },
        Target {
            name: "avs-topics",
            seeds: || vec![fixture("reference/training/data/synth.avs.txt")],
            run: |input, scratch| drop(read_topics(scratch.file("t.avs.txt", input))),
        },
        Target {
            name: "vocab-json",
            seeds: || {
                let words = vec!["a".to_string(), "dog".into(), "runs".into()];
                let vocab = Vocabulary::from_words(TextStyle::Bow, words).expect("vocabulary");
                let scratch = Scratch::new();
                let path = scratch.file("v.json", b"");
                vocab.save_json(&path).expect("vocabulary JSON");
                vec![std::fs::read(path).expect("vocabulary JSON")]
            },
            run: |input, scratch| drop(Vocabulary::load_json(scratch.file("v.json", input))),
        },
        Target {
            name: "vocab-pickle",
            seeds: || {
                [
                    "bow_word_vocab_1.pkl",
                    "rnn_word_vocab_5.pkl",
                    "rnn_word_vocab_5.protocol2.pkl",
                ]
                .map(|f| fixture(&format!("reference/vocab/{f}")))
                .to_vec()
            },
            run: |input, scratch| drop(Vocabulary::load_pickle(scratch.file("v.pkl", input))),
        },
        Target {
            name: "word-vectors",
            seeds: || {
                let mut binary = b"2 3\ndog ".to_vec();
                for x in [0.5f32, -1.0, 2.0] {
                    binary.extend(x.to_le_bytes());
                }
                binary.extend(b"\ncat ");
                for x in [1.5f32, 0.0, -2.0] {
                    binary.extend(x.to_le_bytes());
                }
                binary.push(b'\n');
                vec![binary, b"2 3\ndog 0.5 -1 2\ncat 1.5 0 -2\n".to_vec()]
            },
            run: |input, scratch| {
                let path = scratch.file("w2v.bin", input);
                drop(WordVectors::read_binary(&path));
                drop(WordVectors::read_text(&path));
            },
        },
        Target {
            name: "qrels",
            seeds: || {
                vec![
                    fixture("reference/infap/basic.qrels"),
                    fixture("reference/infap/edge.qrels"),
                ]
            },
            run: |input, scratch| drop(Qrels::read(&scratch.file("q.qrels", input))),
        },
        Target {
            name: "runs",
            seeds: || {
                vec![
                    fixture("reference/infap/basic.treceval"),
                    fixture("reference/infap/edge.treceval"),
                    b"1 video2 0.9 video1 0.5\n2 video1 0.3 video2 0.2\n".to_vec(),
                ]
            },
            run: |input, scratch| {
                let path = scratch.file("run.txt", input);
                drop(Run::read_any(&path, &TrecOptions::default()));
                drop(ScoreFile::read(&path));
            },
        },
        Target {
            name: "synth-labels",
            seeds: || vec![fixture("reference/training/data/synth.labels.json")],
            run: |input, _| drop(SynthLabels::parse(&text(input))),
        },
        Target {
            name: "index",
            seeds: index_seeds,
            run: |input, scratch| {
                let dir = scratch.folder(
                    "index",
                    &["manifest.json", "ids.txt", "embeddings.f32"],
                    input,
                );
                if let Ok(index) = Index::open(&dir) {
                    let query = vec![0.5f32; index.dim().min(1 << 16)];
                    drop(index.search(&query, 3, SearchMode::Exact));
                }
            },
        },
        Target {
            name: "http-query",
            seeds: || {
                vec![
                    b"q=a+dog+on+the+beach&k=5".to_vec(),
                    b"q=%E2%80%9Chi%E2%80%9D".to_vec(),
                    b"k=10&q=x%2".to_vec(),
                ]
            },
            run: |input, _| drop(parse_search_params(Some(&text(input)), &Limits::default())),
        },
        Target {
            name: "http-json",
            seeds: || {
                vec![
                    br#"{"queries": ["a dog", "a cat on a mat"], "k": 5}"#.to_vec(),
                    br#"{"queries": []}"#.to_vec(),
                ]
            },
            run: |input, _| {
                drop(dualenc_server::params::parse_batch(
                    input,
                    &Limits::default(),
                ))
            },
        },
    ]
}

/// A small BigFile, as the three files joined.
fn bigfile_seeds() -> Vec<Vec<u8>> {
    let scratch = Scratch::new();
    let dir = scratch.dir.path().join("seed");
    let mut writer = BigFileWriter::create(&dir, 3).expect("BigFile");
    for (id, row) in [
        ("v0_0", [0.5f32, 1.0, -2.0]),
        ("v0_1", [1.5, 0.0, 2.0]),
        ("v1_0", [3.0, 2.0, 1.0]),
    ] {
        writer.push(id, &row).expect("row");
    }
    writer.finish().expect("BigFile");
    let read = |name: &str| std::fs::read(dir.join(name)).expect("BigFile file");
    vec![join(&[
        &read("shape.txt"),
        &read("id.txt"),
        &read("feature.bin"),
    ])]
}

/// A small index, as its three files joined.
fn index_seeds() -> Vec<Vec<u8>> {
    let scratch = Scratch::new();
    let dir = scratch.dir.path().join("seed");
    let mut writer = IndexWriter::create(&dir, 4, "/models/m").expect("index");
    writer
        .start_collection(CollectionMeta::new("c", "f"))
        .expect("collection");
    let rows = [
        0.5f32, 0.5, 0.5, 0.5, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0,
    ];
    writer.add_batch(&["a", "b", "c"], &rows).expect("rows");
    writer.commit().expect("commit");
    let read = |name: &str| std::fs::read(dir.join(name)).expect("index file");
    vec![join(&[
        &read("manifest.json"),
        &read("ids.txt"),
        &read("embeddings.f32"),
    ])]
}
