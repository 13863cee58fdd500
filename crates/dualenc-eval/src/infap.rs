//! Inferred average precision (xinfAP) and the other measures of NIST's `sample_eval.pl`
//! (TRECVID), computed and printed exactly as that script does.
//!
//! Qrels lines are `TOPIC 0 SHOT STRATUM REL` (REL 1 relevant, 0 not, -1 pooled but not
//! judged); run lines are `TOPIC Q0 SHOT RANK SCORE TAG` (only TOPIC, SHOT and SCORE are used).
//! The script's behaviour, reproduced here:
//! - a topic's shots are ranked by score descending, ties by shot id in descending string
//!   order, and only the first [`MAX_RESULT_SIZE`] are used; a shot listed twice keeps its
//!   last score; the per-topic `num_ret` counts lines, `num_ret all` counts shots used;
//! - topics of the run missing from the qrels are skipped (listed in
//!   [`InfApReport::skipped_topics`]); topics of the qrels missing from the run are not
//!   averaged; topics are processed in numeric order;
//! - the inferred number of relevant shots of a stratum is `sampled_rel * docs / sampled_docs`
//!   (strata with no judged shot contribute nothing); a qrels line listed twice counts twice
//!   in its stratum and its last judgement wins;
//! - the precision estimate at a relevant shot smooths each stratum with
//!   `(rel + 0.00001) / (sampled + 0.00003)`; AP is scaled by `num_rel / 1000` when the
//!   inferred number of relevant shots exceeds 1000.
//!
//! Where the script would silently misread a malformed file (it splits the whole file on
//! white space), this module stops with an error naming the file and line instead: a line
//! with the wrong number of columns, a non-integer relevance or rank, a non-numeric or NaN
//! score, or a non-numeric run topic. A run sharing no topic with the qrels is an error (the
//! script dies dividing by zero).

use crate::avs::{AvsError, ScoreFile, TrecOptions};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Result lists are cut after this many shots (`$maxResultSize`).
pub const MAX_RESULT_SIZE: usize = 1000;

/// The precision cut-offs the script reports (it lists 1000 twice: 10, 100, 1000,
/// maxResultSize).
pub const CUTOFFS: [usize; 3] = [10, 100, 1000];

/// The recall levels of the interpolated precision (`iprec@rec`), as the script's literals.
const RECALL_LEVELS: [f64; 11] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// Problems reading qrels or runs, or evaluating them.
#[derive(Debug, thiserror::Error)]
pub enum InfApError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line has the wrong number of white-space separated columns.
    #[error("{file} line {line}: expected {expected} columns ({layout}), got {got}")]
    Columns {
        /// The file (or a name for in-memory text).
        file: String,
        /// 1-based line number.
        line: usize,
        /// Columns expected.
        expected: usize,
        /// Column layout expected.
        layout: &'static str,
        /// Columns found.
        got: usize,
    },
    /// A column that must be a number is not one.
    #[error("{file} line {line}: {column} '{value}' is not {expected}")]
    Number {
        /// The file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// Column name.
        column: &'static str,
        /// The text found.
        value: String,
        /// What was expected ("an integer", "a number").
        expected: &'static str,
    },
    /// The run's format could not be recognised.
    #[error(
        "{file} line {line}: cannot tell the run format from {got} columns \
         (a trec run has 6, an id.sent.score.txt file 1 + 2 per shot)"
    )]
    UnknownFormat {
        /// The file.
        file: String,
        /// 1-based line number of the first non-empty line.
        line: usize,
        /// Columns found there.
        got: usize,
    },
    /// The run has no line at all.
    #[error("{0}: the run is empty")]
    EmptyRun(String),
    /// No topic of the run is in the qrels, so there is nothing to average.
    #[error(
        "no topic of the run ({run_topics}) is in the qrels ({qrels_topics}); \
         check the topic numbers (TRECVID runs prefix them with 1)"
    )]
    NoCommonTopic {
        /// Some run topics.
        run_topics: String,
        /// Some qrels topics.
        qrels_topics: String,
    },
    /// Converting an id.sent.score.txt run failed.
    #[error(transparent)]
    ScoreFile(#[from] AvsError),
}

