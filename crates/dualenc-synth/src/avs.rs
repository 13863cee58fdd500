//! AVS topics and qrels for the test collection, derived from the video labels.
//!
//! Topics alternate between subject+action ("find shots of a child that opens a door") and
//! subject+scene ("find shots of a monkey in the snow"), preferring combinations that the
//! test collection shows most often. A shot is relevant when it shows both concepts.
//!
//! The qrels imitate a TRECVID pool: shots are ranked by a noisy "pooled system" score
//! (matching concepts plus noise); the top [`STRATUM1_FRACTION`] form stratum 1, fully
//! judged; the next [`STRATUM2_FRACTION`] form stratum 2, of which [`STRATUM2_JUDGED`] are
//! judged and the rest get relevance -1; the remaining shots are not in the pool. Every
//! relevant shot is pooled (moved into stratum 2 if its rank fell below the pool), and
//! every judged relevance equals the truth from the labels.

use crate::concepts::{article, VideoLabels, ACTIONS, SUBJECTS};
use crate::error::{Result, SynthError};
use crate::rng::SynthRng;
use serde::Serialize;
use std::collections::HashMap;

/// Share of the test shots in stratum 1 (fully judged).
pub const STRATUM1_FRACTION: f32 = 0.25;
/// Share of the test shots in stratum 2 (sampled).
pub const STRATUM2_FRACTION: f32 = 0.5;
/// Share of stratum 2 that is judged.
pub const STRATUM2_JUDGED: f32 = 0.5;
/// Spread of the pooled system's noise, in units of matching concepts.
const POOL_NOISE: f32 = 4.0;

/// What an AVS topic asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum TopicKind {
    /// Shots of this subject doing this action.
    SubjectAction {
        /// Index into [`SUBJECTS`].
        subject: usize,
        /// Index into [`ACTIONS`].
        action: usize,
    },
    /// Shots of this subject in this scene.
    SubjectScene {
        /// Index into [`SUBJECTS`].
        subject: usize,
        /// Index into [`crate::concepts::SCENES`].
        scene: usize,
    },
}

impl TopicKind {
    /// How many of the topic's two concepts a video shows (0, 1 or 2).
    pub fn matches(&self, labels: &VideoLabels) -> usize {
        let (subject, other) = match *self {
            TopicKind::SubjectAction { subject, action } => (subject, labels.action == action),
            TopicKind::SubjectScene { subject, scene } => (subject, labels.scene == scene),
        };
        usize::from(labels.subject == subject) + usize::from(other)
    }

    /// True when the video shows both concepts.
    pub fn is_relevant(&self, labels: &VideoLabels) -> bool {
        self.matches(labels) == 2
    }

    /// The query sentence, e.g. "find shots of a child that opens a door".
    pub fn query(&self) -> String {
        let name = |i: usize| SUBJECTS.get(i).map_or("?", |c| c.name());
        match *self {
            TopicKind::SubjectAction { subject, action } => {
                let s = name(subject);
                let verb = ACTIONS.get(action).map_or("?", |a| a.name());
                format!("find shots of {} {s} that {verb}", article(s))
            }
            TopicKind::SubjectScene { subject, scene } => {
                let s = name(subject);
                let place = crate::concepts::SCENES.get(scene).map_or("?", |c| c.name());
                format!("find shots of {} {s} in the {place}", article(s))
            }
        }
    }
}

/// One AVS topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SynthTopic {
    /// Topic number (1, 2, ...), as written in the topics and qrels files.
    pub number: usize,
    /// The concepts asked for.
    pub kind: TopicKind,
    /// The query sentence.
    pub query: String,
}

/// One qrels line: `TOPIC 0 SHOT STRATUM REL`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QrelEntry {
    /// Topic number.
    pub topic: usize,
    /// Shot (video) id.
    pub shot: String,
    /// 1 (fully judged) or 2 (sampled).
    pub stratum: u8,
    /// 1 relevant, 0 not relevant, -1 pooled but not judged.
    pub relevance: i8,
}

impl QrelEntry {
    /// The qrels line without newline.
    pub fn line(&self) -> String {
        format!(
            "{} 0 {} {} {}",
            self.topic, self.shot, self.stratum, self.relevance
        )
    }
}

