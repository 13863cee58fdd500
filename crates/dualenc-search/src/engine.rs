//! The query path shared by `search`, `serve`, `bench-search` and the demo: a trained model
//! and the index built with it; queries are tokenised with the model's vocabulary (unknown
//! words reported, a query without a known word refused), encoded on the engine's device in
//! eval mode, each as if alone (batch-independent padding, the original's predictor encoding
//! one topic at a time), and the index returns the top k, exactly or through its HNSW graph.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use dualenc_dataset::CaptionSet;
use dualenc_index::{ApproxOptions, Hit, Index, SearchMode};
use dualenc_infer::{encode_captions_alone, EncodeOptions, LoadedModel, PaddingMode};
use dualenc_model::ModelBackend;
use dualenc_server::{BackendInfo, SearchError, SearchOutcome};

use crate::error::{Context, Error, Result};

/// The search mode of the `approx` switch: a full scan, or the HNSW graph with exact
/// re-scoring.
pub fn search_mode(approx: bool) -> SearchMode {
    if approx {
        SearchMode::Approx(ApproxOptions::default())
    } else {
        SearchMode::Exact
    }
}

/// Opens an index with a message naming its folder.
pub fn read_index(dir: &Path) -> Result<Index> {
    Index::open(dir).context_with(|| format!("opening the index {}", dir.display()))
}

/// A trained model and the index built with it: encodes sentences and ranks the videos.
pub struct Engine<B: ModelBackend> {
    /// The model the index manifest references.
    loaded: LoadedModel<B>,
    /// The video index.
    index: Index,
    /// Exact or approximate search.
    mode: SearchMode,
    /// The index's ids as a set, built on the first [`Engine::has_video`].
    id_set: OnceLock<HashSet<String>>,
}

/// A tokenised query: its row among the usable queries and its unknown words, or why it
/// cannot be searched.
pub type Checked = Result<(usize, Vec<String>), SearchError>;

/// Where the time of one [`Engine::search_many_timed`] call went (the rest is tokenising).
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    /// Encoding the queries with the text encoder.
    pub encode: Duration,
    /// Searching the index, top-k included.
    pub search: Duration,
}

impl<B: ModelBackend> Engine<B> {
    /// Opens the index in `dir` and loads the model its manifest names on `device`.
    pub fn open(dir: &Path, approx: bool, device: &B::Device) -> Result<Self> {
        let index = read_index(dir)?;
        if index.is_empty() {
            return Err(Error::Invalid(format!(
                "{}: the index holds no video",
                dir.display()
            )));
        }
        if approx && index.ann().is_none() {
            return Err(Error::Invalid(format!(
                "{}: the index has no ANN graph; build it with `dualenc index ... --ann` or \
                 search without --approx",
                dir.display()
            )));
        }
        let model_dir = PathBuf::from(&index.manifest().model);
        let loaded = LoadedModel::<B>::load(&model_dir, device).context_with(|| {
            format!(
                "loading the model {} named by {}/manifest.json",
                model_dir.display(),
                dir.display()
            )
        })?;
        let dim = loaded.model.config().embedding_dim();
        if dim != index.dim() {
            return Err(Error::Invalid(format!(
                "{}: the index holds {}-d embeddings but its model {} gives {dim}-d ones",
                dir.display(),
                index.dim(),
                model_dir.display()
            )));
        }
        Ok(Self {
            loaded,
            index,
            mode: search_mode(approx),
            id_set: OnceLock::new(),
        })
    }

    /// Ranks the videos for each query (at most `k` each), in the queries' order. A query
    /// without a known word gets an error instead of a meaningless ranking.
    pub fn search_many(
        &self,
        queries: &[String],
        k: usize,
    ) -> Vec<Result<SearchOutcome, SearchError>> {
        self.search_many_timed(queries, k).0
    }

    /// [`Engine::search_many`], also telling where the time went.
    pub fn search_many_timed(
        &self,
        queries: &[String],
        k: usize,
    ) -> (Vec<Result<SearchOutcome, SearchError>>, Timing) {
        let (set, checked) = self.tokenise(queries);
        let (ranked, timing) = self.rank(&set, k);
        let outcomes = checked
            .into_iter()
            .map(|item| {
                let (row, unknown_words) = item?;
                let hits = match &ranked {
                    Ok(all) => all.get(row).cloned().unwrap_or_default(),
                    Err(e) => return Err(e.clone()),
                };
                Ok(SearchOutcome {
                    unknown_words,
                    results: hits,
                })
            })
            .collect();
        (outcomes, timing)
    }

    /// Tokenises the queries: the usable ones (with a known word) go into a caption set, in
    /// order; each query gets its row in that set and its unknown words, or its error.
    pub fn tokenise(&self, queries: &[String]) -> (CaptionSet, Vec<Checked>) {
        let mut set = CaptionSet {
            bow_dim: self.loaded.vocab.bow_len(),
            ..CaptionSet::default()
        };
        let mut checked = Vec::with_capacity(queries.len());
        for (n, query) in queries.iter().enumerate() {
            let tokens = self.loaded.vocab.encode(query);
            let unknown = unknown_words(query, &tokens.ids);
            checked.push(usable(query, unknown).map(|unknown| (set.len(), unknown)));
            if checked.last().is_some_and(Result::is_ok) {
                set.ids.push(format!("query{n}"));
                set.tokens.push(tokens);
            }
        }
        (set, checked)
    }

