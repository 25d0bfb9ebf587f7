//! `cargo xtask deploy-host IMAGE`: blue-green (and canary) deploys to one
//! Docker host behind nginx, with automatic rollback (scripts/deploy-host.sh
//! forwards to it); `cargo xtask deploy-host-stage`: the local stage that
//! measures it under load (scripts/deploy-host-stage.sh).

mod canary;
mod docker;
mod flow;
mod stage;
mod traffic;

use std::time::Duration;

use crate::cli::Args;
use crate::{Result, fail, log, project_root};

/// `cargo xtask deploy-host-stage`.
pub fn run_stage(args: &[String]) -> Result<()> {
    stage::run(args)
}

const USAGE: &str = "\
Usage: scripts/deploy-host.sh IMAGE [OPTIONS]
       cargo xtask deploy-host IMAGE [OPTIONS]   (the same)

Deploys IMAGE to the Docker engine DOCKER_HOST names (ssh://user@host for a
server; the local engine when unset) with deploy/host/compose.yaml: nginx in
front of two colours of the service, blue and green.

  1. start the idle colour with IMAGE and wait until its /readyz answers 200
  2. with --canary: send it PERCENT of the requests for --canary-seconds,
     reading its 5xx rate from its own /metrics every second
  3. switch all traffic to it (nginx reload: no connection is dropped)
  4. stop the old colour with SIGTERM: it drains, then exits

When the new colour never becomes ready or the canary's 5xx rate crosses
the limit, traffic stays on (or goes back to) the old colour, the new one is
stopped, and the command exits 1 with the reason and the new colour's log.

  --canary PERCENT           canary share, 1 to 50 (default: no canary)
  --canary-seconds SECONDS   how long the canary runs, 5 to 3600 (default 60)
  --max-error-percent P      the canary's 5xx limit, 0 to 100 (default 1)
  --ready-timeout SECONDS    how long to wait for /readyz, 5 to 600 (default 60)
  -h, --help                 this help

Needs Docker Compose v2.24 or newer where the command runs; IMAGE must be
pullable by the host (or present there). docs/deploy-host.md sets it up.
";

pub fn run(args: Vec<String>) -> Result<()> {
    let mut args = Args::new(args, "scripts/deploy-host.sh --help");
    let mut image = None;
    let mut canary_percent = None;
    let (mut canary_seconds, mut max_error_percent, mut ready_timeout) = (60, 1.0, 60);
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            "--canary" => {
                let percent = args.number("--canary", 1, 50)?;
                canary_percent = Some(u8::try_from(percent).unwrap_or(50));
            }
            "--canary-seconds" => canary_seconds = args.number("--canary-seconds", 5, 3600)?,
            "--max-error-percent" => {
                let value = args.value("--max-error-percent", "1")?;
                max_error_percent = match value.parse::<f64>() {
                    Ok(p) if (0.0..=100.0).contains(&p) => p,
                    _ => fail!("--max-error-percent must be a number from 0 to 100, got '{value}'"),
                };
            }
            "--ready-timeout" => ready_timeout = args.number("--ready-timeout", 5, 600)?,
            flag if flag.starts_with('-') => return Err(args.unknown(flag)),
            _ if image.is_some() => fail!(
                "one image only; got '{}' and '{arg}' (see scripts/deploy-host.sh --help)",
                image.unwrap_or_default()
            ),
            _ => image = Some(arg),
        }
    }
    let Some(image) = image else {
        eprint!("{USAGE}");
        fail!(
            "give the image to deploy, e.g. scripts/deploy-host.sh ghcr.io/OWNER/REPO@sha256:..."
        );
    };
    let plan = flow::Plan {
        image,
        canary: canary_percent.map(|percent| flow::Canary {
            percent,
            duration: Duration::from_secs(canary_seconds),
            max_error_percent,
        }),
        ready_timeout: Duration::from_secs(ready_timeout),
        plant: flow::Plant::None,
    };
    let mut engine = docker::Compose::new(&project_root()?)?;
    let deployed = flow::deploy(&mut engine, &plan)?;
    log(&format!(
        "{} serves all traffic with {}",
        deployed.to, plan.image
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::owned;

    #[test]
    fn bad_arguments_say_what_to_do() {
        for (args, message) in [
            (&[][..], "give the image to deploy"),
            (&["a:1", "b:2"], "one image only; got 'a:1' and 'b:2'"),
            (
                &["a:1", "--canary", "80"],
                "--canary must be a whole number from 1 to 50, got '80'",
            ),
            (&["a:1", "--canary"], "--canary needs a value"),
            (
                &["a:1", "--max-error-percent", "lots"],
                "--max-error-percent must be a number from 0 to 100",
            ),
            (&["a:1", "--colour", "red"], "unknown argument '--colour'"),
        ] {
            let err = run(owned(args)).expect_err("refused").0;
            assert!(err.starts_with(message), "{args:?}: {err}");
        }
    }
}