/// One stratum's judgement counts (`docs_per_category`, `sampled_docs`, `sampled_rel`).
#[derive(Debug, Clone, Default)]
struct Stratum {
    docs: u64,
    sampled: u64,
    sampled_rel: u64,
    /// Sampled relevant shots per relevance grade (keyed by the grade's decimal string).
    per_grade: BTreeMap<String, (i64, u64)>,
}

impl Stratum {
    /// `sampled_rel * docs / sampled_docs`, or `None` when no shot of the stratum is judged.
    fn inferred_relevant(&self) -> Option<f64> {
        (self.sampled != 0)
            .then(|| self.sampled_rel as f64 * self.docs as f64 / self.sampled as f64)
    }
}

/// One topic's judgements, strata in string order (the script's `sort keys`).
#[derive(Debug, Clone, Default)]
struct TopicQrels {
    /// Shot id -> (stratum index, relevance); the last line for a shot wins.
    judged: HashMap<String, (usize, i64)>,
    strata: Vec<Stratum>,
    /// Inferred number of relevant shots (`num_rels`).
    num_rel: f64,
    /// The estimated ideal DCG (`optimal_dcg`).
    optimal_dcg: f64,
}

/// TRECVID ground truth: per topic, the pooled shots with stratum and relevance.
#[derive(Debug, Clone, Default)]
pub struct Qrels {
    /// Topics in string order.
    topics: BTreeMap<String, TopicQrels>,
}

/// Lines of one topic before the strata are indexed.
#[derive(Default)]
struct TopicBuilder {
    judged: HashMap<String, (String, i64)>,
    strata: BTreeMap<String, Stratum>,
}

impl Qrels {
    /// Reads a qrels file (`TOPIC 0 SHOT STRATUM REL` per line).
    pub fn read(path: &Path) -> Result<Self, InfApError> {
        Self::parse(&read_text(path)?, &path.display().to_string())
    }

    /// Parses qrels text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self, InfApError> {
        let mut builders: BTreeMap<String, TopicBuilder> = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.is_empty() {
                continue;
            }
            let [topic, _, shot, stratum, rel] = cols[..] else {
                return Err(InfApError::Columns {
                    file: source.to_string(),
                    line: index + 1,
                    expected: 5,
                    layout: "TOPIC 0 SHOT STRATUM REL",
                    got: cols.len(),
                });
            };
            let rel = parse_int(rel, source, index + 1, "relevance")?;
            let builder = builders.entry(topic.to_string()).or_default();
            builder
                .judged
                .insert(shot.to_string(), (stratum.to_string(), rel));
            let counts = builder.strata.entry(stratum.to_string()).or_default();
            counts.docs += 1;
            if rel >= 0 {
                counts.sampled += 1;
            }
            if rel > 0 {
                counts.sampled_rel += 1;
                counts
                    .per_grade
                    .entry(rel.to_string())
                    .or_insert((rel, 0))
                    .1 += 1;
            }
        }
        let topics = builders
            .into_iter()
            .map(|(topic, b)| (topic, b.finish()))
            .collect();
        Ok(Self { topics })
    }

    /// Whether the qrels judge topic `topic` (as numbered in the file).
    pub fn has_topic(&self, topic: &str) -> bool {
        self.topics.contains_key(topic)
    }

    /// Number of topics.
    pub fn len(&self) -> usize {
        self.topics.len()
    }

    /// Whether there is no topic.
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// The inferred number of relevant shots of a topic (the script's `inum_rel`).
    pub fn inferred_relevant(&self, topic: &str) -> Option<f64> {
        self.topics.get(topic).map(|t| t.num_rel)
    }
}

