//! Binding the listener and running the server through the shutdown
//! contract (`docs/kubernetes.md` has the timeline):
//!
//! 1. SIGTERM/SIGINT: readiness flips to 503 at once;
//! 2. for `SHUTDOWN_DELAY_SECONDS` everything is still served, so load
//!    balancers notice the failing readiness and stop routing here;
//! 3. the listener closes;
//! 4. in-flight requests get `SHUTDOWN_TIMEOUT_SECONDS` to finish;
//! 5. spans still buffered are exported, in what is left of that time;
//! 6. the process exits 0.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::app::{RequestLimits, app};
use crate::build_info::BUILD_INFO;
use crate::configuration::Settings;
use crate::serve::{ConnectionLimits, Connections};
use crate::state::{AppState, Readiness};
use crate::traces::Traces;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}; set PORT to a free port")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// How a shutdown ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownOutcome {
    /// Every in-flight request finished in time.
    Drained,
    /// The shutdown timeout passed; this many connections were cut off.
    TimedOut { cut_off: usize },
}

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    settings: Settings,
    state: AppState,
    traces: Option<Traces>,
}

impl Application {
    /// Binds `0.0.0.0:$PORT`.
    pub async fn bind(settings: Settings) -> Result<Self, StartupError> {
        let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, settings.port));
        Self::bind_to(addr, settings).await
    }

    /// Binds a given address; tests use `127.0.0.1:0`.
    pub async fn bind_to(addr: SocketAddr, settings: Settings) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        Ok(Self {
            listener,
            settings,
            state: AppState::new(),
            traces: None,
        })
    }

    /// Flushes `traces` as the last step of the shutdown.
    #[must_use]
    pub fn with_traces(self, traces: Option<Traces>) -> Self {
        Self { traces, ..self }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    pub fn readiness(&self) -> Readiness {
        self.state.readiness.clone()
    }

    /// Serves until `shutdown` completes, then runs the shutdown contract.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> ShutdownOutcome {
        let Self {
            listener,
            settings,
            state,
            traces,
        } = self;
        let readiness = state.readiness.clone();
        let router = app(state, RequestLimits::from(&settings));
        let connections = Connections::new(router, ConnectionLimits::from(&settings));

        tracing::info!(
            addr = %listener.local_addr().map_or_else(|_| "unknown".to_owned(), |a| a.to_string()),
            version = BUILD_INFO.version,
            git_sha = BUILD_INFO.git_sha,
            "listening"
        );

        let delay = settings.shutdown_delay();
        let shutdown_then_delay = async {
            shutdown.await;
            readiness.shutting_down();
            tracing::info!(
                delay_seconds = delay.as_secs(),
                "readiness now fails; still serving during the shutdown delay"
            );
            tokio::time::sleep(delay).await;
        };
        // Accepting continues while the delay runs; leaving the select drops
        // the accept loop, and dropping the listener refuses new connections.
        tokio::select! {
            _ = connections.accept(&listener) => {}
            () = shutdown_then_delay => {}
        }
        drop(listener);

        let timeout = settings.shutdown_timeout();
        tracing::info!(
            open_connections = connections.open(),
            timeout_seconds = timeout.as_secs(),
            "listener closed; finishing in-flight requests"
        );
        let deadline = Instant::now() + timeout;
        let outcome = match connections.drain(timeout).await {
            0 => ShutdownOutcome::Drained,
            cut_off => {
                tracing::warn!(
                    cut_off,
                    "shutdown timeout passed; cutting off the remaining connections"
                );
                ShutdownOutcome::TimedOut { cut_off }
            }
        };
        // The spans of the last requests, within the same budget, so the
        // whole shutdown still fits the grace period.
        if let Some(traces) = traces {
            traces
                .flush(deadline.saturating_duration_since(Instant::now()))
                .await;
        }
        tracing::info!("shutdown complete");
        outcome
    }
}
