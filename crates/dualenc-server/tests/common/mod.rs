//! Shared test support: a small bag-of-words search backend (a test double standing in for the
//! trained model + index that `dualenc serve` uses) and a server running on 127.0.0.1:0.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dualenc_server::{
    serve_on, BackendInfo, Hit, SearchBackend, SearchError, SearchOutcome, ServerConfig,
    ServerError,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The toy collection: video id -> what it shows.
pub const VIDEOS: &[(&str, &str)] = &[
    ("video0", "a dog runs on the beach"),
    ("video1", "a girl is dancing on a stage"),
    ("video2", "a man cooks pasta in a kitchen"),
    ("video3", "a red car drives down the road at night"),
    ("video4", "a cat sleeps on a sofa"),
    ("video5", "a band plays music on a stage"),
    ("video6", "children swim in a pool"),
    ("video7", "a robot opens a door"),
];

/// Bag-of-words cosine search over [`VIDEOS`]: a test double for the real model + index.
///
/// Tokenises like the project's `clean_str` (non-alphanumerics are spaces, lower case); the
/// vocabulary is every word of every description; videos are ranked by the cosine between
/// word-count vectors, ties by id.
pub struct BagOfWords {
    /// Word counts per video, in collection order.
    videos: Vec<(String, HashMap<String, f32>)>,
    /// Every known word.
    vocabulary: HashMap<String, ()>,
}

impl BagOfWords {
    /// The backend over [`VIDEOS`].
    pub fn new() -> Self {
        let videos: Vec<_> = VIDEOS
            .iter()
            .map(|(id, text)| (id.to_string(), counts(&tokens(text))))
            .collect();
        let vocabulary = videos
            .iter()
            .flat_map(|(_, words)| words.keys().cloned())
            .map(|w| (w, ()))
            .collect();
        BagOfWords { videos, vocabulary }
    }
}

/// `clean_str`-style tokens.
fn tokens(text: &str) -> Vec<String> {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn counts(words: &[String]) -> HashMap<String, f32> {
    let mut map = HashMap::new();
    for word in words {
        *map.entry(word.clone()).or_insert(0.0) += 1.0;
    }
    map
}

fn cosine(a: &HashMap<String, f32>, b: &HashMap<String, f32>) -> f32 {
    let dot: f32 = a
        .iter()
        .map(|(word, x)| x * b.get(word).copied().unwrap_or(0.0))
        .sum();
    let norm = |m: &HashMap<String, f32>| m.values().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

impl SearchBackend for BagOfWords {
    fn search(&self, query: &str, k: usize) -> Result<SearchOutcome, SearchError> {
        let words = tokens(query);
        if words.is_empty() {
            return Err(SearchError::NoWords);
        }
        let mut unknown_words: Vec<String> = Vec::new();
        for word in words.iter().filter(|w| !self.vocabulary.contains_key(*w)) {
            if !unknown_words.contains(word) {
                unknown_words.push(word.clone());
            }
        }
        let known: Vec<String> = words
            .into_iter()
            .filter(|w| self.vocabulary.contains_key(w))
            .collect();
        if known.is_empty() {
            return Err(SearchError::AllWordsUnknown {
                words: unknown_words,
            });
        }
        let query = counts(&known);
        let mut scored: Vec<(usize, String, f32)> = self
            .videos
            .iter()
            .enumerate()
            .map(|(row, (id, words))| (row, id.clone(), cosine(&query, words)))
            .collect();
        scored.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.1.cmp(&b.1)));
        scored.truncate(k);
        Ok(SearchOutcome {
            unknown_words,
            results: Hit::ranked(scored),
        })
    }

    fn describe(&self) -> BackendInfo {
        BackendInfo {
            model: "bag-of-words test double".to_owned(),
            collection: "toy".to_owned(),
            videos: self.videos.len(),
            dim: self.vocabulary.len(),
            details: BTreeMap::from([("mode".to_owned(), "test".to_owned())]),
        }
    }
}

/// A backend whose every search fails, to check the 500 path.
pub struct Broken;

impl SearchBackend for Broken {
    fn search(&self, _query: &str, _k: usize) -> Result<SearchOutcome, SearchError> {
        Err(SearchError::Backend("the index file vanished".to_owned()))
    }

    fn describe(&self) -> BackendInfo {
        BackendInfo::default()
    }
}

/// Wraps a backend: each search sleeps `delay` and the largest number of searches running at
/// the same moment is recorded.
pub struct Slow<B> {
    pub inner: B,
    pub delay: Duration,
    running: AtomicUsize,
    pub peak: AtomicUsize,
}

impl<B> Slow<B> {
    pub fn new(inner: B, delay: Duration) -> Self {
        Slow {
            inner,
            delay,
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }
}

impl<B: SearchBackend> SearchBackend for Slow<B> {
    fn search(&self, query: &str, k: usize) -> Result<SearchOutcome, SearchError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.inner.search(query, k)
    }

    fn describe(&self) -> BackendInfo {
        self.inner.describe()
    }
}

/// A service running on 127.0.0.1 with an ephemeral port, stopped by [`TestServer::stop`].
pub struct TestServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The bound address.
    pub addr: std::net::SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl TestServer {
    /// Starts the service over `backend` with `config` (its `addr` is ignored).
    pub async fn start(backend: Arc<dyn SearchBackend>, config: ServerConfig) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_on(listener, backend, config, async move {
            let _ = stopped.await;
        }));
        TestServer {
            base: format!("http://{addr}"),
            addr,
            shutdown,
            task,
        }
    }

    /// Starts the bag-of-words backend with the default configuration.
    pub async fn toy() -> TestServer {
        Self::start(Arc::new(BagOfWords::new()), ServerConfig::default()).await
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Asks for a graceful shutdown and waits (at most 10 s) for the server to return.
    pub async fn stop(self) -> Result<(), ServerError> {
        let _ = self.shutdown.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("server stops within 10 s")
            .expect("server task does not panic")
    }
}

/// Sends raw bytes as an HTTP/1.1 request (for URLs a client library would normalise or
/// refuse) and returns the status code and the body text.
pub async fn raw_request(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("answer within 10 s")
        .expect("read");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}
