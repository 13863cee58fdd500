//! TRECVID Ad-hoc Video Search with a model, as the original's `predictor.py` + `tv-avs-eval`.
//!
//! Every video of the test collection (video2frames order, as the original's video loader) is
//! encoded in plain video batches; each query set `ROOT/TEST/TextData/QUERY_SET` (`TNUM query`
//! lines) is encoded in text batches; a topic's score for a shot is the dot product of the two
//! embeddings (cosine for normalised models, computed in f64 as the original's numpy does).
//! Per query set, under `MODEL/results/TEST/QUERY_SET/`:
//! - `id.sent.score.txt`: `TNUM shot score shot score ...`, all shots by score descending
//!   (ties keep the video order);
//! - `id.sent.score.txt.xml`: the TRECVID XML run, when `ROOT/TEST/VideoSets/TEST.txt` and the
//!   edition's topic file exist and agree (otherwise skipped with a warning, as it is only a
//!   submission format);
//! - `id.sent.score.txt.treceval`: the trec run (top 1000, topics prefixed as
//!   [`TopicPrefix`] says: TRECVID's `1` as `trec_eval.py`, or none where the qrels number the
//!   topics as the query set does, as `dualenc synth --avs` and the reference harness write them);
//! - `perf.txt` and the returned infAP report, when the qrels
//!   `ROOT/TEST/TextData/avs.qrels.EDITION` exist, EDITION being the query set's name up to its
//!   first dot (`tv16.avs.txt` -> `tv16`), as `trec_eval.py` names them.

use dualenc_model::ModelBackend;
use std::path::{Path, PathBuf};

use dualenc_data::captions::read_topics;
use dualenc_data::Collection;
use dualenc_eval::avs::{self, ScoreFile, TopicScores, TrecOptions, XmlOptions};
use dualenc_eval::infap::{evaluate, InfApReport, Qrels, Run};
use dualenc_model::DualEncoding;

use dualenc_dataset::{BigFileVideos, ModelVocab, VideoSource};

use crate::encode::{encode_captions_alone, encode_videos_alone, EncodeOptions};
use crate::error::{InferError, Result};

/// Name of the ranking file the original writes.
pub const SCORE_FILE: &str = "id.sent.score.txt";

/// What to predict.
#[derive(Debug, Clone)]
pub struct PredictOptions {
    /// The VisualSearch root.
    pub rootpath: PathBuf,
    /// The test collection (e.g. `iacc.3`).
    pub collection: String,
    /// The frame feature.
    pub feature: String,
    /// Query set files under `ROOT/TEST/TextData/` (e.g. `tv16.avs.txt`).
    pub query_sets: Vec<String>,
    /// Batching.
    pub encode: EncodeOptions,
    /// How the trec run numbers the topics.
    pub topic_prefix: TopicPrefix,
}

/// The prefix of the topic numbers in the trec run, which must match the qrels.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TopicPrefix {
    /// TRECVID's `1` (topic 501 is `1501` in the qrels, as `trec_eval.py` writes it), unless
    /// the qrels hold the query set's own numbers and none of the prefixed ones: then none.
    #[default]
    Auto,
    /// This prefix.
    Fixed(String),
}

impl TopicPrefix {
    /// The prefix for `topics` (the query set's numbers) against `qrels`, if any.
    pub fn resolve(&self, topics: &[&str], qrels: Option<&Qrels>) -> String {
        const TRECVID: &str = "1";
        match (self, qrels) {
            (TopicPrefix::Fixed(prefix), _) => prefix.clone(),
            (TopicPrefix::Auto, Some(q)) => {
                let prefixed = topics.iter().any(|t| q.has_topic(&format!("{TRECVID}{t}")));
                let plain = topics.iter().any(|t| q.has_topic(t));
                if plain && !prefixed {
                    String::new()
                } else {
                    TRECVID.to_string()
                }
            }
            (TopicPrefix::Auto, None) => TRECVID.to_string(),
        }
    }
}

/// The outcome for one query set.
#[derive(Debug, Clone)]
pub struct QuerySetReport {
    /// The query set file name.
    pub query_set: String,
    /// Its edition (the name up to the first dot).
    pub edition: String,
    /// Number of topics.
    pub topics: usize,
    /// The ranking file written.
    pub score_file: PathBuf,
    /// The XML run, when written.
    pub xml_file: Option<PathBuf>,
    /// The trec run written.
    pub trec_file: PathBuf,
    /// xinfAP per topic and overall, when the qrels exist.
    pub infap: Option<InfApReport>,
}

