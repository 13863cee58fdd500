//! The video search index of dualenc: video embeddings on disk, exact and approximate search.
//!
//! The index works on embeddings only (no network): every video is one L2-normalised `f32`
//! vector, a query is one vector of the same dimension, and the score of a video is the dot
//! product, which for normalised vectors is the cosine similarity the model was trained with.
//! Whoever encodes videos and queries (the model crate, the `dualenc index` / `dualenc search`
//! commands, the HTTP service) feeds vectors in and gets [`Hit`]s out.
//!
//! - [`index`]: the on-disk format, [`IndexWriter`] (create or append, atomic commits) and
//!   [`Index`] (open, validate, memory-map; exact and approximate search returning hits).
//! - [`exact`]: brute-force top-k by dot product over a row-major matrix, single query or
//!   batched, parallel with rayon, ties broken by lower row index.
//! - [`ann`]: an HNSW graph (usearch) over the same rows, whose candidates are re-scored
//!   exactly, and the recall of that approximate mode against exact search. The graph file
//!   is verified (length and hash recorded in the manifest) before usearch reads it.
//!
//! Hostile or damaged files are errors, never crashes or silent garbage: non-finite
//! embeddings and queries, bad ids, absurd manifest numbers and data files truncated while
//! mapped are reported with the file, line, row or id (see [`index`], "Writes and crashes").
//!
//! ```no_run
//! use dualenc_index::{CollectionMeta, Index, IndexWriter, SearchMode};
//! # fn main() -> Result<(), dualenc_index::IndexError> {
//! let dir = std::path::Path::new("/tmp/my-index");
//! let mut writer = IndexWriter::create(dir, 2, "runs/model_best.pth.tar")?;
//! writer.start_collection(CollectionMeta::new("msrvtt10ktest", "resnet-152-img1k-flatten0_outputos"))?;
//! writer.add("video7010", &[0.6, 0.8])?;
//! writer.add("video7011", &[1.0, 0.0])?;
//! writer.commit()?;
//! let index = Index::open(dir)?;
//! let hits = index.search(&[1.0, 0.0], 10, SearchMode::Exact)?;
//! assert_eq!(hits[0].id, "video7011");
//! # Ok(()) }
//! ```

#[cfg(target_endian = "big")]
compile_error!(
    "dualenc-index memory-maps little-endian f32 files and needs a little-endian target"
);

pub mod ann;
mod error;
pub mod exact;
pub mod index;

pub use ann::{
    measure_recall, recall_at_k, AnnFile, AnnIndex, AnnInfo, AnnParams, ApproxOptions, Storage,
};
pub use error::IndexError;
pub use exact::Scored;
pub use index::{
    CaptionsInfo, CollectionInfo, CollectionMeta, Index, IndexWriter, Manifest, SearchMode,
    FORMAT_VERSION, MAX_CAPTION_BYTES, MAX_DIM,
};

/// One search result: a video of the index with its score and its place in the result list.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Hit {
    /// Row of the video in the index (0-based, in `ids.txt` / `embeddings.f32` order).
    pub index: usize,
    /// The video id, as written in `ids.txt`.
    pub id: String,
    /// Dot product of the query and the video embedding (cosine for normalised vectors).
    pub score: f32,
    /// Position in the result list, 1-based (1 = best), as in TRECVID run files.
    pub rank: usize,
    /// The video's caption kept by the index (the first of its collection's caption file),
    /// when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

impl Hit {
    /// Numbers `(row, id, score)` triples that are already sorted best first with ranks 1,
    /// 2, ..., so that ranks always agree with the order.
    pub fn ranked<I>(sorted: I) -> Vec<Hit>
    where
        I: IntoIterator<Item = (usize, String, f32)>,
    {
        sorted
            .into_iter()
            .enumerate()
            .map(|(position, (index, id, score))| Hit {
                index,
                id,
                score,
                rank: position + 1,
                caption: None,
            })
            .collect()
    }
}
