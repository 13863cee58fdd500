//! The text-to-video search service of dualenc: an HTTP API and a web page (axum + tokio).
//!
//! The service is independent of the network and of the index: it calls a [`SearchBackend`]
//! (the `dualenc serve` command supplies one built from a trained model and a video index).
//!
//! - `GET /api/search?q=TEXT&k=K` ranks the collection for one query:
//!   `{"query", "k", "took_ms", "unknown_words", "results": [{"rank", "id", "score",
//!   "thumbnail"?, "video"?, "caption"?}]}`.
//! - `POST /api/search` with `{"queries": [...], "k": K}` ranks several queries at once.
//! - `GET /health`, `GET /api/info` (backend description, limits), `GET /` (the web page, with
//!   its `/app.js` and `/app.css`), `GET /thumbnails/ID.jpg` (when a thumbnail directory was
//!   given), `GET /videos/ID.EXT` (when a video directory was given; HTTP range requests, so
//!   that the page's `<video>` plays and seeks; see [`videos`]).
//! - Bad input (empty query, more than 1,000 characters, `k` outside 1..=1,000, bytes that are
//!   not UTF-8 after percent-decoding, unknown parameters) gets HTTP 400 with a JSON
//!   [`ErrorBody`]; a query with no usable word gets 422.
//!
//! Searches run on tokio's blocking pool, at most [`ServerConfig::max_concurrent_searches`] at
//! once. [`serve`] stops gracefully when its shutdown future completes, e.g. on
//! [`shutdown_signal`] (SIGTERM or Ctrl-C), within [`Timeouts::shutdown_grace`].
//!
//! Hostile clients: slow or stalled connections are closed after the [`Timeouts`] of
//! [`ServerConfig::timeouts`] (idle, header, body, send), at most
//! [`ServerConfig::max_connections`] are served at once, every answer says
//! `X-Content-Type-Options: nosniff`, the page's Content-Security-Policy allows no inline code,
//! thumbnails and videos are served only from regular files (never through a symbolic link), and absolute
//! paths in the backend's description and errors are cut to their last component.

pub mod api;
pub mod backend;
mod connection;
pub mod error;
mod page;
pub mod params;
pub mod range;
mod redact;
pub mod server;
pub mod thumbnails;
pub mod timeouts;
pub mod videos;

pub use api::{
    BatchItem, BatchRequest, BatchResponse, ErrorBody, InfoResponse, Limits, ResultItem,
    SearchResponse,
};
pub use backend::{BackendInfo, Hit, SearchBackend, SearchError, SearchOutcome};
pub use error::{ApiError, ServerError};
pub use server::{router, serve, serve_on, shutdown_signal, ServerConfig, DEFAULT_ADDR};
pub use thumbnails::Thumbnails;
pub use timeouts::Timeouts;
pub use videos::Videos;
