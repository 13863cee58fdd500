//! The search interface the HTTP service calls.
//!
//! The service knows nothing about networks or indexes: whoever runs it (the `dualenc serve`
//! command, with a trained model and a video index) implements [`SearchBackend`], and tests
//! implement small doubles of it. Searches are CPU-bound, so the service calls the backend on
//! tokio's blocking thread pool, never on the async workers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use dualenc_index::Hit;

/// A text-to-video search engine over one collection of videos.
///
/// Implementations must be cheap to share across threads (`Send + Sync`): the service holds one
/// in an `Arc` and calls it from several blocking threads at once.
pub trait SearchBackend: Send + Sync + 'static {
    /// Ranks the collection's videos for `query` and returns at most `k` of them, best first.
    ///
    /// `query` is non-empty, at most the service's character limit, and `k` is in `1..=max_k`:
    /// the service checks both before calling. Words the backend cannot encode go into
    /// [`SearchOutcome::unknown_words`]; when no word at all is usable, return
    /// [`SearchError::AllWordsUnknown`] or [`SearchError::NoWords`] rather than a ranking that
    /// means nothing.
    fn search(&self, query: &str, k: usize) -> Result<SearchOutcome, SearchError>;

    /// Ranks the collection for several queries at once.
    ///
    /// The default calls [`SearchBackend::search`] for each query in turn; a backend that can
    /// encode sentences in batches (as a neural text encoder can) should override it. The
    /// result holds one entry per query, in the queries' order.
    fn search_batch(
        &self,
        queries: &[String],
        k: usize,
    ) -> Vec<Result<SearchOutcome, SearchError>> {
        queries.iter().map(|query| self.search(query, k)).collect()
    }

    /// Describes the backend for `/api/info`, the web page's header and the server's logs.
    fn describe(&self) -> BackendInfo;

    /// Whether `id` is one of the videos the backend ranks (its collection).
    ///
    /// The service plays a video file (`--videos`) only when this says yes, so that a
    /// folder holding more than the collection does not serve the rest. The default says
    /// no to every id: a backend that does not list its videos gets none played.
    fn has_video(&self, id: &str) -> bool {
        let _ = id;
        false
    }
}

/// What one search found.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SearchOutcome {
    /// Query words that the backend could not use (not in its vocabulary), in query order,
    /// each once; the web page warns about them.
    pub unknown_words: Vec<String>,
    /// The hits, ordered by rank (best first); at most `k`.
    pub results: Vec<Hit>,
}

/// Facts about a backend, shown by `/api/info` and on the web page.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BackendInfo {
    /// A short name of the model or method (e.g. the checkpoint's name).
    pub model: String,
    /// The collection searched (e.g. `msrvtt10ktest`).
    pub collection: String,
    /// How many videos can be found.
    pub videos: usize,
    /// The dimension of the common space (2048 for Dual Encoding), 0 when not meaningful.
    pub dim: usize,
    /// Further facts worth showing, such as how the index was encoded (batch mode).
    pub details: BTreeMap<String, String>,
}

/// Why a search returned no ranking.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SearchError {
    /// Every word of the query is unknown to the backend, so any ranking would be noise.
    #[error("none of the query's words is in the vocabulary: {}", .words.join(", "))]
    AllWordsUnknown {
        /// The unknown words, in query order.
        words: Vec<String>,
    },
    /// The query holds no word at all once tokenised (only punctuation, for example).
    #[error("the query has no words once tokenised (only letters and digits make words)")]
    NoWords,
    /// The backend failed for a reason that is not the query's fault.
    #[error("the search backend failed: {0}")]
    Backend(String),
}