impl TopicBuilder {
    fn finish(self) -> TopicQrels {
        let index: HashMap<&String, usize> = self
            .strata
            .keys()
            .enumerate()
            .map(|(i, k)| (k, i))
            .collect();
        let judged = self
            .judged
            .iter()
            .map(|(shot, (stratum, rel))| (shot.clone(), (index[stratum], *rel)))
            .collect();
        let strata: Vec<Stratum> = self.strata.into_values().collect();
        let num_rel = total(strata.iter().filter_map(Stratum::inferred_relevant));
        let optimal_dcg = optimal_dcg(&strata);
        TopicQrels {
            judged,
            strata,
            num_rel,
            optimal_dcg,
        }
    }
}

/// The script's ideal DCG: inferred relevant counts per grade, best grade (in reverse string
/// order) first, discount 1/log2(r + 1), at most [`MAX_RESULT_SIZE`] ranks per grade loop.
fn optimal_dcg(strata: &[Stratum]) -> f64 {
    let mut per_grade: BTreeMap<&str, (i64, f64)> = BTreeMap::new();
    for s in strata {
        for (key, &(grade, count)) in &s.per_grade {
            let entry = per_grade.entry(key).or_insert((grade, 0.0));
            entry.1 += count as f64 * s.docs as f64 / s.sampled as f64;
        }
    }
    let mut dcg = 0.0;
    let mut start = 0.0f64;
    for &(grade, count) in per_grade.values().rev() {
        let mut r = start + 1.0;
        while r <= start + count {
            dcg += grade as f64 / ((r + 1.0).ln() / 2f64.ln());
            if r >= MAX_RESULT_SIZE as f64 {
                break;
            }
            r += 1.0;
        }
        start += count;
    }
    dcg
}

/// A run: per topic, each shot's (last) score and the number of lines.
#[derive(Debug, Clone, Default)]
pub struct Run {
    topics: HashMap<String, RunTopic>,
}

#[derive(Debug, Clone, Default)]
struct RunTopic {
    numeric: f64,
    scores: HashMap<String, f64>,
    lines: usize,
}

/// The formats a run file can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RunFormat {
    /// `TOPIC Q0 SHOT RANK SCORE TAG` lines.
    Trec,
    /// `TNUM shot score shot score ...` lines (id.sent.score.txt), converted as the
    /// original's txt2xml.py + trec_eval.py would.
    ScoreFile,
}

impl Run {
    /// Reads a run in trec format or as an id.sent.score.txt (detected from the first
    /// non-empty line's column count); a score file is converted with `trec` (top-k, topic
    /// prefix, scores 9999 - rank) as the original chain does.
    pub fn read_any(path: &Path, trec: &TrecOptions) -> Result<(Self, RunFormat), InfApError> {
        let text = read_text(path)?;
        let source = path.display().to_string();
        match detect_format(&text, &source)? {
            RunFormat::Trec => Ok((Self::parse_trec(&text, &source)?, RunFormat::Trec)),
            RunFormat::ScoreFile => {
                let scores = ScoreFile::parse(&text, &source)?;
                let converted = scores.to_trec(trec);
                Ok((Self::parse_trec(&converted, &source)?, RunFormat::ScoreFile))
            }
        }
    }

    /// Parses trec-format run text; `source` names it in errors.
    pub fn parse_trec(text: &str, source: &str) -> Result<Self, InfApError> {
        let mut topics: HashMap<String, RunTopic> = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.is_empty() {
                continue;
            }
            let line_no = index + 1;
            let [topic, _, shot, rank, score, _] = cols[..] else {
                return Err(InfApError::Columns {
                    file: source.to_string(),
                    line: line_no,
                    expected: 6,
                    layout: "TOPIC Q0 SHOT RANK SCORE TAG",
                    got: cols.len(),
                });
            };
            parse_int(rank, source, line_no, "rank")?;
            let score = parse_number(score, source, line_no, "score")?;
            let numeric = parse_number(topic, source, line_no, "topic")?;
            let entry = topics.entry(topic.to_string()).or_insert_with(|| RunTopic {
                numeric,
                ..RunTopic::default()
            });
            entry.scores.insert(shot.to_string(), score);
            entry.lines += 1;
        }
        if topics.is_empty() {
            return Err(InfApError::EmptyRun(source.to_string()));
        }
        Ok(Self { topics })
    }

    /// Topics in the script's processing order (numeric, then by string).
    fn ordered_topics(&self) -> Vec<(&String, &RunTopic)> {
        let mut topics: Vec<_> = self.topics.iter().collect();
        topics.sort_by(|a, b| {
            a.1.numeric
                .partial_cmp(&b.1.numeric)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.0.cmp(b.0))
        });
        topics
    }
}

