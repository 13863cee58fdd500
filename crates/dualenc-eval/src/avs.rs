//! The TRECVID Ad-hoc Video Search (AVS) chain of the original: the ranking file
//! `id.sent.score.txt`, the TRECVID XML run (`tv-avs-eval/txt2xml.py`) and the trec run
//! format (`tv-avs-eval/trec_eval.py`).
//!
//! - Score file: one line per topic, `TNUM shot score shot score ...`, every shot of the
//!   collection sorted by score descending ([`TopicScores::ranked`]: ties keep the order of
//!   the shot list, NaN scores last). Scores are written in Rust's shortest round-trip form.
//! - XML: `SCOREFILE.xml` (the original appends `.xml`), the top `topk` (1000) shots of every
//!   topic, with the run attributes `trType`, `class`, `pid`, `priority`, `desc` and each
//!   topic's `elapsedTime` (Python `%g`). As the original: the number of lines must equal the
//!   number of topics of `ROOT/COLLECTION/TextData/EDITION.avs.txt`, every shot of the top
//!   `topk` must be in `ROOT/COLLECTION/VideoSets/COLLECTION.txt`, each score must be below
//!   the previous one + 1e-8, and the DOCTYPE names the tv2018 DTD whatever the edition (the
//!   edition only selects the topic file). Stricter than the original: each topic must be a
//!   topic of the edition and appear once, and attribute values are XML-escaped.
//! - Trec: `{prefix}TNUM 0 SHOT RANK SCORE TAG` for the top `topk`, score `9999 - (RANK - 1)`,
//!   prefix `1` and tag `RUCMM` as `trec_eval.py` writes them (TRECVID qrels number topic
//!   501 as 1501).

use dualenc_data::atomic::write_bytes_atomic;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The DOCTYPE line the original writes (tv2018 DTD for every edition).
pub const XML_HEAD: &str = "<!DOCTYPE videoAdhocSearchResults SYSTEM \
    \"https://www-nlpir.nist.gov/projects/tv2018/dtds/videoAdhocSearchResults.dtd\">";

/// Problems with score files, collection lists or the conversions.
#[derive(Debug, thiserror::Error)]
pub enum AvsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A score-file line ends with a shot that has no score.
    #[error("{file} line {line}: topic {topic}: shot '{shot}' has no score (expected TNUM shot score shot score ...)")]
    MissingScore {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// The line's topic.
        topic: String,
        /// The last shot id.
        shot: String,
    },
    /// A score is not a number.
    #[error("{file} line {line}: topic {topic}: score '{value}' of shot '{shot}' is not a number")]
    Score {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// The line's topic.
        topic: String,
        /// The shot.
        shot: String,
        /// The text found.
        value: String,
    },
    /// Shot ids and scores of different lengths were given.
    #[error("topic {topic}: {shots} shot ids but {scores} scores")]
    Lengths {
        /// The topic.
        topic: String,
        /// Number of shot ids.
        shots: usize,
        /// Number of scores.
        scores: usize,
    },
    /// The score file does not hold one line per topic of the edition.
    #[error("{file} has {got} topics but {topics_file} lists {expected}")]
    TopicCount {
        /// The score file.
        file: String,
        /// Topics in the score file.
        got: usize,
        /// The topic file.
        topics_file: String,
        /// Topics in the topic file.
        expected: usize,
    },
    /// A topic of the score file is not in the edition's topic file.
    #[error("topic {topic} is not in {topics_file}")]
    UnknownTopic {
        /// The topic.
        topic: String,
        /// The topic file.
        topics_file: String,
    },
    /// A topic appears on two lines.
    #[error("topic {0} appears twice in the score file")]
    DuplicateTopic(String),
    /// A topic ranks fewer shots than the XML needs.
    #[error("topic {topic} ranks {got} shots, the XML run needs at least {needed}")]
    TooFewShots {
        /// The topic.
        topic: String,
        /// Shots ranked.
        got: usize,
        /// topk.
        needed: usize,
    },
    /// A shot is not in the collection's shot list.
    #[error("topic {topic}: invalid shot id '{shot}' (not in {shots_file})")]
    UnknownShot {
        /// The topic.
        topic: String,
        /// The shot.
        shot: String,
        /// The shot list.
        shots_file: String,
    },
    /// Scores are not sorted descending.
    #[error("topic {topic}: shots have not been sorted: rank {rank} ({shot}) scores {score} after {previous}")]
    Unsorted {
        /// The topic.
        topic: String,
        /// 1-based rank.
        rank: usize,
        /// The shot.
        shot: String,
        /// Its score.
        score: f64,
        /// The score before it.
        previous: f64,
    },
}

/// One topic's ranking: shots with scores, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicScores {
    /// The topic number as written (e.g. `501`).
    pub topic: String,
    /// (shot id, score), best first.
    pub shots: Vec<(String, f64)>,
}

