//! Text-to-video search with a trained Dual Encoding model, over a search index
//! (`dualenc-index`), for the `index`, `search`, `serve` and `bench-search` commands and the
//! demo.
//!
//! - [`indexer`]: a collection's videos encoded into a new index or appended to one, with the
//!   optional HNSW graph.
//! - [`engine`]: the one query path: a model and its index; queries tokenised (unknown
//!   words reported), encoded as if alone, ranked exactly or approximately.
//! - [`service`]: the engine behind the HTTP server's backend trait.
//! - [`latency`]: timing the query path (`bench-search`).

pub mod engine;
pub mod error;
pub mod indexer;
pub mod latency;
pub mod service;

pub use engine::{read_index, search_mode, Engine, Timing};
pub use error::{Error, Result};
pub use indexer::{build_graph, index_collection, IndexPlan, IndexProgress, IndexReport};
pub use latency::{measure_latency, LatencyPlan, LatencyReport, Percentiles};
pub use service::ModelSearch;
