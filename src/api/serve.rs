//! The HTTP/1.1 server loop: a cap on open connections, and slow or idle connections closed.
//!
//! `axum::serve` has no connection limit and no timeouts, so a client that opens connections
//! and sends half a request holds a file descriptor each, for ever. This loop:
//!
//! - takes a permit from a semaphore *before* `accept`, so at most `server.max_connections`
//!   are open; further clients wait in the kernel's accept queue and are served as others close;
//! - watches each connection: once a byte of a request head has arrived, the whole head must
//!   follow within `server.header_timeout_secs`; a connection with no request in progress and no
//!   traffic for `server.idle_timeout_secs` (a kept-alive connection, or one that never sent
//!   anything) is closed. A request being handled is never cut: the request time limit
//!   (`server.request_timeout_secs`) and body timeout (`server.body_timeout_secs`) bound it;
//! - on shutdown, stops accepting and lets requests in progress finish.
//!
//! Timing is observed at the socket ([`Watched`]) and at the service (a guard per request),
//! so it needs nothing from hyper's internals.

use super::metrics::HttpMetrics;
use crate::shutdown::Shutdown;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

/// Connection limits, from `[server]`.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl ServeOptions {
    pub fn from_config(server: &crate::config::Server) -> ServeOptions {
        ServeOptions {
            header_timeout: Duration::from_secs(server.header_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(server.idle_timeout_secs.max(1)),
            max_connections: server.max_connections.max(1) as usize,
        }
    }

    /// How often a connection's clock is looked at: a quarter of the shortest limit.
    fn tick(&self) -> Duration {
        (self.header_timeout.min(self.idle_timeout) / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(1))
    }
}

/// Why a connection was closed by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// A request head did not arrive in time.
    SlowHeaders,
    /// Nothing happened for the idle timeout.
    Idle,
}

/// Serves `app` on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    metrics: Arc<HttpMetrics>,
    mut shutdown: Shutdown,
) {
    let permits = Arc::new(Semaphore::new(options.max_connections));
    let mut connections = JoinSet::new();
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shutdown.recv() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.recv() => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let metrics = metrics.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            metrics.connection_opened();
            let closed = serve_connection(stream, peer, app, options, shutdown).await;
            metrics.connection_closed(closed);
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    // Requests in progress finish; idle connections close at once (graceful shutdown).
    while connections.join_next().await.is_some() {}
}

/// One connection, until it ends or is closed; says why when the server closed it.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    options: ServeOptions,
    mut shutdown: Shutdown,
) -> Option<Closed> {
    let clock = Arc::new(Clock::new(Instant::now()));
    let io = TokioIo::new(Watched {
        inner: stream,
        clock: clock.clone(),
    });
    let service_clock = clock.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
        let in_flight = InFlight::begin(service_clock.clone());
        let mut request = request.map(axum::body::Body::new);
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await;
            drop(in_flight);
            response
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        // hyper's own clock as a backstop; ours ([`Clock`]) is the one that normally acts.
        .header_read_timeout(options.header_timeout + options.idle_timeout)
        .serve_connection(io, service);
    tokio::pin!(connection);
    let mut tick = tokio::time::interval(options.tick());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut draining = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return None;
            }
            _ = tick.tick() => {
                if let Some(reason) = clock.verdict(Instant::now(), &options) {
                    tracing::debug!(%peer, ?reason, "closing a connection");
                    return Some(reason);
                }
            }
            _ = shutdown.recv(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What the watcher needs to know about one connection.
#[derive(Debug)]
struct Clock {
    state: Mutex<ClockState>,
}

#[derive(Debug, Clone, Copy)]
struct ClockState {
    /// Requests being handled.
    in_flight: u32,
    /// Since when the connection has had no request and no traffic.
    quiet_since: Instant,
    /// When the first byte of the next request head arrived (no request in progress).
    head_started: Option<Instant>,
}

impl Clock {
    fn new(now: Instant) -> Clock {
        Clock {
            state: Mutex::new(ClockState {
                in_flight: 0,
                quiet_since: now,
                head_started: None,
            }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut ClockState) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn read(&self, now: Instant) {
        self.with(|s| {
            if s.in_flight == 0 && s.head_started.is_none() {
                s.head_started = Some(now);
            }
        });
    }

    fn wrote(&self, now: Instant) {
        self.with(|s| {
            if s.in_flight == 0 && s.head_started.is_none() {
                s.quiet_since = now;
            }
        });
    }

    fn begin(&self) {
        self.with(|s| {
            s.in_flight += 1;
            s.head_started = None;
        });
    }

    fn end(&self, now: Instant) {
        self.with(|s| {
            s.in_flight = s.in_flight.saturating_sub(1);
            if s.in_flight == 0 {
                s.quiet_since = now;
                s.head_started = None;
            }
        });
    }

    /// Should the connection be closed at `now`, and why.
    fn verdict(&self, now: Instant, options: &ServeOptions) -> Option<Closed> {
        let s = self.with(|s| *s);
        if s.in_flight > 0 {
            return None;
        }
        match s.head_started {
            Some(at) if now.duration_since(at) >= options.header_timeout => {
                Some(Closed::SlowHeaders)
            }
            Some(_) => None,
            None if now.duration_since(s.quiet_since) >= options.idle_timeout => Some(Closed::Idle),
            None => None,
        }
    }
}

/// Counts a request as in progress while it lives.
struct InFlight(Arc<Clock>);

impl InFlight {
    fn begin(clock: Arc<Clock>) -> InFlight {
        clock.begin();
        InFlight(clock)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end(Instant::now());
    }
}

/// A socket that tells the [`Clock`] when bytes move.
struct Watched {
    inner: TcpStream,
    clock: Arc<Clock>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.read(Instant::now());
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.wrote(Instant::now());
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.wrote(Instant::now());
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> ServeOptions {
        ServeOptions {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 8,
        }
    }

    #[test]
    fn idle_and_slow_headers_are_told_apart() {
        let t0 = Instant::now();
        let s = |secs| t0 + Duration::from_secs(secs);
        let o = options();
        let clock = Clock::new(t0);
        // Nothing sent: idle after 60 s, not after 10 s.
        assert_eq!(clock.verdict(s(30), &o), None);
        assert_eq!(clock.verdict(s(60), &o), Some(Closed::Idle));
        // A byte of a head at 50 s: the head must be complete by 60 s.
        clock.read(s(50));
        clock.read(s(55));
        assert_eq!(clock.verdict(s(59), &o), None);
        assert_eq!(clock.verdict(s(60), &o), Some(Closed::SlowHeaders));
        // The head completed at 58 s: a request in progress is never closed.
        clock.begin();
        assert_eq!(clock.verdict(s(500), &o), None);
        // Done at 500 s: the kept-alive connection has its idle time again.
        clock.end(s(500));
        clock.wrote(s(501));
        assert_eq!(clock.verdict(s(560), &o), None);
        assert_eq!(clock.verdict(s(561), &o), Some(Closed::Idle));
    }
}