impl TopicScores {
    /// Ranks `shot_ids` by `scores` descending; ties keep the input order, NaN goes last.
    pub fn ranked<S: AsRef<str>>(
        topic: &str,
        shot_ids: &[S],
        scores: &[f64],
    ) -> Result<Self, AvsError> {
        if shot_ids.len() != scores.len() {
            return Err(AvsError::Lengths {
                topic: topic.to_string(),
                shots: shot_ids.len(),
                scores: scores.len(),
            });
        }
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| descending_nan_last(scores[a], scores[b]));
        Ok(Self {
            topic: topic.to_string(),
            shots: order
                .into_iter()
                .map(|i| (shot_ids[i].as_ref().to_string(), scores[i]))
                .collect(),
        })
    }
}

fn descending_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (false, false) => b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal),
        (x, y) => x.cmp(&y),
    }
}

/// An `id.sent.score.txt` file: one ranking per topic, in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScoreFile {
    /// Topics in file order.
    pub topics: Vec<TopicScores>,
}

/// Options of the trec conversion (`trec_eval.py`'s constants by default).
#[derive(Debug, Clone, PartialEq)]
pub struct TrecOptions {
    /// Shots kept per topic (the XML's top 1000).
    pub topk: usize,
    /// Prepended to each topic number (`1`: TRECVID qrels call topic 501 "1501").
    pub topic_prefix: String,
    /// The run tag (last column).
    pub tag: String,
}

impl Default for TrecOptions {
    fn default() -> Self {
        Self {
            topk: 1000,
            topic_prefix: "1".to_string(),
            tag: "RUCMM".to_string(),
        }
    }
}

/// The XML run attributes (`txt2xml.py`'s defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct XmlOptions {
    /// Training type (`D`: any other training data).
    pub trtype: String,
    /// Processing class (`F`: fully automatic).
    pub pclass: String,
    /// Short participant id.
    pub pid: String,
    /// Run priority.
    pub priority: i64,
    /// Run description.
    pub desc: String,
    /// Elapsed seconds per topic.
    pub etime: f64,
    /// Shots per topic in the run.
    pub topk: usize,
}

impl Default for XmlOptions {
    fn default() -> Self {
        Self {
            trtype: "D".to_string(),
            pclass: "F".to_string(),
            pid: "RUCMM".to_string(),
            priority: 1,
            desc: "place holder".to_string(),
            etime: 25.0,
            topk: 1000,
        }
    }
}

/// What the XML is checked against: the edition's topics and the collection's shots.
#[derive(Debug, Clone)]
pub struct Collection {
    /// Topic numbers of the edition, in file order.
    pub topics: Vec<String>,
    /// Where the topics came from (for messages).
    pub topics_file: String,
    /// Every shot id of the collection.
    pub shots: HashSet<String>,
    /// Where the shots came from (for messages).
    pub shots_file: String,
}

impl Collection {
    /// Reads `ROOT/COLLECTION/TextData/EDITION.avs.txt` and
    /// `ROOT/COLLECTION/VideoSets/COLLECTION.txt`.
    pub fn read(rootpath: &Path, collection: &str, edition: &str) -> Result<Self, AvsError> {
        let base = rootpath.join(collection);
        let topics_path = base.join("TextData").join(format!("{edition}.avs.txt"));
        let shots_path = base.join("VideoSets").join(format!("{collection}.txt"));
        let topics = read_text(&topics_path)?
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect();
        let shots = read_text(&shots_path)?
            .lines()
            .map(|l| l.trim().to_string())
            .collect();
        Ok(Self {
            topics,
            topics_file: topics_path.display().to_string(),
            shots,
            shots_file: shots_path.display().to_string(),
        })
    }
}

impl ScoreFile {
    /// Reads an `id.sent.score.txt` file.
    pub fn read(path: &Path) -> Result<Self, AvsError> {
        Self::parse(&read_text(path)?, &path.display().to_string())
    }

