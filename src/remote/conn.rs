//! Serving connections with hyper directly, each with two deadlines:
//!
//! - **header**: once the server waits for a request (a new connection, or bytes of the next
//!   request on a kept-alive one), the whole head must arrive within it; a client that sends
//!   its headers a byte at a time, or connects and sends nothing, is disconnected (slowloris).
//! - **idle**: a kept-alive connection with no request in flight and no bytes moving is closed.
//!   A response still streaming (an SSE stream on GET /mcp) is a request in flight, so live
//!   streams are never cut by it. A request body that stops arriving for as long fails the
//!   request (408): the server is then waiting on an idle client just the same.
//!
//! `axum::serve` offers neither (hyper's own `header_read_timeout` also runs while a kept-alive
//! connection waits for its next request, so it cannot be told apart from idleness), and it
//! cannot decorate hyper's own error answers; see `Watched`.

use std::{
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::ConnectInfo,
};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

use super::SECURITY_HEADERS;

/// Largest request head (request line and headers) hyper buffers; beyond it hyper answers 431.
const MAX_HEAD: usize = 64 * 1024;

/// How long shutdown waits for requests in flight before the process goes anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(Clone, Copy)]
pub struct Limits {
    pub header: Duration,
    pub idle: Duration,
}

/// What a connection is doing, for its deadlines.
struct Clock {
    /// Requests whose response has not finished (at most one on HTTP/1).
    in_flight: usize,
    /// When bytes last moved either way, or a request started or ended.
    last_active: Instant,
    /// Since when the server has been reading a request head it has not finished.
    head_since: Option<Instant>,
}

#[derive(Clone)]
struct ConnState(Arc<Mutex<Clock>>);

enum Expired {
    Header,
    Idle,
}

impl ConnState {
    fn new() -> ConnState {
        let now = Instant::now();
        ConnState(Arc::new(Mutex::new(Clock {
            in_flight: 0,
            last_active: now,
            // A new connection owes its first request head at once.
            head_since: Some(now),
        })))
    }

    fn read(&self) {
        let mut c = self.0.lock();
        let now = Instant::now();
        c.last_active = now;
        if c.in_flight == 0 && c.head_since.is_none() {
            c.head_since = Some(now);
        }
    }

    fn wrote(&self) {
        self.0.lock().last_active = Instant::now();
    }

    /// hyper has a whole head and called the service.
    fn begin(&self) -> InFlight {
        let mut c = self.0.lock();
        c.in_flight += 1;
        c.head_since = None;
        c.last_active = Instant::now();
        InFlight(self.clone())
    }

    /// True while hyper reads a head it has not handed to the service: anything it writes then
    /// is its own error answer (400, 431, ...), never one of ours.
    fn reading_head(&self) -> bool {
        let c = self.0.lock();
        c.in_flight == 0 && c.head_since.is_some()
    }

    /// The next instant a deadline could pass, if any can; once the connection is closing only
    /// the header deadline is left to watch.
    fn deadline(&self, limits: Limits, closing: bool) -> Option<Instant> {
        let c = self.0.lock();
        match c.head_since {
            Some(t) => Some(t + limits.header),
            None if c.in_flight == 0 && !closing => Some(c.last_active + limits.idle),
            None => None,
        }
    }

    fn expired(&self, limits: Limits) -> Option<Expired> {
        let c = self.0.lock();
        let now = Instant::now();
        match c.head_since {
            Some(t) if now >= t + limits.header => Some(Expired::Header),
            None if c.in_flight == 0 && now >= c.last_active + limits.idle => Some(Expired::Idle),
            _ => None,
        }
    }
}

/// A request in flight; dropped when its response body ends (or is abandoned).
struct InFlight(ConnState);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut c = self.0.0.lock();
        c.in_flight = c.in_flight.saturating_sub(1);
        c.last_active = Instant::now();
    }
}

/// Why a request failed: its body stopped arriving for the idle timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body stopped arriving")]
pub struct BodyStalled;

