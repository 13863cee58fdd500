//! The JSON documents of the HTTP API, shared by the server and its clients (tests, scripts).
//!
//! Every type derives both `Serialize` and `Deserialize`, so a Rust client can read the
//! server's answers with the same definitions.

use serde::{Deserialize, Serialize};

use crate::backend::{BackendInfo, Hit, SearchOutcome};

/// Limits on what one request may ask, checked before the backend is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Most characters (Unicode scalar values) in one query.
    pub max_query_chars: usize,
    /// Largest `k` (results per query).
    pub max_k: usize,
    /// `k` when the request gives none.
    pub default_k: usize,
    /// Most queries in one `POST /api/search` batch.
    pub max_batch: usize,
    /// Largest `POST /api/search` body, in bytes.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    /// The limits of the issue: 1,000 characters, k up to 1,000 (default 10), 100 queries and
    /// 1 MiB per batch.
    fn default() -> Self {
        Limits {
            max_query_chars: 1000,
            max_k: 1000,
            default_k: 10,
            max_batch: 100,
            max_body_bytes: 1 << 20,
        }
    }
}

/// One ranked video in an answer: the backend's [`Hit`] plus where its thumbnail and its
/// video file are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultItem {
    /// 1-based rank.
    pub rank: usize,
    /// The video id.
    pub id: String,
    /// The similarity score; higher is better.
    pub score: f32,
    /// The thumbnail's URL path (`/thumbnails/ID.jpg`, percent-encoded), present only when the
    /// server has a thumbnail for this video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<String>,
    /// The video file's URL path (`/videos/ID.mp4`, percent-encoded), present only when the
    /// server plays this video (`--videos`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<String>,
    /// The video's caption (the first of its collection), when the backend knows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

impl ResultItem {
    /// Wraps a hit (its caption included) with its thumbnail URL, if any.
    pub fn new(hit: Hit, thumbnail: Option<String>) -> Self {
        ResultItem {
            rank: hit.rank,
            id: hit.id,
            score: hit.score,
            thumbnail,
            video: None,
            caption: hit.caption,
        }
    }

    /// The same with the URL of the video file, if the server plays it.
    pub fn with_video(mut self, video: Option<String>) -> Self {
        self.video = video;
        self
    }
}

/// The answer to `GET /api/search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// The query as received (after percent-decoding).
    pub query: String,
    /// The `k` used.
    pub k: usize,
    /// Wall time of the search in milliseconds, waiting for a free search slot included.
    pub took_ms: f64,
    /// Query words the backend could not use.
    pub unknown_words: Vec<String>,
    /// The ranking, best first.
    pub results: Vec<ResultItem>,
}

/// The body of `POST /api/search`: several queries ranked with one `k`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// The queries, each checked as a `GET` query is.
    pub queries: Vec<String>,
    /// Results per query; the server's default when absent.
    #[serde(default)]
    pub k: Option<usize>,
}

/// The answer to `POST /api/search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResponse {
    /// The `k` used.
    pub k: usize,
    /// Wall time of the whole batch in milliseconds.
    pub took_ms: f64,
    /// One entry per query, in request order.
    pub responses: Vec<BatchItem>,
}

/// One query's part of a [`BatchResponse`]: a ranking, or the reason there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchItem {
    /// The query.
    pub query: String,
    /// Query words the backend could not use.
    pub unknown_words: Vec<String>,
    /// The ranking, best first; empty when `error` is set.
    pub results: Vec<ResultItem>,
    /// Why this query has no ranking (e.g. every word unknown); absent on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl BatchItem {
    /// A successful item, with results already converted.
    pub fn found(query: String, outcome: SearchOutcome, results: Vec<ResultItem>) -> Self {
        BatchItem {
            query,
            unknown_words: outcome.unknown_words,
            results,
            error: None,
        }
    }
}

/// The JSON body of every error answer (and of a failed batch item).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `empty_query`, `k_too_large`, `invalid_utf8`.
    pub code: String,
    /// A sentence for people saying what was wrong and what is accepted.
    pub error: String,
    /// The unknown words, for `all_words_unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_words: Option<Vec<String>>,
}

/// The answer to `GET /api/info`: the backend's description and the service's limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InfoResponse {
    /// What the backend says about itself, absolute paths cut to their last component (a
    /// model folder `/home/me/runs/msrvtt` is shown as `msrvtt`).
    pub backend: BackendInfo,
    /// The request limits in force.
    pub limits: Limits,
    /// How many videos have a thumbnail (0 without `--thumbnails`).
    pub thumbnails: usize,
    /// How many videos can be played (0 without `--videos`).
    #[serde(default)]
    pub playable_videos: usize,
    /// The server's crate version.
    pub version: String,
}
