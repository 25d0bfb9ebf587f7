//! Accepting and serving connections.
//!
//! This uses hyper directly instead of `axum::serve` for the knobs a
//! hardened server needs: a header-read timeout (slowloris), a header size
//! limit, a cap on open connections that answers the excess with a 503
//! instead of letting it queue, and graceful draining that can be awaited
//! with a deadline.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::configuration::Settings;
use crate::http::problem;

/// Request headers larger than this get a 431 and the connection closes.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// How to serve connections, from [`Settings`].
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

impl From<&Settings> for ConnectionLimits {
    fn from(settings: &Settings) -> Self {
        Self {
            header_read_timeout: settings.header_read_timeout(),
            max_connections: settings.max_connections,
        }
    }
}

/// The set of open connections, and the means to drain them.
#[derive(Debug)]
pub struct Connections {
    router: Router,
    http1: http1::Builder,
    permits: Arc<Semaphore>,
    capacity: usize,
    graceful: GracefulShutdown,
}

impl Connections {
    pub fn new(router: Router, limits: ConnectionLimits) -> Self {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_header_size(MAX_HEADER_BYTES);
        Self {
            router,
            http1,
            permits: Arc::new(Semaphore::new(limits.max_connections)),
            capacity: limits.max_connections,
            graceful: GracefulShutdown::new(),
        }
    }

    /// Accepts connections until the future returned by the caller is
    /// dropped. Never returns on its own: accept errors (such as running out
    /// of file descriptors) are logged and retried after a pause.
    pub async fn accept(&self, listener: &TcpListener) -> Infallible {
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => self.serve(stream),
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed; retrying in 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn serve(&self, stream: TcpStream) {
        // Small JSON responses: send them now rather than wait for Nagle.
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream);
        if let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() {
            let service = TowerToHyperService::new(self.router.clone());
            let connection = self
                .graceful
                .watch(self.http1.serve_connection(io, service));
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::debug!(error = %err, "connection closed with an error");
                }
                drop(permit);
            });
        } else {
            let mut http1 = self.http1.clone();
            http1.keep_alive(false);
            let service =
                hyper::service::service_fn(|_request| async { Ok::<_, Infallible>(shed()) });
            let connection = self.graceful.watch(http1.serve_connection(io, service));
            tokio::spawn(async move {
                let _ = connection.await;
            });
        }
    }

    /// Connections being served right now (not counting shed ones).
    pub fn open(&self) -> usize {
        self.capacity - self.permits.available_permits()
    }

    /// Asks every connection to finish its in-flight request and close,
    /// waiting at most `timeout`. Returns how many were still open when the
    /// deadline passed (0 when all drained).
    pub async fn drain(self, timeout: Duration) -> usize {
        let Self {
            graceful,
            permits,
            capacity,
            ..
        } = self;
        match tokio::time::timeout(timeout, graceful.shutdown()).await {
            Ok(()) => 0,
            Err(_) => capacity - permits.available_permits(),
        }
    }
}

/// The answer to a connection over `MAX_CONNECTIONS`: [`problem::overloaded`]
/// with the headers the router's middleware would have added, as this
/// connection never reaches the router.
fn shed() -> Response {
    let mut response = problem::overloaded();
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