/// Trec (6 columns) or score file (an odd number of at least 3 columns), from the first
/// non-empty line.
pub fn detect_format(text: &str, source: &str) -> Result<RunFormat, InfApError> {
    let (index, cols) = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i, l.split_whitespace().count()))
        .find(|&(_, n)| n > 0)
        .ok_or_else(|| InfApError::EmptyRun(source.to_string()))?;
    match cols {
        6 => Ok(RunFormat::Trec),
        n if n >= 3 && n % 2 == 1 => Ok(RunFormat::ScoreFile),
        got => Err(InfApError::UnknownFormat {
            file: source.to_string(),
            line: index + 1,
            got,
        }),
    }
}

/// The measures of one topic, as the script prints them with `-q`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicResult {
    /// The topic as written in the run.
    pub topic: String,
    /// Inferred average precision.
    #[serde(rename = "infAP")]
    pub inf_ap: f64,
    /// Inferred NDCG.
    #[serde(rename = "infNDCG")]
    pub inf_ndcg: f64,
    /// Inferred precision at 10.
    #[serde(rename = "iP10")]
    pub ip10: f64,
    /// Inferred precision at 100.
    #[serde(rename = "iP100")]
    pub ip100: f64,
    /// Inferred precision at 1000.
    #[serde(rename = "iP1000")]
    pub ip1000: f64,
    /// Estimated number of relevant shots retrieved (in the first 1000).
    pub inum_rel_ret: f64,
    /// Inferred number of relevant shots.
    pub inum_rel: f64,
    /// Number of run lines for the topic.
    pub num_ret: usize,
}

/// The measures over all evaluated topics (the script's `all` lines).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AllResult {
    /// Mean inferred AP over the evaluated topics.
    #[serde(rename = "infAP")]
    pub inf_ap: f64,
    /// Mean inferred NDCG.
    #[serde(rename = "infNDCG")]
    pub inf_ndcg: f64,
    /// Mean interpolated precision at recall 0.0, 0.1, ..., 1.0.
    #[serde(rename = "iprec@rec")]
    pub iprec_at_recall: [f64; 11],
    /// Mean inferred precision at 10.
    #[serde(rename = "iP10")]
    pub ip10: f64,
    /// Mean inferred precision at 100.
    #[serde(rename = "iP100")]
    pub ip100: f64,
    /// Mean inferred precision at 1000.
    #[serde(rename = "iP1000")]
    pub ip1000: f64,
    /// Sum of the evaluated topics' `inum_rel_ret`.
    pub inum_rel_ret: f64,
    /// Sum of `inum_rel` over ALL qrels topics (evaluated or not), as the script sums it.
    pub inum_rel: f64,
    /// Shots used over the evaluated topics (at most 1000 per topic, duplicates once).
    pub num_ret: usize,
}

/// Everything `sample_eval.pl -q` prints, plus the run topics it skipped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InfApReport {
    /// Evaluated topics in processing (numeric) order.
    pub per_topic: Vec<TopicResult>,
    /// Means and sums over the evaluated topics.
    pub all: AllResult,
    /// Run topics without qrels (skipped, as the script does).
    pub skipped_topics: Vec<String>,
}

/// What one topic leaves for the interpolated-precision pass.
struct TopicTrace {
    /// Estimated relevant shots at each rank 1..=n.
    rel_at_rank: Vec<f64>,
    num_rel: f64,
}

