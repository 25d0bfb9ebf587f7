//! The benchmark's floor: the service's own `/healthz`, `/readyz` and
//! `POST /api/v1/slugify` handlers behind the same accept loop (hyper
//! settings, connection cap), with no middleware and no logging.
//!
//! `cargo xtask bench throughput` measures it next to nginx and the real
//! service (and `bench instructions` counts its instructions), so the
//! report shows how much of the gap to nginx is the framework itself and
//! how much the middleware stack and the access log add. Not a way to run
//! the service: it has no request ids, limits, metrics or shutdown contract.

use std::process::ExitCode;

use axum::Router;
use axum::routing::{get, post};
use clap::Parser;
use payload::configuration::Cli;
use payload::routes::{health, slugify};
use payload::serve::{ConnectionLimits, Connections};
use payload::state::AppState;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return payload::configuration::report_cli_error(&err),
    };
    let router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/api/v1/slugify", post(slugify::slugify))
        .with_state(AppState::new());
    // Loopback only: this is a benchmark fixture, never a service to reach.
    let listener = match TcpListener::bind(("127.0.0.1", cli.settings.port)).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("error: cannot listen on port {}: {err}", cli.settings.port);
            return ExitCode::FAILURE;
        }
    };
    let connections = Connections::new(router, ConnectionLimits::from(&cli.settings));
    tokio::select! {
        _ = connections.accept(&listener) => {}
        () = payload::shutdown::signal() => {}
    }
    ExitCode::SUCCESS
}
