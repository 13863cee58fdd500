//! The latency of the query path, from query text to results (`bench-search`): each query
//! searched alone as `search` runs it, timed over several passes, with the share spent
//! encoding and searching, and the recall of an approximate engine against a full scan.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use dualenc_index::SearchMode;
use dualenc_model::ModelBackend;

use crate::engine::Engine;
use crate::error::{Context, Error, Result};

/// Latency figures of one measured quantity, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Percentiles {
    /// Median (nearest rank).
    pub p50: f64,
    /// 90th percentile (nearest rank).
    pub p90: f64,
    /// 99th percentile (nearest rank).
    pub p99: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Fastest.
    pub min: f64,
    /// Slowest.
    pub max: f64,
}

impl Percentiles {
    /// The figures of `samples` (milliseconds); `None` when there is none.
    pub fn of(samples: &[f64]) -> Option<Percentiles> {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let (&min, &max) = (sorted.first()?, sorted.last()?);
        let rank = |p: f64| {
            let n = sorted.len();
            let r = ((p * n as f64).ceil() as usize).clamp(1, n);
            sorted[r - 1]
        };
        Some(Percentiles {
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
            min,
            max,
        })
    }
}

/// What `bench-search` measured.
#[derive(Debug, serde::Serialize)]
pub struct LatencyReport {
    /// The index folder.
    pub index: String,
    /// Videos in the index.
    pub videos: usize,
    /// Embedding dimension.
    pub dim: usize,
    /// `exact` or `approx`.
    pub mode: &'static str,
    /// Results per search.
    pub k: usize,
    /// Distinct queries.
    pub queries: usize,
    /// Mean number of words per query (`clean_str` tokens, known or not).
    pub mean_words: f64,
    /// Timed passes over the queries.
    pub passes: u64,
    /// Timed searches (queries x passes).
    pub timed: usize,
    /// Threads of the search's thread pool.
    pub threads: usize,
    /// Query text to results, one query at a time.
    pub total_ms: Percentiles,
    /// Of which encoding the query.
    pub encode_ms: Percentiles,
    /// Of which searching the index.
    pub search_ms: Percentiles,
    /// Searches per second, one at a time (1000 / mean total).
    pub queries_per_s: f64,
    /// With --approx: the share of the exact top-k that the approximate top-k finds, over all
    /// queries.
    pub recall_at_k: Option<f64>,
}

/// What to time: the queries, the results per search and the timed passes.
#[derive(Debug, Clone)]
pub struct LatencyPlan {
    /// Sentences, each searched alone.
    pub queries: Vec<String>,
    /// Results per search.
    pub k: usize,
    /// Timed passes over the queries (after one untimed pass that checks and warms up).
    pub passes: u64,
}

/// Checks every query in one untimed pass, then times `plan.passes` passes of single
/// searches from text to results, and (for an approximate engine) measures its recall
/// against a full scan.
pub fn measure_latency<B: ModelBackend>(
    engine: &Engine<B>,
    plan: &LatencyPlan,
) -> Result<LatencyReport> {
    let (queries, k) = (&plan.queries, plan.k);
    if queries.is_empty() {
        return Err(Error::Invalid(
            "no query to time: give sentences as arguments or --queries FILE".into(),
        ));
    }
    for (n, query) in queries.iter().enumerate() {
        let (mut outcome, _) = engine.search_many_timed(std::slice::from_ref(query), k);
        let outcome = outcome
            .pop()
            .ok_or_else(|| Error::Invalid("the engine returned no result for the query".into()))?;
        outcome.context_with(|| format!("query {} of {}: {query:?}", n + 1, queries.len()))?;
    }
    let (mut total, mut encode, mut search) = (Vec::new(), Vec::new(), Vec::new());
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for _ in 0..plan.passes {
        for query in queries {
            let started = Instant::now();
            let (outcome, timing) = engine.search_many_timed(std::slice::from_ref(query), k);
            let elapsed = started.elapsed();
            if let Some(Err(e)) = outcome.first() {
                return Err(Error::Invalid(format!(
                    "query {query:?} failed on a timed pass: {e}"
                )));
            }
            total.push(ms(elapsed));
            encode.push(ms(timing.encode));
            search.push(ms(timing.search));
        }
    }
    let approx = matches!(engine.mode(), SearchMode::Approx(_));
    let recall_at_k = if approx {
        Some(approx_recall(engine, queries, k)?)
    } else {
        None
    };
    let words: usize = queries
        .iter()
        .map(|q| dualenc_text::clean_str(q).len())
        .sum();
    let figures = |samples: &[f64]| {
        Percentiles::of(samples).ok_or_else(|| Error::Invalid("no search was timed".into()))
    };
    let total_ms = figures(&total)?;
    Ok(LatencyReport {
        index: engine.index().dir().display().to_string(),
        videos: engine.index().len(),
        dim: engine.index().dim(),
        mode: if approx { "approx" } else { "exact" },
        k,
        queries: queries.len(),
        mean_words: words as f64 / queries.len() as f64,
        passes: plan.passes,
        timed: total.len(),
        threads: rayon::current_num_threads(),
        total_ms,
        encode_ms: figures(&encode)?,
        search_ms: figures(&search)?,
        queries_per_s: if total_ms.mean > 0.0 {
            1e3 / total_ms.mean
        } else {
            0.0
        },
        recall_at_k,
    })
}

/// The share of the exact top-k (full scan) that the engine's approximate top-k finds, over
/// all the queries, on the same query embeddings.
fn approx_recall<B: ModelBackend>(engine: &Engine<B>, queries: &[String], k: usize) -> Result<f64> {
    let (set, _) = engine.tokenise(queries);
    let embeddings = engine
        .embed(&set)
        .context_with(|| "encoding the queries".to_string())?;
    let index = engine.index();
    let approx = index
        .search_batch(&embeddings, k, engine.mode())
        .context_with(|| format!("searching {}", index.dir().display()))?;
    let exact = index
        .search_batch(&embeddings, k, SearchMode::Exact)
        .context_with(|| format!("searching {}", index.dir().display()))?;
    let (mut found, mut wanted) = (0usize, 0usize);
    for (a, e) in approx.iter().zip(&exact) {
        let rows: HashSet<usize> = a.iter().map(|h| h.index).collect();
        found += e.iter().filter(|h| rows.contains(&h.index)).count();
        wanted += e.len();
    }
    Ok(if wanted == 0 {
        1.0
    } else {
        found as f64 / wanted as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let p = Percentiles::of(&samples).unwrap();
        assert_eq!((p.p50, p.p90, p.p99), (50.0, 90.0, 99.0));
        assert_eq!((p.min, p.max, p.mean), (1.0, 100.0, 50.5));
        let one = Percentiles::of(&[7.0]).unwrap();
        assert_eq!((one.p50, one.p99, one.min, one.max), (7.0, 7.0, 7.0, 7.0));
        assert_eq!(Percentiles::of(&[]), None);
    }
}
