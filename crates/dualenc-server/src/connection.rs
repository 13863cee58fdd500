//! Accepting and serving connections: HTTP/1.1 with the time limits of [`Timeouts`], at most
//! [`ServerConfig::max_connections`] at once, and a shutdown bounded by
//! [`Timeouts::shutdown_grace`].

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::server::ServerConfig;
use crate::timeouts::{Activity, TimedStream, Timeouts};

/// Where the service is in its life, as every connection sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// Serving requests.
    Serving,
    /// Stopping: finish the request in flight, then close.
    Closing,
    /// The grace period is over: close now.
    Closed,
}

/// Accepts connections on `listener` and serves `app` on each until `shutdown` completes; then
/// stops accepting, lets requests in flight finish for at most the grace period, closes the
/// connections still open and returns.
pub(crate) async fn serve_connections<F>(
    listener: TcpListener,
    app: Router,
    config: &ServerConfig,
    shutdown: F,
) where
    F: Future<Output = ()>,
{
    let capacity = u32::try_from(config.max_connections)
        .unwrap_or(u32::MAX)
        .max(1);
    let slots = Arc::new(Semaphore::new(capacity as usize));
    let (stage, watcher) = watch::channel(Stage::Serving);
    let service = TowerToHyperService::new(app);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &slots) => accepted,
        };
        let Some((stream, slot)) = accepted else {
            continue;
        };
        let connection = Connection {
            service: service.clone(),
            timeouts: config.timeouts,
            stage: watcher.clone(),
            _slot: slot,
        };
        tokio::spawn(connection.run(stream));
    }
    drop(listener);
    close_all(&stage, &slots, capacity, config.timeouts.shutdown_grace).await;
}

/// Waits for a free connection slot, then for a connection; `None` after a failed accept
/// (after a pause when the failure is not the client's, e.g. too many open files). The slots
/// are never closed, so waiting for one cannot fail.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(TcpStream, OwnedSemaphorePermit)> {
    let slot = Arc::clone(slots).acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, _peer)) => Some((stream, slot)),
        Err(error) => {
            pause_after(error).await;
            None
        }
    }
}

/// Logs a failed accept and, unless a client broke it off, pauses before the next one.
async fn pause_after(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "cannot accept a connection; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Tells every connection to close once idle, waits for them at most `grace`, then closes
/// the rest and waits until all are gone (every connection holds one of `capacity` slots).
async fn close_all(
    stage: &watch::Sender<Stage>,
    slots: &Semaphore,
    capacity: u32,
    grace: Duration,
) {
    stage.send_replace(Stage::Closing);
    if tokio::time::timeout(grace, slots.acquire_many(capacity))
        .await
        .is_ok()
    {
        return;
    }
    let open = capacity as usize - slots.available_permits();
    tracing::warn!(
        open,
        ?grace,
        "grace period over: closing the connections still open"
    );
    stage.send_replace(Stage::Closed);
    let _all_closed = slots.acquire_many(capacity).await;
}

/// One accepted connection and what it needs.
struct Connection {
    /// The application.
    service: TowerToHyperService<Router>,
    /// The limits on the client.
    timeouts: Timeouts,
    /// The service's stage.
    stage: watch::Receiver<Stage>,
    /// The connection's slot, given back when the connection ends.
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    /// Serves HTTP/1.1 on `stream` until the client or the service closes it.
    async fn run(mut self, stream: TcpStream) {
        let activity = Arc::new(Activity::default());
        let io = TokioIo::new(TimedStream::new(
            stream,
            self.timeouts,
            Arc::clone(&activity),
        ));
        let service = Tracked {
            service: self.service,
            activity,
        };
        let connection = http1::Builder::new()
            // Replaced by `TimedStream`'s idle and header deadlines.
            .header_read_timeout(None)
            .serve_connection(io, service);
        tokio::pin!(connection);
        let result = match until(connection.as_mut(), &mut self.stage, Stage::Closing).await {
            Some(result) => result,
            None => {
                connection.as_mut().graceful_shutdown();
                let closed = until(connection.as_mut(), &mut self.stage, Stage::Closed).await;
                let Some(result) = closed else {
                    return;
                };
                result
            }
        };
        if let Err(error) = result {
            tracing::debug!(%error, "connection closed on an error");
        }
    }
}

/// Drives `work` until it ends (`Some` of its output) or the service reaches `stage` (`None`).
async fn until<F: Future>(
    work: Pin<&mut F>,
    stages: &mut watch::Receiver<Stage>,
    stage: Stage,
) -> Option<F::Output> {
    tokio::select! {
        output = work => Some(output),
        _ = stages.wait_for(|now| *now >= stage) => None,
    }
}

/// The application as hyper calls it, marking each request as begun and answered for the
/// connection's deadlines.
#[derive(Clone)]
struct Tracked {
    /// The application.
    service: TowerToHyperService<Router>,
    /// The connection's activity.
    activity: Arc<Activity>,
}

impl Service<Request<Incoming>> for Tracked {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let busy = self.activity.begin();
        let answer = self.service.call(request.map(Body::new));
        Box::pin(async move {
            let answer = answer.await;
            drop(busy);
            answer
        })
    }
}