/// Evaluates `run` against `qrels` exactly as `sample_eval.pl` does.
pub fn evaluate(qrels: &Qrels, run: &Run) -> Result<InfApReport, InfApError> {
    let mut per_topic = Vec::new();
    let mut traces: BTreeMap<&str, TopicTrace> = BTreeMap::new();
    let mut skipped_topics = Vec::new();
    let mut num_ret_all = 0usize;
    for (topic, ranked) in run.ordered_topics() {
        let Some(judged) = qrels.topics.get(topic) else {
            skipped_topics.push(topic.clone());
            continue;
        };
        let (result, trace, used) = evaluate_topic(topic, judged, ranked);
        num_ret_all += used;
        per_topic.push(result);
        traces.insert(topic, trace);
    }
    if per_topic.is_empty() {
        return Err(no_common_topic(qrels, run));
    }
    let n = per_topic.len() as f64;
    let mean_of = |f: fn(&TopicResult) -> f64| total(per_topic.iter().map(f)) / n;
    let mut iprec = interpolated_precision(traces.values());
    iprec.iter_mut().for_each(|p| *p /= n);
    let all = AllResult {
        inf_ap: mean_of(|t| t.inf_ap),
        inf_ndcg: mean_of(|t| t.inf_ndcg),
        iprec_at_recall: iprec,
        ip10: mean_of(|t| t.ip10),
        ip100: mean_of(|t| t.ip100),
        ip1000: mean_of(|t| t.ip1000),
        inum_rel_ret: total(per_topic.iter().map(|t| t.inum_rel_ret)),
        inum_rel: total(qrels.topics.values().map(|t| t.num_rel)),
        num_ret: num_ret_all,
    };
    Ok(InfApReport {
        per_topic,
        all,
        skipped_topics,
    })
}

fn no_common_topic(qrels: &Qrels, run: &Run) -> InfApError {
    let sample = |it: &mut dyn Iterator<Item = &String>| {
        let names: Vec<&str> = it.take(5).map(String::as_str).collect();
        names.join(", ")
    };
    InfApError::NoCommonTopic {
        run_topics: sample(&mut run.ordered_topics().into_iter().map(|(t, _)| t)),
        qrels_topics: sample(&mut qrels.topics.keys()),
    }
}

/// Per-stratum running counts while walking down a ranked list.
struct Walk<'a> {
    strata: &'a [Stratum],
    sap: Vec<f64>,
    gain: Vec<f64>,
    sampled: Vec<u64>,
    relevant: Vec<u64>,
    docs: Vec<u64>,
    depth: u64,
}

impl<'a> Walk<'a> {
    fn new(strata: &'a [Stratum]) -> Self {
        let n = strata.len();
        Self {
            strata,
            sap: vec![0.0; n],
            gain: vec![0.0; n],
            sampled: vec![0; n],
            relevant: vec![0; n],
            docs: vec![0; n],
            depth: 0,
        }
    }

    /// Handles the shot at 1-based `rank` with its judgement, if pooled.
    fn step(&mut self, rank: f64, judgement: Option<(usize, i64)>) {
        let Some((s, rel)) = judgement else {
            return;
        };
        if rel > 0 {
            let mut prec_above = 0.0;
            if self.depth != 0 {
                for c in 0..self.strata.len() {
                    let prob = self.docs[c] as f64 / self.depth as f64;
                    if prob != 0.0 {
                        prec_above += prob * (self.relevant[c] as f64 + 0.00001)
                            / (self.sampled[c] as f64 + 0.00003);
                    }
                }
            }
            let prec = 1.0 / rank + (self.depth as f64 / rank) * prec_above;
            self.sap[s] += prec;
            self.relevant[s] += 1;
            self.gain[s] += rel as f64 / ((rank + 1.0).ln() / 2f64.ln());
        }
        self.depth += 1;
        self.docs[s] += 1;
        if rel >= 0 {
            self.sampled[s] += 1;
        }
    }

