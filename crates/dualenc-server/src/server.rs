//! The axum application: routes, handlers, start-up and graceful shutdown.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Bytes, HttpBody};
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Json, Router};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::api::{
    BatchItem, BatchResponse, ErrorBody, InfoResponse, Limits, ResultItem, SearchResponse,
};
use crate::backend::{SearchBackend, SearchError, SearchOutcome};
use crate::connection::serve_connections;
use crate::error::{ApiError, ServerError};
use crate::page;
use crate::params::{parse_batch, parse_search_params};
use crate::redact::hide_paths_in;
use crate::thumbnails::Thumbnails;
use crate::timeouts::Timeouts;
use crate::videos::Videos;

/// The address served when none is given: loopback only, port 8080.
pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);

/// How the service runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Where to listen ([`DEFAULT_ADDR`] by default; port 0 picks a free port).
    pub addr: SocketAddr,
    /// A directory of `ID.jpg` thumbnails, one per video, if the collection has them.
    pub thumbnails: Option<PathBuf>,
    /// A directory of the collection's video files (`ID.mp4`, `ID.webm`, ...), played on
    /// the page; only ids the backend knows ([`SearchBackend::has_video`]) are served.
    pub videos: Option<PathBuf>,
    /// Request limits.
    pub limits: Limits,
    /// Most searches running at once on the blocking pool; more wait their turn. Searches are
    /// CPU-bound, so more than the core count only adds contention.
    pub max_concurrent_searches: usize,
    /// Most connections served at once; further clients wait in the listen queue until one
    /// closes. Bounds the memory that many (slow) clients can hold.
    pub max_connections: usize,
    /// Time limits on slow clients and on shutdown.
    pub timeouts: Timeouts,
}

impl Default for ServerConfig {
    /// Loopback port 8080, no thumbnails or videos, the default limits, one search per core,
    /// 1,024 connections, the default [`Timeouts`].
    fn default() -> Self {
        ServerConfig {
            addr: DEFAULT_ADDR,
            thumbnails: None,
            videos: None,
            limits: Limits::default(),
            max_concurrent_searches: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_connections: 1024,
            timeouts: Timeouts::default(),
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
struct AppState {
    /// The search engine.
    backend: Arc<dyn SearchBackend>,
    /// The answer to `/api/info`, computed once.
    info: Arc<InfoResponse>,
    /// The request limits.
    limits: Limits,
    /// The thumbnails found at start-up.
    thumbnails: Arc<Thumbnails>,
    /// The video files found at start-up.
    videos: Arc<Videos>,
    /// One permit per search allowed to run at once.
    slots: Arc<Semaphore>,
    /// Most time to receive a request body.
    body_timeout: Duration,
}

/// Builds the application: lists the thumbnail and video directories (if any) and wires the
/// routes.
///
/// Routes: `GET /` (web page), `GET /app.js` and `GET /app.css` (its script and style),
/// `GET /health`, `GET /api/info`, `GET|POST /api/search`, `GET /thumbnails/{ID}.jpg`,
/// `GET /videos/{ID}.{EXT}` (range requests, see [`crate::videos`]). Unknown
/// paths and methods get JSON 404/405 answers. Every answer carries
/// `X-Content-Type-Options: nosniff`. The backend's description is shown with its absolute
/// paths cut to their last component.
pub fn router(
    backend: Arc<dyn SearchBackend>,
    config: &ServerConfig,
) -> Result<Router, ServerError> {
    let thumbnails = match &config.thumbnails {
        Some(dir) => Thumbnails::scan(dir)?,
        None => Thumbnails::default(),
    };
    let videos = match &config.videos {
        Some(dir) => Videos::scan(dir, |id| backend.has_video(id))?,
        None => Videos::default(),
    };
    let info = InfoResponse {
        backend: hide_paths_in(backend.describe()),
        limits: config.limits,
        thumbnails: thumbnails.len(),
        playable_videos: videos.len(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let state = AppState {
        backend,
        info: Arc::new(info),
        limits: config.limits,
        thumbnails: Arc::new(thumbnails),
        videos: Arc::new(videos),
        slots: Arc::new(Semaphore::new(config.max_concurrent_searches.max(1))),
        body_timeout: config.timeouts.body_read,
    };
    Ok(Router::new()
        .route("/", get(page::page))
        .route("/app.js", get(page::script))
        .route("/app.css", get(page::style))
        .route("/health", get(health))
        .route("/api/info", get(info_handler))
        .route("/api/search", get(search_get).post(search_post))
        .route("/thumbnails/{file}", get(thumbnail))
        .route("/videos/{file}", get(video))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(config.limits.max_body_bytes))
        .layer(middleware::map_response(nosniff))
        .with_state(state))
}

/// Binds `config.addr` and serves until `shutdown` completes, then finishes the requests in
/// flight (for at most [`Timeouts::shutdown_grace`]) and returns.
pub async fn serve<F>(
    backend: Arc<dyn SearchBackend>,
    config: ServerConfig,
    shutdown: F,
) -> Result<(), ServerError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.addr,
            source,
        })?;
    serve_on(listener, backend, config, shutdown).await
}

/// Serves on an already bound listener (tests bind `127.0.0.1:0` and read the port first);
/// `config.addr` is ignored.
///
/// Serves HTTP/1.1 with the time limits of `config.timeouts` and at most
/// `config.max_connections` connections. When `shutdown` completes it stops accepting, closes
/// idle connections, lets requests in flight finish for at most the grace period, then closes
/// every connection still open and returns (searches already running on the blocking pool
/// finish in the background).
pub async fn serve_on<F>(
    listener: TcpListener,
    backend: Arc<dyn SearchBackend>,
    config: ServerConfig,
    shutdown: F,
) -> Result<(), ServerError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.addr,
        source,
    })?;
    let app = router(backend, &config)?;
    tracing::info!(%addr, "dualenc search service listening on http://{addr}/");
    serve_connections(listener, app, &config, shutdown).await;
    tracing::info!(%addr, "dualenc search service stopped");
    Ok(())
}