    /// Encodes the queries of `set` together, each padded to its own length so that each
    /// gets its batch-of-one embedding: `set.len() x dim` floats, row-major.
    pub fn embed(&self, set: &CaptionSet) -> Result<Vec<f32>, SearchError> {
        let options = EncodeOptions {
            batch_size: set.len(),
            padding: PaddingMode::Item,
        };
        encode_captions_alone(&self.loaded.model, set, &options, &mut |_| {})
            .map_err(|e| SearchError::Backend(e.to_string()))
    }

    /// Encodes the usable queries and searches the index for all of them.
    fn rank(&self, set: &CaptionSet, k: usize) -> (Result<Vec<Vec<Hit>>, SearchError>, Timing) {
        let mut timing = Timing::default();
        if set.is_empty() {
            return (Ok(Vec::new()), timing);
        }
        let started = Instant::now();
        let embeddings = match self.embed(set) {
            Ok(embeddings) => embeddings,
            Err(e) => return (Err(e), timing),
        };
        timing.encode = started.elapsed();
        let started = Instant::now();
        let hits = self.index.search_batch(&embeddings, k, self.mode);
        timing.search = started.elapsed();
        let ranked = hits.map_err(|e| SearchError::Backend(e.to_string()));
        (ranked, timing)
    }

    /// The index searched.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Exact or approximate search.
    pub fn mode(&self) -> SearchMode {
        self.mode
    }

    /// Whether the video `id` is in the index (the set of ids is built on the first call).
    pub fn has_video(&self, id: &str) -> bool {
        self.id_set
            .get_or_init(|| self.index.ids().iter().cloned().collect())
            .contains(id)
    }

    /// Facts about the model and the index for `/api/info` and the page header.
    pub fn describe(&self) -> BackendInfo {
        let manifest = self.index.manifest();
        let names: Vec<&str> = manifest
            .collections
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let mut details = BTreeMap::new();
        for c in &manifest.collections {
            let encoding = c.encoding.as_deref().unwrap_or("unknown");
            details.insert(
                format!("collection {}", c.name),
                format!(
                    "{} videos, feature {}, encoding {encoding}",
                    c.count, c.feature
                ),
            );
        }
        let mode = match self.mode {
            SearchMode::Exact => "exact".to_string(),
            SearchMode::Approx(_) => "approximate (HNSW)".to_string(),
        };
        details.insert("search".into(), mode);
        details.insert("index".into(), self.index.dir().display().to_string());
        details.insert(
            "captions".into(),
            format!("{} videos", self.index.caption_count()),
        );
        BackendInfo {
            model: manifest.model.clone(),
            collection: names.join(", "),
            videos: self.index.len(),
            dim: self.index.dim(),
            details,
        }
    }
}

/// The query's words that the vocabulary maps to `<unk>`, each once, in query order.
/// `ids` are the RNN ids of the query's `clean_str` tokens between `<start>` and `<end>`.
fn unknown_words(query: &str, ids: &[i64]) -> Vec<String> {
    let words = dualenc_text::clean_str(query);
    let inner = ids.get(1..ids.len().saturating_sub(1)).unwrap_or(&[]);
    let mut seen = HashSet::new();
    words
        .into_iter()
        .zip(inner)
        .filter(|(_, &id)| id == dualenc_text::UNK as i64)
        .map(|(word, _)| word)
        .filter(|word| seen.insert(word.clone()))
        .collect()
}

/// Accepts a query with at least one known word (returning its unknown words); refuses one
/// with no word at all or with only unknown words.
fn usable(query: &str, unknown: Vec<String>) -> Result<Vec<String>, SearchError> {
    let words: HashSet<String> = dualenc_text::clean_str(query).into_iter().collect();
    if words.is_empty() {
        Err(SearchError::NoWords)
    } else if words.iter().all(|w| unknown.contains(w)) {
        Err(SearchError::AllWordsUnknown { words: unknown })
    } else {
        Ok(unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_words_are_named_once_in_query_order() {
        // <start> a zz a zz b <end>, with zz and b mapped to <unk> (3).
        let ids = [1, 5, 3, 5, 3, 3, 2];
        assert_eq!(unknown_words("a zz a zz b", &ids), vec!["zz", "b"]);
        assert!(unknown_words("a a", &[1, 5, 5, 2]).is_empty());
    }

    #[test]
    fn queries_without_a_known_word_are_refused() {
        assert_eq!(usable("?!", Vec::new()), Err(SearchError::NoWords));
        let all = vec!["zz".to_string(), "b".to_string()];
        assert_eq!(
            usable("zz b zz", all.clone()),
            Err(SearchError::AllWordsUnknown { words: all })
        );
        assert_eq!(
            usable("a zz", vec!["zz".into()]),
            Ok(vec!["zz".to_string()])
        );
    }
}
