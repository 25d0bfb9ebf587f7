//! Binding the listener and running the server through the shutdown
//! contract (`docs/kubernetes.md` has the timeline):
//!
//! 1. SIGTERM/SIGINT: readiness flips to 503 at once;
//! 2. for `SHUTDOWN_DELAY_SECONDS` everything is still served, so load
//!    balancers notice the failing readiness and stop routing here;
//! 3. the listener closes;
//! 4. in-flight requests get `SHUTDOWN_TIMEOUT_SECONDS` to finish;
//! 5. the process exits 0.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::TcpListener;

use crate::app::{RequestLimits, app};
use crate::build_info::BUILD_INFO;
use crate::configuration::Settings;
use crate::serve::{ConnectionLimits, Connections};
use crate::state::{AppState, Readiness};

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
        })
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
        match connections.drain(timeout).await {
            0 => {
                tracing::info!("shutdown complete");
                ShutdownOutcome::Drained
            }
            cut_off => {
                tracing::warn!(
                    cut_off,
                    "shutdown timeout passed; cutting off the remaining connections"
                );
                ShutdownOutcome::TimedOut { cut_off }
            }
        }
    }
}
