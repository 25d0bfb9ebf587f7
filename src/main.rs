//! Thin entry point: parse configuration, then hand over to the library.

use std::process::ExitCode;

use clap::Parser;
use payload::configuration::{Cli, Command};
use payload::{healthcheck, log_filter, shutdown, startup::Application, telemetry, traces::Traces};

// musl's allocator serialises threads under load; the musl builds (CI, the
// self-contained Dockerfile path) use mimalloc instead.
#[cfg(target_env = "musl")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return payload::configuration::report_cli_error(&err),
    };

    match cli.command.unwrap_or(Command::Serve) {
        Command::Healthcheck => healthcheck::probe(cli.settings.port).await,
        Command::Serve => serve(cli).await,
    }
}

async fn serve(cli: Cli) -> ExitCode {
    let traces = Traces::from_env();
    telemetry::init(
        &cli.settings.log_filter,
        cli.settings.log_format,
        traces.as_ref().ok().and_then(Option::as_ref),
    );
    let traces = match traces {
        Ok(traces) => traces,
        Err(err) => {
            tracing::error!(error = %err, "cannot start");
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(file) = cli.settings.log_filter_file.clone() {
        let poll = std::time::Duration::from_secs(cli.settings.log_filter_poll_seconds);
        tokio::spawn(log_filter::watch(
            file,
            cli.settings.log_filter.clone(),
            poll,
        ));
    }
    let app = match Application::bind(cli.settings).await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!(error = %err, "cannot start");
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    app.with_traces(traces)
        .run_until_stopped(shutdown::signal())
        .await;
    ExitCode::SUCCESS
}