/// Picks `n` distinct topics among the combinations the test videos show, alternating
/// subject+action and subject+scene, most frequent combinations first (ties in random order).
pub(crate) fn make_topics(
    test: &[VideoLabels],
    n: usize,
    rng: &mut SynthRng,
) -> Result<Vec<SynthTopic>> {
    let mut pools = [
        ranked_combinations(test, rng, |l| TopicKind::SubjectAction {
            subject: l.subject,
            action: l.action,
        }),
        ranked_combinations(test, rng, |l| TopicKind::SubjectScene {
            subject: l.subject,
            scene: l.scene,
        }),
    ];
    let available = pools[0].len() + pools[1].len();
    if n > available {
        return Err(SynthError::TooFewTopics {
            requested: n,
            available,
        });
    }
    let mut topics = Vec::with_capacity(n);
    let mut turn = 0;
    while topics.len() < n {
        // Alternate; when one kind runs out the other continues.
        let kind = pools[turn % 2]
            .pop()
            .or_else(|| pools[(turn + 1) % 2].pop());
        turn += 1;
        if let Some(kind) = kind {
            topics.push(SynthTopic {
                number: topics.len() + 1,
                kind,
                query: kind.query(),
            });
        }
    }
    Ok(topics)
}

/// Distinct combinations `key(labels)` of the test videos, ordered so that `pop()` yields
/// the most frequent first; equally frequent ones come in random order.
fn ranked_combinations(
    test: &[VideoLabels],
    rng: &mut SynthRng,
    key: impl Fn(&VideoLabels) -> TopicKind,
) -> Vec<TopicKind> {
    let mut counts: HashMap<TopicKind, usize> = HashMap::new();
    let mut order = Vec::new();
    for labels in test {
        let k = key(labels);
        let count = counts.entry(k).or_insert(0);
        if *count == 0 {
            order.push(k);
        }
        *count += 1;
    }
    rng.shuffle(&mut order);
    order.sort_by_key(|k| counts.get(k).copied().unwrap_or(0));
    order
}

/// The qrels of every topic over the test shots, topic by topic, shots in collection order.
pub(crate) fn make_qrels(
    topics: &[SynthTopic],
    shots: &[(String, VideoLabels)],
    rng: &mut SynthRng,
) -> Vec<QrelEntry> {
    topics
        .iter()
        .flat_map(|topic| {
            let strata = pool_strata(topic, shots, rng);
            shots
                .iter()
                .zip(strata)
                .filter_map(move |((shot, labels), judged)| {
                    let (stratum, is_judged) = judged?;
                    let relevance = match (is_judged, topic.kind.is_relevant(labels)) {
                        (false, _) => -1,
                        (true, true) => 1,
                        (true, false) => 0,
                    };
                    Some(QrelEntry {
                        topic: topic.number,
                        shot: shot.clone(),
                        stratum,
                        relevance,
                    })
                })
        })
        .collect()
}

/// Per shot: `None` when not pooled, else `(stratum, judged)`.
fn pool_strata(
    topic: &SynthTopic,
    shots: &[(String, VideoLabels)],
    rng: &mut SynthRng,
) -> Vec<Option<(u8, bool)>> {
    let n = shots.len();
    if n == 0 {
        return Vec::new();
    }
    let relevant: Vec<bool> = shots
        .iter()
        .map(|(_, l)| topic.kind.is_relevant(l))
        .collect();
    let ranked = pooled_ranking(topic, shots, rng);
    let n1 = ((n as f32 * STRATUM1_FRACTION).round() as usize).clamp(1, n);
    let n2 = ((n as f32 * STRATUM2_FRACTION).round() as usize).min(n - n1);
    let mut strata = vec![None; n];
    let mut stratum2 = Vec::new();
    for (rank, &shot) in ranked.iter().enumerate() {
        if rank < n1 {
            strata[shot] = Some((1, true));
        } else if rank < n1 + n2 || relevant[shot] {
            stratum2.push(shot);
        }
    }
    rng.shuffle(&mut stratum2);
    // A topic without any judged relevant shot could not be scored: judge one for sure.
    if !ranked[..n1].iter().any(|&shot| relevant[shot]) {
        if let Some(pos) = stratum2.iter().position(|&shot| relevant[shot]) {
            stratum2.swap(0, pos);
        }
    }
    let judged = ((stratum2.len() as f32 * STRATUM2_JUDGED).round() as usize).max(1);
    for (i, &shot) in stratum2.iter().enumerate() {
        strata[shot] = Some((2, i < judged));
    }
    strata
}