    /// Estimated relevant shots among those seen so far.
    fn relevant_so_far(&self) -> f64 {
        total((0..self.strata.len()).map(|c| {
            self.docs[c] as f64 * (self.relevant[c] as f64 + 0.00001)
                / (self.sampled[c] as f64 + 0.00003)
        }))
    }

    /// Inferred AP once the list is walked.
    fn average_precision(&self, num_rel: f64) -> f64 {
        let mut ap = 0.0;
        for (c, s) in self.strata.iter().enumerate() {
            let Some(estimate) = s.inferred_relevant() else {
                continue;
            };
            if num_rel != 0.0 {
                let prob = estimate / num_rel;
                let ap_c = if s.sampled_rel != 0 {
                    self.sap[c] / s.sampled_rel as f64
                } else {
                    0.0
                };
                ap += prob * ap_c;
            }
        }
        if num_rel > MAX_RESULT_SIZE as f64 {
            ap = ap * num_rel / MAX_RESULT_SIZE as f64;
        }
        ap
    }

    /// Inferred NDCG once the list is walked.
    fn ndcg(&self, optimal: f64) -> f64 {
        let mut dcg = 0.0;
        if self.depth != 0 {
            for c in 0..self.strata.len() {
                let prob = self.docs[c] as f64 / self.depth as f64;
                if self.sampled[c] != 0 {
                    dcg += prob * self.gain[c] / self.sampled[c] as f64;
                }
            }
        }
        if optimal != 0.0 {
            self.depth as f64 * dcg / optimal
        } else {
            0.0
        }
    }
}

/// One topic: its measures, its trace for the interpolated precision, and the shots used.
fn evaluate_topic(
    topic: &str,
    judged: &TopicQrels,
    ranked: &RunTopic,
) -> (TopicResult, TopicTrace, usize) {
    let mut shots: Vec<(&String, f64)> = ranked.scores.iter().map(|(s, &v)| (s, v)).collect();
    shots.sort_by(|a, b| {
        b.1.partial_cmp(&a.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| b.0.cmp(a.0))
    });
    shots.truncate(MAX_RESULT_SIZE);
    let mut walk = Walk::new(&judged.strata);
    let mut rel_at_rank = Vec::with_capacity(shots.len());
    for (k, (shot, _)) in shots.iter().enumerate() {
        walk.step(k as f64 + 1.0, judged.judged.get(*shot).copied());
        rel_at_rank.push(walk.relevant_so_far());
    }
    let rel_ret = rel_at_rank.last().copied().unwrap_or(0.0);
    let precision =
        |cutoff: usize| rel_at_rank.get(cutoff - 1).copied().unwrap_or(rel_ret) / cutoff as f64;
    let result = TopicResult {
        topic: topic.to_string(),
        inf_ap: walk.average_precision(judged.num_rel),
        inf_ndcg: walk.ndcg(judged.optimal_dcg),
        ip10: precision(CUTOFFS[0]),
        ip100: precision(CUTOFFS[1]),
        ip1000: precision(CUTOFFS[2]),
        inum_rel_ret: rel_ret,
        inum_rel: judged.num_rel,
        num_ret: ranked.lines,
    };
    let used = shots.len();
    let trace = TopicTrace {
        rel_at_rank,
        num_rel: judged.num_rel,
    };
    (result, trace, used)
}

/// Sums over topics (string order) of the interpolated precision at the 11 recall levels,
/// walking each list from the bottom as the script does.
fn interpolated_precision<'a>(traces: impl Iterator<Item = &'a TopicTrace>) -> [f64; 11] {
    let mut sums = [0.0f64; 11];
    for trace in traces {
        let cutoffs = RECALL_LEVELS.map(|level| level * trace.num_rel);
        let rel_ret = trace.rel_at_rank.last().copied().unwrap_or(0.0);
        let mut current = cutoffs.len();
        while current > 0 && cutoffs[current - 1] > rel_ret {
            current -= 1;
        }
        let mut int_prec = 0.0f64;
        for (k, &rel) in trace.rel_at_rank.iter().enumerate().rev() {
            let prec = rel / (k as f64 + 1.0);
            if int_prec < prec {
                int_prec = prec;
            }
            if current > 0 && cutoffs[current - 1] > rel {
                sums[current - 1] += int_prec;
                current -= 1;
            }
        }
        while current > 0 {
            sums[current - 1] += int_prec;
            current -= 1;
        }
    }
    sums
}

