//! `cargo xtask <command>`: see lib.rs; this file only dispatches.

use std::process::ExitCode;

const USAGE: &str = "\
Usage: cargo xtask <command> [ARGS]

Commands:
  ci [--only STAGE...] [OPTIONS]          every pipeline stage, then a summary (scripts/ci.sh)
  rename NEW_NAME [--force] [--dry-run]   rename the service everywhere
  bench throughput|instructions|image     performance figures (docs/performance.md)
  fuzz [--time SECONDS] [TARGET...]       bounded cargo-fuzz runs (scripts/fuzz.sh)
  reliability [--debug] [--soak S]        the reliability suite, then api-contract
  api-contract [--debug | --binary PATH]  schemathesis against the service's OpenAPI document
  deploy-host IMAGE [OPTIONS]             blue-green/canary deploy to one Docker host
  deploy-host-stage OLD_IMAGE NEW_IMAGE   that deploy under load, locally (a ci.sh stage)
  release-assets --binary T=PATH --sbom F package and verify a release's assets
  release-notes VERSION                   a version's notes from CHANGELOG.md
  monitoring [--plant-faults]             dashboard and alerts against a real Prometheus
  under-load --addr A -- COMMAND          run a change under steady load: no request may fail
  install-tools [--only PART] [--check]   the pinned tools (scripts/install-tools.sh)
  build-binary [--arch A] [--glibc]       the musl binaries that ship (scripts/build-binary.sh)
  deploy-kind [IMAGE] | --delete          deploy to the kind cluster, rolled back when it fails
  rollout-test [--expect-rollback] IMAGE  deploy-kind under load: no request may fail

`cargo xtask <command> --help` describes each.
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    let rest: Vec<String> = args.collect();
    // The one command whose exit status says more than pass or fail: 4 is
    // "failed and rolled back".
    if command.as_deref() == Some("deploy-kind") {
        return match xtask::kind::deploy::run(rest) {
            Ok(code) => ExitCode::from(code),
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let result = match command.as_deref() {
        Some("ci") => xtask::ci::run(rest),
        Some("rename") => xtask::rename::run(rest),
        Some("bench") => xtask::bench::run(rest),
        Some("deploy-host") => xtask::deploy_host::run(rest),
        Some("fuzz") => xtask::fuzz::run(rest),
        Some("reliability") => xtask::reliability::run(rest),
        Some("api-contract") => xtask::api_contract::run(&rest),
        Some("deploy-host-stage") => xtask::deploy_host::run_stage(&rest),
        Some("release-assets") => xtask::release::run_assets(rest),
        Some("release-notes") => xtask::release::run_notes(rest),
        Some("monitoring") => xtask::monitoring::run(rest),
        Some("under-load") => xtask::under_load::run(rest),
        Some("rollout-test") => xtask::kind::rollout::run(rest),
        Some("install-tools") => xtask::install::run(rest),
        Some("build-binary") => xtask::build_binary::run(rest),
        Some("-h" | "--help") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(xtask::Error(format!(
            "unknown command '{other}'; the commands are ci, rename, bench, deploy-host, fuzz, reliability, api-contract, deploy-host-stage, release-assets, release-notes, monitoring, under-load, install-tools, build-binary, deploy-kind and rollout-test (cargo xtask --help)"
        ))),
        None => {
            eprint!("{USAGE}");
            Err(xtask::Error(
                "give a command, e.g. cargo xtask rename my-service".to_owned(),
            ))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