/// Shot indices ranked by a simulated pooled system: matching concepts plus uniform noise
/// of spread [`POOL_NOISE`], best first (ties by index).
fn pooled_ranking(
    topic: &SynthTopic,
    shots: &[(String, VideoLabels)],
    rng: &mut SynthRng,
) -> Vec<usize> {
    let scores: Vec<f32> = shots
        .iter()
        .map(|(_, l)| topic.kind.matches(l) as f32 + rng.uniform(0.0, POOL_NOISE))
        .collect();
    let mut ranked: Vec<usize> = (0..shots.len()).collect();
    ranked.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shots(n: usize, seed: u64) -> Vec<(String, VideoLabels)> {
        let mut rng = SynthRng::new(seed, 9);
        (0..n)
            .map(|i| {
                let labels = VideoLabels::from_array([
                    rng.index(4),
                    rng.index(8),
                    rng.index(ACTIONS.len()),
                    rng.index(3),
                ])
                .unwrap();
                (format!("video{i}"), labels)
            })
            .collect()
    }

    #[test]
    fn topics_alternate_kinds_and_are_shown_by_some_test_video() {
        let shots = shots(120, 1);
        let labels: Vec<_> = shots.iter().map(|s| s.1).collect();
        let topics = make_topics(&labels, 6, &mut SynthRng::new(1, 3)).unwrap();
        assert_eq!(
            topics.iter().map(|t| t.number).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 6]
        );
        for (i, t) in topics.iter().enumerate() {
            assert_eq!(
                matches!(t.kind, TopicKind::SubjectAction { .. }),
                i % 2 == 0
            );
            assert!(labels.iter().any(|l| t.kind.is_relevant(l)));
            assert!(t.query.starts_with("find shots of a"));
        }
        let distinct: std::collections::HashSet<_> = topics.iter().map(|t| t.kind).collect();
        assert_eq!(distinct.len(), 6);
    }

    #[test]
    fn too_many_topics_is_an_error() {
        let labels = [
            VideoLabels::from_array([0, 0, 0, 0]).unwrap(),
            VideoLabels::from_array([1, 0, 1, 1]).unwrap(),
        ];
        let err = make_topics(&labels, 5, &mut SynthRng::new(1, 3)).unwrap_err();
        assert!(matches!(
            err,
            SynthError::TooFewTopics {
                requested: 5,
                available: 4
            }
        ));
    }

    #[test]
    fn qrels_agree_with_labels_and_pool_every_relevant_shot() {
        let shots = shots(200, 2);
        let labels: Vec<_> = shots.iter().map(|s| s.1).collect();
        let mut rng = SynthRng::new(2, 3);
        let topics = make_topics(&labels, 6, &mut rng).unwrap();
        let qrels = make_qrels(&topics, &shots, &mut rng);
        let truth: HashMap<&str, &VideoLabels> =
            shots.iter().map(|(s, l)| (s.as_str(), l)).collect();
        for topic in &topics {
            let rows: Vec<_> = qrels.iter().filter(|q| q.topic == topic.number).collect();
            let s1 = rows.iter().filter(|q| q.stratum == 1).count();
            let s2 = rows.iter().filter(|q| q.stratum == 2).count();
            assert_eq!(s1, 50);
            assert!((100..=110).contains(&s2), "stratum 2 holds {s2}");
            assert!(rows.len() < 200, "some shots must stay out of the pool");
            assert!(rows
                .iter()
                .filter(|q| q.stratum == 1)
                .all(|q| q.relevance >= 0));
            assert!(rows.iter().any(|q| q.relevance == -1));
            for q in &rows {
                let relevant = topic.kind.is_relevant(truth[q.shot.as_str()]);
                if q.relevance >= 0 {
                    assert_eq!(q.relevance == 1, relevant, "{}", q.line());
                }
            }
            let pooled: std::collections::HashSet<_> =
                rows.iter().map(|q| q.shot.as_str()).collect();
            for (shot, l) in &shots {
                assert!(!topic.kind.is_relevant(l) || pooled.contains(shot.as_str()));
            }
        }
    }
}