impl InfApReport {
    /// The report exactly as `sample_eval.pl` prints it (`-q`: with per-topic lines).
    pub fn to_sample_eval_text(&self, per_topic: bool) -> String {
        let mut out = String::new();
        if per_topic {
            for t in &self.per_topic {
                push_topic(&mut out, t);
            }
        }
        let a = &self.all;
        out += &format!("infAP\t\tall\t\t{:6.4}\n", a.inf_ap);
        out += &format!("infNDCG\t\tall\t\t{:6.4}\n", a.inf_ndcg);
        for (i, p) in a.iprec_at_recall.iter().enumerate() {
            out += &format!("iprec@rec{:4.2}\tall\t\t{:6.4}\n", i as f64 / 10.0, p);
        }
        for (cutoff, p) in precision_lines(a.ip10, a.ip100, a.ip1000) {
            out += &format!("iP{cutoff}\t\tall\t\t{p:6.4}\n");
        }
        out += &format!("inum_rel_ret\tall\t{:14.4}\n", a.inum_rel_ret);
        out += &format!("inum_rel\tall\t{:14.4}\n", a.inum_rel);
        out += &format!("num_ret\t\tall\t{:9}\n", a.num_ret);
        out
    }
}

/// The four precision lines the script prints (1000 twice).
fn precision_lines(p10: f64, p100: f64, p1000: f64) -> [(usize, f64); 4] {
    [
        (10, p10),
        (100, p100),
        (1000, p1000),
        (MAX_RESULT_SIZE, p1000),
    ]
}

fn push_topic(out: &mut String, t: &TopicResult) {
    let topic = &t.topic;
    *out += &format!("infAP\t\t{topic}\t\t{:6.4}\n", t.inf_ap);
    *out += &format!("infNDCG\t\t{topic}\t\t{:6.4}\n", t.inf_ndcg);
    for (cutoff, p) in precision_lines(t.ip10, t.ip100, t.ip1000) {
        *out += &format!("iP{cutoff}\t\t{topic}\t\t{p:6.4}\n");
    }
    *out += &format!("inum_rel_ret\t{topic}\t{:14.4}\n", t.inum_rel_ret);
    *out += &format!("inum_rel\t{topic}\t{:14.4}\n", t.inum_rel);
    *out += &format!("num_ret\t\t{topic}\t{:9}\n", t.num_ret);
}

/// Left-to-right sum from +0.0, as the script's `+=` on an undefined value (Rust's float
/// `sum` starts from -0.0, which would print as `-0.0000` for an empty sum).
fn total(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, |acc, x| acc + x)
}

fn read_text(path: &Path) -> Result<String, InfApError> {
    let bytes =
        dualenc_data::untrusted::read_regular_file(path).map_err(|source| InfApError::Io {
            path: path.display().to_string(),
            source,
        })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn parse_int(
    value: &str,
    file: &str,
    line: usize,
    column: &'static str,
) -> Result<i64, InfApError> {
    value.parse::<i64>().map_err(|_| InfApError::Number {
        file: file.to_string(),
        line,
        column,
        value: value.to_string(),
        expected: "an integer",
    })
}

fn parse_number(
    value: &str,
    file: &str,
    line: usize,
    column: &'static str,
) -> Result<f64, InfApError> {
    value
        .parse::<f64>()
        .ok()
        .filter(|v| !v.is_nan())
        .ok_or_else(|| InfApError::Number {
            file: file.to_string(),
            line,
            column,
            value: value.to_string(),
            expected: "a number",
        })
}
