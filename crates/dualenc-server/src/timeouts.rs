//! How long a client may take at each step of a connection, so that slow or stalled clients
//! cannot hold connections (and the service's shutdown) open.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The time limits of a connection. Each is a bound on a client's slowness, not on the
/// service's: a search that takes long is never cut short by them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Most time from the first byte of a request to the end of its header (request line and
    /// headers). A client still sending its header then is disconnected.
    pub header_read: Duration,
    /// Most time to receive a whole request body, counted from the end of its header (when the
    /// service starts reading it; only `POST /api/search` reads a body). A body not complete
    /// then gets 408 `body_timeout` and the connection is closed.
    pub body_read: Duration,
    /// Most time a connection may wait for the first byte of a request: after it opens, and
    /// between requests of a kept-alive connection. Then it is closed.
    pub idle: Duration,
    /// Most time the client may go without accepting any byte of an answer being sent (a
    /// client that stops reading). Then the connection is closed.
    pub send: Duration,
    /// On shutdown, how long requests in flight may take to finish; connections still open
    /// then are closed, whatever they are doing.
    pub shutdown_grace: Duration,
}

impl Default for Timeouts {
    /// Header 10 s, body 30 s, idle 30 s, send 30 s, shutdown grace 5 s.
    fn default() -> Self {
        Timeouts {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(30),
            idle: Duration::from_secs(30),
            send: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Whether a connection's service is answering a request, shared by the connection's
/// [`TimedStream`] (which bounds the waits between requests) and its service (which marks
/// each request with [`Activity::begin`]).
#[derive(Debug, Default)]
pub(crate) struct Activity {
    /// Whether a request is being answered (HTTP/1 answers one at a time).
    busy: AtomicBool,
    /// How many requests have begun on the connection.
    begun: AtomicU64,
    /// The task of a read left pending while a request was answered. hyper may not read
    /// again by itself once the answer is sent (it waits for the socket), so it is woken then
    /// to start the idle deadline.
    reader: Mutex<Option<Waker>>,
}

impl Activity {
    /// Marks a request as begun; it counts as being answered until the guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.begun.fetch_add(1, Ordering::Relaxed);
        self.busy.store(true, Ordering::Relaxed);
        Busy(Arc::clone(self))
    }

    /// The pending reader's waker (a poisoned lock is used as it is: it only holds a waker).
    fn reader_slot(&self) -> MutexGuard<'_, Option<Waker>> {
        self.reader.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request being answered: see [`Activity::begin`].
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::Relaxed);
        let reader = self.0.reader_slot().take();
        if let Some(reader) = reader {
            reader.wake();
        }
    }
}

/// What the read deadline of a [`TimedStream`] bounds at the moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Nothing: a request is being answered (its body has its own limit).
    Nothing,
    /// The first byte of the next request ([`Timeouts::idle`]).
    Request,
    /// The rest of a request header ([`Timeouts::header_read`]).
    Header,
}

/// A connection's byte stream with the idle, header and send deadlines of [`Timeouts`]: a read
/// or write that stays pending past its deadline fails with [`io::ErrorKind::TimedOut`],
/// which ends the connection.
pub(crate) struct TimedStream<S> {
    /// The socket.
    inner: S,
    /// The limits.
    timeouts: Timeouts,
    /// Whether the service is answering a request.
    activity: Arc<Activity>,
    /// What the read deadline bounds.
    wait: Wait,
    /// The number of requests begun when the current wait started.
    begun: u64,
    /// When the current wait for the client's bytes ends.
    read_deadline: Pin<Box<Sleep>>,
    /// Whether a write is pending (the client takes no bytes), so the send deadline runs.
    send_stalled: bool,
    /// When the current stalled write ends.
    send_deadline: Pin<Box<Sleep>>,
}

impl<S> TimedStream<S> {
    /// Wraps a socket; call inside the tokio runtime.
    pub(crate) fn new(inner: S, timeouts: Timeouts, activity: Arc<Activity>) -> Self {
        TimedStream {
            inner,
            timeouts,
            activity,
            wait: Wait::Nothing,
            begun: 0,
            read_deadline: Box::pin(tokio::time::sleep(Duration::ZERO)),
            send_stalled: false,
            send_deadline: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    /// Starts the idle deadline when a wait for a new request begins: on the first read, and
    /// on the first read after each request.
    fn wait_for_request(&mut self) {
        let begun = self.activity.begun.load(Ordering::Relaxed);
        if self.wait == Wait::Nothing || begun != self.begun {
            self.begun = begun;
            self.wait = Wait::Request;
            let deadline = Instant::now() + self.timeouts.idle;
            self.read_deadline.as_mut().reset(deadline);
        }
    }

    /// Switches from the idle deadline to the header deadline when a request's first bytes
    /// arrive.
    fn header_started(&mut self) {
        if self.wait == Wait::Request {
            self.wait = Wait::Header;
            let deadline = Instant::now() + self.timeouts.header_read;
            self.read_deadline.as_mut().reset(deadline);
        }
    }

    /// For a pending read: an error once the read deadline has passed.
    fn read_expired(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.read_deadline.as_mut().poll(cx));
        let what = match self.wait {
            Wait::Header => "the request header was not complete within the header timeout",
            _ => "no request came within the idle timeout",
        };
        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)))
    }

    /// Runs the send deadline while writes are pending; any progress stops it.
    fn watch_send<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.send_stalled = false;
            return poll;
        }
        if !self.send_stalled {
            self.send_stalled = true;
            let deadline = Instant::now() + self.timeouts.send;
            self.send_deadline.as_mut().reset(deadline);
        }
        ready!(self.send_deadline.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client accepted no bytes of the answer within the send timeout",
        )))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TimedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.activity.busy.load(Ordering::Relaxed) {
            this.wait = Wait::Nothing;
            let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
            if poll.is_pending() {
                *this.activity.reader_slot() = Some(cx.waker().clone());
            }
            return poll;
        }
        this.wait_for_request();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending => this.read_expired(cx),
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                this.header_started();
                Poll::Ready(Ok(()))
            }
            ready => ready,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TimedStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch_send(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch_send(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch_send(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.watch_send(cx, poll)
    }
}