/// A future that completes on SIGTERM or Ctrl-C (SIGINT), for [`serve`]'s `shutdown` (Unix).
///
/// The handlers are installed when this function returns (not when the future is first
/// polled), so a signal that arrives right after cannot be missed. Call it inside a tokio
/// runtime.
pub fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static, ServerError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).map_err(ServerError::Signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(ServerError::Signals)?;
    Ok(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::info!("{name} received: finishing requests in flight, then stopping");
    })
}

/// `GET /health`: `{"status": "ok"}` while the service runs.
async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /api/info`: the backend's description, the limits, the thumbnail and video counts.
async fn info_handler(State(state): State<AppState>) -> Json<InfoResponse> {
    Json(InfoResponse::clone(&state.info))
}

/// `GET /api/search?q=...&k=...`: one ranking.
async fn search_get(
    State(state): State<AppState>,
    uri: Uri,
) -> Result<Json<SearchResponse>, ApiError> {
    let started = Instant::now();
    let params = parse_search_params(uri.query(), &state.limits)?;
    let query = params.query.clone();
    let outcome = run_blocking(&state, move |backend| {
        backend.search(&params.query, params.k)
    })
    .await??;
    tracing::debug!(query, hits = outcome.results.len(), "search");
    Ok(Json(SearchResponse {
        query,
        k: params.k,
        took_ms: millis(started),
        results: result_items(&state, outcome.results, params.k),
        unknown_words: outcome.unknown_words,
    }))
}

/// `POST /api/search` with `{"queries": [...], "k": K}`: one ranking per query.
///
/// Malformed requests (bad JSON, a query breaking the limits, bad `k`) are refused whole with a
/// 400; a query the backend cannot use gets an `error` in its own item.
async fn search_post(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<BatchResponse>, ApiError> {
    let started = Instant::now();
    let body = read_body(request, &state).await?;
    let (queries, k) = parse_batch(&body, &state.limits)?;
    let count = queries.len();
    let (queries, outcomes) = run_blocking(&state, move |backend| {
        let outcomes = backend.search_batch(&queries, k);
        (queries, outcomes)
    })
    .await?;
    if outcomes.len() != count {
        return Err(SearchError::Backend(format!(
            "the backend answered {} of {count} queries",
            outcomes.len()
        ))
        .into());
    }
    let responses = queries
        .into_iter()
        .zip(outcomes)
        .map(|(query, outcome)| batch_item(&state, query, outcome, k))
        .collect();
    Ok(Json(BatchResponse {
        k,
        took_ms: millis(started),
        responses,
    }))
}

/// Receives a request's body within the body timeout (408 `body_timeout` after it) and the
/// size limit (413, at once when the declared `Content-Length` is over it).
async fn read_body(request: Request, state: &AppState) -> Result<Bytes, ApiError> {
    check_declared_length(&request, state.limits.max_body_bytes)?;
    let body = tokio::time::timeout(state.body_timeout, Bytes::from_request(request, state))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the request body did not arrive within {} s",
                    state.body_timeout.as_secs_f64()
                ),
            )
        })?;
    body.map_err(body_error)
}

/// Refuses a body whose declared length is over `limit` bytes before reading any of it.
fn check_declared_length(request: &Request, limit: usize) -> Result<(), ApiError> {
    let declared = request.body().size_hint().lower();
    if declared <= u64::try_from(limit).unwrap_or(u64::MAX) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the body is {declared} bytes long; at most {limit} are accepted"),
    ))
}

/// Turns one query's backend answer into its batch item.
fn batch_item(
    state: &AppState,
    query: String,
    outcome: Result<SearchOutcome, SearchError>,
    k: usize,
) -> BatchItem {
    match outcome {
        Ok(outcome) => {
            let results = result_items(state, outcome.results.clone(), k);
            BatchItem::found(query, outcome, results)
        }
        Err(error) => {
            let body: ErrorBody = ApiError::from(error).body;
            BatchItem {
                query,
                unknown_words: body.unknown_words.clone().unwrap_or_default(),
                results: Vec::new(),
                error: Some(body),
            }
        }
    }
}

/// Runs `work` with the backend on the blocking pool, once a search slot is free.
async fn run_blocking<T, W>(state: &AppState, work: W) -> Result<T, ApiError>
where
    T: Send + 'static,
    W: FnOnce(&dyn SearchBackend) -> T + Send + 'static,
{
    let permit = Arc::clone(&state.slots)
        .acquire_owned()
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the service is stopping",
            )
        })?;
    let backend = Arc::clone(&state.backend);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work(backend.as_ref())
    })
    .await
    .map_err(|error| {
        ApiError::from(SearchError::Backend(format!(
            "the search task failed: {error}"
        )))
    })
}

/// The backend's hits (cut to `k`) with their thumbnail and video URLs.
fn result_items(state: &AppState, hits: Vec<crate::backend::Hit>, k: usize) -> Vec<ResultItem> {
    hits.into_iter()
        .take(k)
        .map(|hit| {
            let thumbnail = state.thumbnails.url(&hit.id);
            let video = state.videos.url(&hit.id);
            ResultItem::new(hit, thumbnail).with_video(video)
        })
        .collect()
}

/// `GET /thumbnails/{ID}.jpg`: the JPEG, if the video has one.
async fn thumbnail(
    State(state): State<AppState>,
    file: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(file) = file.map_err(|rejection| {
        ApiError::bad_request(
            "invalid_thumbnail_name",
            format!("bad thumbnail path: {}", rejection.body_text()),
        )
    })?;
    let bytes = state.thumbnails.load(&file).await?;
    let headers = [
        (header::CONTENT_TYPE, "image/jpeg"),
        (header::CACHE_CONTROL, "public, max-age=3600"),
    ];
    Ok((headers, bytes).into_response())
}

/// `GET /videos/{ID}.{EXT}`: the video file, whole or the byte range asked for.
async fn video(
    State(state): State<AppState>,
    file: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path(file) = file.map_err(|rejection| {
        ApiError::bad_request(
            "invalid_video_name",
            format!("bad video path: {}", rejection.body_text()),
        )
    })?;
    state.videos.respond(&file, range_header(&headers)).await
}

/// The request's `Range` header, unless `If-Range` makes it conditional: the service sends
/// no validators (`ETag`, `Last-Modified`) for it to match, so the whole file is sent.
fn range_header(headers: &HeaderMap) -> Option<&str> {
    if headers.contains_key(header::IF_RANGE) {
        return None;
    }
    headers.get(header::RANGE).and_then(|v| v.to_str().ok())
}

/// A body that could not be read: too large (413) or broken.
fn body_error(rejection: BytesRejection) -> ApiError {
    let status = rejection.status();
    let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "body_too_large"
    } else {
        "invalid_body"
    };
    ApiError::new(status, code, rejection.body_text())
}

/// Adds `X-Content-Type-Options: nosniff` to an answer, so that no browser reads a JSON error,
/// a thumbnail or a video as something else (HTML, script).
async fn nosniff(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Any path without a route.
async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no such page: {}; try / (the web page), /api/search?q=..., /api/info or /health",
        uri.path()
    ))
}

/// A known path asked with the wrong method.
async fn method_not_allowed(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} does not accept this method (search with GET or POST /api/search)",
            uri.path()
        ),
    )
}

/// Milliseconds since `started`, to the microsecond.
fn millis(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1e6).round() / 1e3
}