/// A request body that fails with `BodyStalled` when no frame arrives for `idle`.
struct Stalling {
    inner: Incoming,
    idle: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for Stalling {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.timer = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let idle = this.idle;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                if timer.as_mut().poll(cx).is_ready() {
                    this.timer = None;
                    return Poll::Ready(Some(Err(Box::new(BodyStalled))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its request counted as in flight until it ends.
struct Tracked {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, watched: reads and writes move the connection's clock, and hyper's own error
/// answers get the security headers.
///
/// hyper answers a request it cannot parse (a malformed request line, a head over `MAX_HEAD`)
/// itself, before any service runs, so no middleware sees that answer. It is the only answer
/// hyper starts while a head is being read, so a write in that state that begins with a status
/// line is recognised here and the headers are spliced in after that line. (One corner: with
/// a pipelined client, our own answer's bytes can be flushed after its body ended and the next
/// head began arriving; it then gets the same headers twice, which is harmless.)
struct Watched {
    inner: TcpStream,
    state: ConnState,
    /// A decorated error answer being written: bytes, how many are out, the length to report.
    pending: Option<(Vec<u8>, usize, usize)>,
}

fn decorate(answer: &[u8]) -> Vec<u8> {
    let split = answer
        .windows(2)
        .position(|w| w == b"\r\n")
        .map_or(answer.len(), |i| i + 2);
    let (status_line, rest) = answer.split_at(split);
    let mut out = Vec::with_capacity(answer.len() + 512);
    out.extend_from_slice(status_line);
    for (name, value) in SECURITY_HEADERS {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"cache-control: no-store\r\n");
    out.extend_from_slice(rest);
    out
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.state.read();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none() && buf.starts_with(b"HTTP/1.") && this.state.reading_head() {
            this.pending = Some((decorate(buf), 0, buf.len()));
        }
        if let Some((bytes, written, reported)) = &mut this.pending {
            // hyper retries the same buffer until it is reported written, so the decorated copy
            // is written in full first and then reported as the original's length.
            while *written < bytes.len() {
                match Pin::new(&mut this.inner).poll_write(cx, &bytes[*written..]) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => *written += n,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
            let n = (*reported).min(buf.len());
            this.pending = None;
            this.state.wrote();
            return Poll::Ready(Ok(n));
        }
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.state.wrote();
        }
        result
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Accepts connections until `stop` is cancelled, then lets each finish what it is doing (SSE
/// streams end with `stop` too, through rmcp's cancellation token) for at most
/// `SHUTDOWN_GRACE`.
pub async fn serve(listener: TcpListener, app: Router, limits: Limits, stop: CancellationToken) {
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(stream, peer, app.clone(), limits, stop.clone()));
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("shutting down with requests still in flight");
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    stop: CancellationToken,
) {
    let state = ConnState::new();
    let io = TokioIo::new(Watched {
        inner: stream,
        state: state.clone(),
        pending: None,
    });
    let service_state = state.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let in_flight = service_state.begin();
        req.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move {
            let req = req.map(|inner| {
                Body::new(Stalling {
                    inner,
                    idle: limits.idle,
                    timer: None,
                })
            });
            let response = match app.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(response.map(|inner| Tracked {
                inner,
                _in_flight: in_flight,
            }))
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .max_header_size(MAX_HEAD)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        let deadline = state.deadline(limits, closing);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stop.cancelled(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = sleep_until(deadline) => match state.expired(limits) {
                Some(Expired::Header) => {
                    tracing::debug!("closing a connection that did not send a request head in time");
                    return;
                }
                Some(Expired::Idle) if !closing => {
                    tracing::debug!("closing an idle connection");
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ => {}
            },
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_own_answers_get_the_security_headers() {
        let answer = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        let text = String::from_utf8(decorate(answer)).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 400 Bad Request\r\nx-content-type-options: nosniff\r\n")
        );
        assert!(text.ends_with("cache-control: no-store\r\ncontent-length: 0\r\n\r\n"));
        assert_eq!(text.matches("\r\n").count(), 3 + SECURITY_HEADERS.len() + 1);
    }
}