    /// Parses score-file text (`TNUM shot score ...` per line, blank lines ignored); `source`
    /// names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self, AvsError> {
        let mut topics = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let mut tokens = line.split_whitespace();
            let Some(topic) = tokens.next() else {
                continue;
            };
            let rest: Vec<&str> = tokens.collect();
            let mut shots = Vec::with_capacity(rest.len() / 2);
            for pair in rest.chunks(2) {
                let [shot, value] = pair else {
                    return Err(AvsError::MissingScore {
                        file: source.to_string(),
                        line: index + 1,
                        topic: topic.to_string(),
                        shot: pair.first().map_or("", |s| s).to_string(),
                    });
                };
                let score = value.parse::<f64>().map_err(|_| AvsError::Score {
                    file: source.to_string(),
                    line: index + 1,
                    topic: topic.to_string(),
                    shot: shot.to_string(),
                    value: value.to_string(),
                })?;
                shots.push((shot.to_string(), score));
            }
            topics.push(TopicScores {
                topic: topic.to_string(),
                shots,
            });
        }
        Ok(Self { topics })
    }

    /// The file's text: `TNUM shot score shot score ...` lines, each ending with a newline.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for t in &self.topics {
            out += &t.topic;
            for (shot, score) in &t.shots {
                out += &format!(" {shot} {score}");
            }
            out.push('\n');
        }
        out
    }

    /// Writes the file atomically.
    pub fn write(&self, path: &Path) -> Result<(), AvsError> {
        write_file(path, self.to_text().as_bytes())
    }

    /// The trec run the original derives from the XML: top `topk` per topic,
    /// `{prefix}TNUM 0 SHOT RANK 9999-(RANK-1) TAG`.
    pub fn to_trec(&self, options: &TrecOptions) -> String {
        let mut out = String::new();
        for t in &self.topics {
            for (rank0, (shot, _)) in t.shots.iter().take(options.topk).enumerate() {
                let score = 9999 - rank0 as i64;
                out += &format!(
                    "{}{} 0 {} {} {} {}\n",
                    options.topic_prefix,
                    t.topic,
                    shot,
                    rank0 + 1,
                    score,
                    options.tag
                );
            }
        }
        out
    }

    /// The TRECVID XML run, after the original's checks (see the module documentation).
    pub fn to_xml(
        &self,
        source: &str,
        collection: &Collection,
        options: &XmlOptions,
    ) -> Result<String, AvsError> {
        self.check_topics(source, collection)?;
        let mut lines = vec![
            XML_HEAD.to_string(),
            String::new(),
            "<videoAdhocSearchResults>".to_string(),
            format!(
                "<videoAdhocSearchRunResult trType=\"{}\" class=\"{}\" pid=\"{}\" priority=\"{}\" desc=\"{}\">",
                escape(&options.trtype),
                escape(&options.pclass),
                escape(&options.pid),
                options.priority,
                escape(&options.desc)
            ),
        ];
        for t in &self.topics {
            let shots = checked_top(t, collection, options.topk)?;
            lines.push(format!(
                "<videoAdhocSearchTopicResult tNum=\"{}\" elapsedTime=\"{}\">",
                escape(&t.topic),
                format_g(options.etime)
            ));
            for (i, shot) in shots.iter().enumerate() {
                lines.push(format!(
                    "<item seqNum=\"{}\" shotId=\"{}\" />",
                    i + 1,
                    escape(shot)
                ));
            }
            lines.push("</videoAdhocSearchTopicResult>".to_string());
            lines.push(String::new());
        }
        lines.push(String::new());
        lines.push("</videoAdhocSearchRunResult>".to_string());
        lines.push("</videoAdhocSearchResults>".to_string());
        Ok(lines.join("\n"))
    }

    /// One line per topic of the edition, each a topic of the edition, none twice.
    fn check_topics(&self, source: &str, collection: &Collection) -> Result<(), AvsError> {
        if self.topics.len() != collection.topics.len() {
            return Err(AvsError::TopicCount {
                file: source.to_string(),
                got: self.topics.len(),
                topics_file: collection.topics_file.clone(),
                expected: collection.topics.len(),
            });
        }
        let known: HashSet<&str> = collection.topics.iter().map(String::as_str).collect();
        let mut seen = HashSet::new();
        for t in &self.topics {
            if !known.contains(t.topic.as_str()) {
                return Err(AvsError::UnknownTopic {
                    topic: t.topic.clone(),
                    topics_file: collection.topics_file.clone(),
                });
            }
            if !seen.insert(t.topic.as_str()) {
                return Err(AvsError::DuplicateTopic(t.topic.clone()));
            }
        }
        Ok(())
    }
}

/// The top `topk` shot ids of a topic, checked against the shot list and for sorted scores.
fn checked_top<'a>(
    t: &'a TopicScores,
    collection: &Collection,
    topk: usize,
) -> Result<Vec<&'a str>, AvsError> {
    if t.shots.len() < topk {
        return Err(AvsError::TooFewShots {
            topic: t.topic.clone(),
            got: t.shots.len(),
            needed: topk,
        });
    }
    let mut previous = 1e8;
    let mut ids = Vec::with_capacity(topk);
    for (i, (shot, score)) in t.shots.iter().take(topk).enumerate() {
        if !collection.shots.contains(shot) {
            return Err(AvsError::UnknownShot {
                topic: t.topic.clone(),
                shot: shot.clone(),
                shots_file: collection.shots_file.clone(),
            });
        }
        let sorted = score.partial_cmp(&(previous + 1e-8)) == Some(std::cmp::Ordering::Less);
        if !sorted {
            return Err(AvsError::Unsorted {
                topic: t.topic.clone(),
                rank: i + 1,
                shot: shot.clone(),
                score: *score,
                previous,
            });
        }
        previous = *score;
        ids.push(shot.as_str());
    }
    Ok(ids)
}

