//! The search service's backend: an [`Engine`] on the CPU behind `dualenc-server`'s
//! [`SearchBackend`] trait (the HTTP layer knows nothing of the network).

use dualenc_model::CpuBackend;
use dualenc_server::{BackendInfo, SearchBackend, SearchError, SearchOutcome};

use crate::engine::Engine;

/// A model-backed search backend: the engine on the CPU, shared by the server's threads.
pub struct ModelSearch {
    engine: Engine<CpuBackend>,
}

impl ModelSearch {
    /// Serves searches with `engine`.
    pub fn new(engine: Engine<CpuBackend>) -> Self {
        Self { engine }
    }
}

impl SearchBackend for ModelSearch {
    fn search(&self, query: &str, k: usize) -> Result<SearchOutcome, SearchError> {
        self.search_batch(&[query.to_string()], k)
            .pop()
            .unwrap_or_else(|| Err(SearchError::Backend("no result for the query".into())))
    }

    fn search_batch(
        &self,
        queries: &[String],
        k: usize,
    ) -> Vec<Result<SearchOutcome, SearchError>> {
        self.engine.search_many(queries, k)
    }

    fn describe(&self) -> BackendInfo {
        self.engine.describe()
    }

    fn has_video(&self, id: &str) -> bool {
        self.engine.has_video(id)
    }
}