/// Encodes the test collection's videos, then ranks them for every query set.
pub fn predict<B: ModelBackend>(
    model: &DualEncoding<B>,
    vocab: &ModelVocab,
    model_dir: &Path,
    options: &PredictOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<QuerySetReport>> {
    if options.query_sets.is_empty() {
        return Err(InferError::Invalid("no query set given".into()));
    }
    let collection = Collection::new(&options.rootpath, &options.collection);
    let videos = BigFileVideos::open(&collection, &options.feature, None)?;
    tracing::info!("encoding {} videos of {}", videos.len(), options.collection);
    let video_embs = encode_videos_alone(model, &videos, &options.encode, progress)?;
    let out_root = model_dir.join("results").join(&options.collection);
    options
        .query_sets
        .iter()
        .map(|set| {
            let ranked = rank_query_set(
                model,
                vocab,
                &collection,
                set,
                &videos,
                &video_embs,
                options,
            )?;
            write_query_set(
                (&options.rootpath, &options.collection),
                set,
                &out_root.join(set),
                &ranked,
                &options.topic_prefix,
            )
        })
        .collect()
}

/// Ranks every video for each topic of `query_set`.
fn rank_query_set<B: ModelBackend>(
    model: &DualEncoding<B>,
    vocab: &ModelVocab,
    collection: &Collection,
    query_set: &str,
    videos: &BigFileVideos,
    video_embs: &[f32],
    options: &PredictOptions,
) -> Result<ScoreFile> {
    let path = collection.dir().join("TextData").join(query_set);
    let topics = read_topics(&path)?;
    if topics.is_empty() {
        return Err(InferError::Invalid(format!("{}: no topic", path.display())));
    }
    let queries = vocab.encode_all(topics.iter().map(|t| (t.number.as_str(), t.query.as_str())));
    let query_embs = encode_captions_alone(model, &queries, &options.encode, &mut |_| {})?;
    let dim = model.config().embedding_dim();
    let topics = topics
        .iter()
        .zip(query_embs.chunks_exact(dim.max(1)))
        .map(|(topic, query)| {
            let scores = dot_all(query, video_embs, dim);
            TopicScores::ranked(&topic.number, videos.ids(), &scores)
                .map_err(|e| InferError::Eval(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ScoreFile { topics })
}

/// `query . video` for every video row, in f64.
fn dot_all(query: &[f32], videos: &[f32], dim: usize) -> Vec<f64> {
    videos
        .chunks_exact(dim.max(1))
        .map(|v| {
            v.iter()
                .zip(query)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum()
        })
        .collect()
}

/// Writes the score file, the XML and trec runs, and scores the run when qrels exist.
fn write_query_set(
    (rootpath, collection): (&Path, &str),
    query_set: &str,
    out_dir: &Path,
    scores: &ScoreFile,
    prefix: &TopicPrefix,
) -> Result<QuerySetReport> {
    let eval_err = |e: &dyn std::fmt::Display| InferError::Eval(e.to_string());
    let edition = query_set.split('.').next().unwrap_or(query_set).to_string();
    std::fs::create_dir_all(out_dir).map_err(|e| InferError::io(out_dir, e))?;
    let score_file = out_dir.join(SCORE_FILE);
    scores.write(&score_file).map_err(|e| eval_err(&e))?;
    let xml_file = write_xml(rootpath, collection, &edition, &score_file, scores);
    let trec_file = avs::treceval_path(&score_file);
    let qrels_path = rootpath
        .join(collection)
        .join("TextData")
        .join(format!("avs.qrels.{edition}"));
    let qrels = match qrels_path.is_file() {
        true => Some(Qrels::read(&qrels_path).map_err(|e| eval_err(&e))?),
        false => None,
    };
    let numbers: Vec<&str> = scores.topics.iter().map(|t| t.topic.as_str()).collect();
    let trec_options = TrecOptions {
        topic_prefix: prefix.resolve(&numbers, qrels.as_ref()),
        ..TrecOptions::default()
    };
    let trec = scores.to_trec(&trec_options);
    avs::write_file(&trec_file, trec.as_bytes()).map_err(|e| eval_err(&e))?;
    let infap = if let Some(qrels) = qrels {
        let run =
            Run::parse_trec(&trec, &trec_file.display().to_string()).map_err(|e| eval_err(&e))?;
        let report = evaluate(&qrels, &run).map_err(|e| eval_err(&e))?;
        let perf = out_dir.join("perf.txt");
        avs::write_file(&perf, report.to_sample_eval_text(true).as_bytes())
            .map_err(|e| eval_err(&e))?;
        Some(report)
    } else {
        tracing::info!("no qrels at {}: infAP not computed", qrels_path.display());
        None
    };
    Ok(QuerySetReport {
        query_set: query_set.to_string(),
        edition,
        topics: scores.topics.len(),
        score_file,
        xml_file,
        trec_file,
        infap,
    })
}

/// The XML run, or `None` (with a warning) when the collection lists are missing or disagree.
fn write_xml(
    rootpath: &Path,
    collection: &str,
    edition: &str,
    score_file: &Path,
    scores: &ScoreFile,
) -> Option<PathBuf> {
    let result = avs::Collection::read(rootpath, collection, edition).and_then(|lists| {
        let xml = scores.to_xml(
            &score_file.display().to_string(),
            &lists,
            &XmlOptions::default(),
        )?;
        let path = avs::xml_path(score_file);
        avs::write_file(&path, xml.as_bytes())?;
        Ok(path)
    });
    match result {
        Ok(path) => Some(path),
        Err(e) => {
            tracing::warn!("TRECVID XML run not written: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_products_cover_every_video() {
        let scores = dot_all(&[1.0, 2.0], &[1.0, 0.0, 0.5, 0.5, -1.0, 1.0], 2);
        assert_eq!(scores, vec![1.0, 1.5, 1.0]);
    }
}