/// Where txt2xml writes: the score file's name with `.xml` appended.
pub fn xml_path(score_file: &Path) -> PathBuf {
    let mut name = score_file.as_os_str().to_owned();
    name.push(".xml");
    PathBuf::from(name)
}

/// Where trec_eval.py writes the trec run: the XML's name with `.xml` replaced by
/// `.treceval` (so `id.sent.score.txt.treceval`).
pub fn treceval_path(score_file: &Path) -> PathBuf {
    let mut name = score_file.as_os_str().to_owned();
    name.push(".treceval");
    PathBuf::from(name)
}

/// What [`txt2xml`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Txt2XmlOutcome {
    /// The XML was written to this path.
    Written(PathBuf),
    /// The XML already existed and `overwrite` was off (the original skips too).
    Exists(PathBuf),
}

/// `txt2xml.py`: reads the score file and the collection lists, writes `SCOREFILE.xml`
/// atomically (unless it exists and `overwrite` is off).
pub fn txt2xml(
    rootpath: &Path,
    collection: &str,
    score_file: &Path,
    edition: &str,
    options: &XmlOptions,
    overwrite: bool,
) -> Result<Txt2XmlOutcome, AvsError> {
    let out = xml_path(score_file);
    if out.exists() && !overwrite {
        return Ok(Txt2XmlOutcome::Exists(out));
    }
    let lists = Collection::read(rootpath, collection, edition)?;
    let scores = ScoreFile::read(score_file)?;
    let xml = scores.to_xml(&score_file.display().to_string(), &lists, options)?;
    write_file(&out, xml.as_bytes())?;
    Ok(Txt2XmlOutcome::Written(out))
}

/// Python's `%g`: 6 significant digits, trailing zeros removed, exponent form outside
/// 1e-4 <= |v| < 1e6.
pub fn format_g(value: f64) -> String {
    if !value.is_finite() {
        return if value.is_nan() {
            "nan".to_string()
        } else if value > 0.0 {
            "inf".to_string()
        } else {
            "-inf".to_string()
        };
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let sci = format!("{value:.5e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        let decimals = usize::try_from(5 - exponent).unwrap_or(0);
        strip_zeros(&format!("{value:.decimals$}")).to_string()
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", strip_zeros(mantissa), exponent.abs())
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Escapes the XML special characters of an attribute value.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn read_text(path: &Path) -> Result<String, AvsError> {
    let bytes =
        dualenc_data::untrusted::read_regular_file(path).map_err(|source| AvsError::Io {
            path: path.display().to_string(),
            source,
        })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Writes `bytes` to `path` atomically.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), AvsError> {
    write_bytes_atomic(path, bytes).map_err(|source| AvsError::Write {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_g_matches_python() {
        let cases = [
            (25.0, "25"),
            (1.0, "1"),
            (0.5, "0.5"),
            (1234567.0, "1.23457e+06"),
            (0.0001, "0.0001"),
            (0.00001234, "1.234e-05"),
            (999999.5, "1e+06"),
            (123.456789, "123.457"),
        ];
        for (v, want) in cases {
            assert_eq!(format_g(v), want, "{v}");
        }
    }

    #[test]
    fn ranked_sorts_descending_with_stable_ties_and_nan_last() {
        let t =
            TopicScores::ranked("1", &["a", "b", "c", "d"], &[0.5, f64::NAN, 0.9, 0.5]).unwrap();
        let ids: Vec<&str> = t.shots.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(ids, ["c", "a", "d", "b"]);
    }

    #[test]
    fn score_file_round_trips_and_converts_to_trec() {
        let file = ScoreFile::parse("501 s2 0.75 s1 0.25\n\n502 s1 1e-3 s2 -2\n", "x").unwrap();
        assert_eq!(ScoreFile::parse(&file.to_text(), "y").unwrap(), file);
        let trec = file.to_trec(&TrecOptions {
            topk: 1,
            ..TrecOptions::default()
        });
        assert_eq!(trec, "1501 0 s2 1 9999 RUCMM\n1502 0 s1 1 9999 RUCMM\n");
    }

    #[test]
    fn malformed_score_lines_name_the_line() {
        let err = ScoreFile::parse("501 s1 0.5 s2\n", "f.txt").unwrap_err();
        assert!(err.to_string().contains("f.txt line 1"), "{err}");
        let err = ScoreFile::parse("501 s1 0.5\n502 s1 high\n", "f.txt").unwrap_err();
        assert!(err.to_string().contains("line 2") && err.to_string().contains("'high'"));
    }
}
