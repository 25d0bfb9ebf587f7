//! `cargo xtask ci` (the README's test command, through `scripts/ci.sh`):
//! runs every pipeline stage this machine can run, in the order the GitHub
//! workflows run them, and ends with a summary table.
//!
//! Why one runner: the workflows call the same stage scripts, so a green run
//! here means the pull request's checks see the same code, config and tool
//! versions. A stage that cannot run here (no Docker engine, no kind, no
//! access to Trivy's vulnerability database) exits 3 after printing
//! `SKIPPED: <reason>` and shows up as SKIPPED, never as PASSED.

mod report;
mod stages;
mod tools;

use std::fmt::Write as _;
use std::fs;
use std::io::IsTerminal;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use report::{Row, Verdict};
use stages::{FULL_TIME_BOXES, QUICK_TIME_BOXES, STAGES, Stage};

use crate::{Result, fail, log, project_root, step_summary};

const HELP: &str = "scripts/ci.sh --help";

const USAGE: &str = "\
Usage: scripts/ci.sh [--only STAGE...] [--skip STAGE...] [--fail-fast] [--quick]
                     [--no-install] [--list] [--help]

Runs the pipeline stages in order and prints a summary: stage | result | seconds.
Exit status is non-zero when any stage FAILED. A stage that cannot run on this
machine is SKIPPED with its reason (never reported as passed).

First it installs the pinned tools the selected stages need that are missing
(scripts/install-tools.sh; idempotent, seconds when all are present). System
packages and arm64 emulation need root: when they are missing it stops and
prints the one command that installs them.

Options:
  --only STAGE...  run only these stages (in pipeline order)
  --skip STAGE...  run every stage except these
  --fail-fast      stop after the first failed stage
  --quick          shorter time boxes (below) for a rerun during the day; every
                   check still runs. Refused in CI, which runs the full ones.
  --no-install     install nothing: stop with the list of what is missing
  --list           print the stage names and exit
  -h, --help       this help

Each stage's output is streamed and also saved to target/ci-logs/<stage>.log.
Environment: ADVISORY_DB=<git checkout or bundle> runs the supply-chain and scan
stages against that advisory database snapshot instead of fetching it;
IMAGE (default <service>:local) names the image under test.
";

/// What the command line asked for.
#[derive(Debug, Default, PartialEq, Eq)]
struct Options {
    only: Vec<&'static str>,
    skip: Vec<&'static str>,
    fail_fast: bool,
    quick: bool,
    install: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Request {
    Help,
    List,
    Run(Options),
}

/// `in_ci`: `CI` is set, and `--quick` is refused.
fn parse(args: Vec<String>, in_ci: bool) -> Result<Request> {
    let mut options = Options {
        install: true,
        ..Options::default()
    };
    let mut into: Option<&str> = None;
    for arg in args {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Request::Help),
            "--list" => return Ok(Request::List),
            "--only" | "--skip" => into = Some(if arg == "--only" { "only" } else { "skip" }),
            "--fail-fast" => options.fail_fast = true,
            "--quick" => options.quick = true,
            "--no-install" => options.install = false,
            flag if flag.starts_with('-') => fail!("unknown option '{flag}' (see {HELP})"),
            name => {
                let Some(list) = into else {
                    fail!("'{name}': put stage names after --only or --skip (see {HELP})");
                };
                let Some(stage) = stages::find(name) else {
                    fail!("unknown stage '{name}' (scripts/ci.sh --list shows the stages)");
                };
                if list == "only" {
                    options.only.push(stage.name);
                } else {
                    options.skip.push(stage.name);
                }
            }
        }
    }
    if let Some(list) = into
        && options.only.is_empty()
        && options.skip.is_empty()
    {
        fail!("--{list} needs at least one stage name");
    }
    if options.quick && in_ci {
        fail!(
            "--quick shortens the fuzz and soak time boxes; CI runs the full ones (unset CI to use it on your machine)"
        );
    }
    Ok(Request::Run(options))
}

/// The selected stages, in pipeline order.
fn plan(options: &Options) -> Vec<&'static Stage> {
    STAGES
        .iter()
        .filter(|stage| {
            if options.only.is_empty() {
                !options.skip.contains(&stage.name)
            } else {
                options.only.contains(&stage.name)
            }
        })
        .collect()
}

fn usage() -> String {
    let mut text = format!(
        "{USAGE}\nTime boxes: {}; with --quick: {}\n\nStages:\n",
        stages::describe(FULL_TIME_BOXES),
        stages::describe(QUICK_TIME_BOXES)
    );
    for stage in STAGES {
        let _ = writeln!(text, "  {:<15} {}", stage.name, stage.checks);
    }
    text
}

pub fn run(args: Vec<String>) -> Result<()> {
    let in_ci = std::env::var_os("CI").is_some_and(|value| !value.is_empty());
    let options = match parse(args, in_ci)? {
        Request::Help => {
            print!("{}", usage());
            return Ok(());
        }
        Request::List => {
            for stage in STAGES {
                println!("{}", stage.name);
            }
            return Ok(());
        }
        Request::Run(options) => options,
    };
    let plan = plan(&options);
    if plan.is_empty() {
        fail!("no stage selected");
    }
    let root = project_root()?;
    let logs = root.join("target/ci-logs");
    if let Err(err) = fs::create_dir_all(&logs) {
        fail!("cannot create {}: {err}", logs.display());
    }
    tools::ensure(&logs, &plan, options.install)?;

    let boxes = if options.quick {
        QUICK_TIME_BOXES
    } else {
        FULL_TIME_BOXES
    };
    let started = Instant::now();
    let mut rows = Vec::new();
    for (i, stage) in plan.iter().enumerate() {
        let row = run_stage(&root, &logs, stage, boxes, (i + 1, plan.len()))?;
        let failed = row.verdict.is_failed();
        rows.push(row);
        if failed && options.fail_fast {
            log("--fail-fast: stopping after the first failed stage");
            break;
        }
    }

    // A failed stage's last lines again, at the end of the run, where a
    // reader of a long CI log (or of only its tail) looks first.
    for row in rows.iter().filter(|row| row.verdict.is_failed()) {
        let output =
            fs::read_to_string(logs.join(format!("{}.log", row.stage))).unwrap_or_default();
        println!(
            "\n--- {0} failed; its last 40 lines (all: target/ci-logs/{0}.log) ---\n{1}",
            row.stage,
            crate::last_lines(&output, 40)
        );
    }
    println!("\n{}", report::table(&rows));
    step_summary(&report::markdown(&rows));
    println!("{}", report::totals(&rows, started.elapsed().as_secs()));
    if options.quick {
        log(&format!(
            "--quick: time boxes {} (CI runs {})",
            stages::describe(QUICK_TIME_BOXES),
            stages::describe(FULL_TIME_BOXES)
        ));
    }
    if rows.iter().any(|row| row.verdict.is_failed()) {
        fail!("a stage failed (the table above)");
    }
    Ok(())
}

/// Runs one stage with bash from the repository root, no stdin (a stage must
/// never wait for input; CI has none either), its output streamed and saved.
fn run_stage(
    root: &Path,
    logs: &Path,
    stage: &Stage,
    boxes: &[(&str, &str)],
    (number, of): (usize, usize),
) -> Result<Row> {
    let log_path = logs.join(format!("{}.log", stage.name));
    let in_actions = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
    if in_actions {
        println!("::group::{}", stage.name);
    }
    println!(
        "\n>>> [{number}/{of}] {}: {}  (log: target/ci-logs/{}.log)",
        stage.name, stage.command, stage.name
    );
    let started = Instant::now();
    let mut command = Command::new("bash");
    command
        .args(["-c", stage.command])
        .current_dir(root)
        .stdin(Stdio::null())
        .envs(boxes.iter().copied());
    // cargo and friends stop colouring output that goes into a pipe; keep
    // colour when a person is watching.
    if std::io::stdout().is_terminal() && std::env::var_os("CARGO_TERM_COLOR").is_none() {
        command.env("CARGO_TERM_COLOR", "always");
    }
    let (output, code) = crate::tee::tee(&mut command, &log_path)?;
    let verdict = Verdict::of(code, &output);
    let seconds = started.elapsed().as_secs();
    if in_actions {
        println!("::endgroup::");
    }
    println!("<<< {}: {verdict} in {seconds}s", stage.name);
    Ok(Row {
        stage: stage.name,
        verdict,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::owned;

    fn options(args: &[&str]) -> Options {
        match parse(owned(args), false) {
            Ok(Request::Run(options)) => options,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn only_and_skip_select_stages_in_pipeline_order() {
        let names = |args: &[&str]| {
            plan(&options(args))
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&["--only", "fuzz", "test"]), ["test", "fuzz"]);
        assert_eq!(names(&[]).len(), STAGES.len());
        let skipped = names(&["--skip", "fuzz", "deploy"]);
        assert_eq!(skipped.len(), STAGES.len() - 2);
        assert!(!skipped.contains(&"fuzz") && !skipped.contains(&"deploy"));
        let o = options(&["--fail-fast", "--no-install", "--quick"]);
        assert!(o.fail_fast && !o.install && o.quick);
        assert_eq!(
            parse(owned(&["--list", "--bogus"]), false),
            Ok(Request::List)
        );
        assert_eq!(parse(owned(&["-h"]), true), Ok(Request::Help));
    }

    #[test]
    fn mistakes_are_named_with_the_fix() {
        for (args, in_ci, says) in [
            (
                &["--only", "tests"][..],
                false,
                "unknown stage 'tests' (scripts/ci.sh --list",
            ),
            (
                &["test"][..],
                false,
                "put stage names after --only or --skip",
            ),
            (
                &["--skip"][..],
                false,
                "--skip needs at least one stage name",
            ),
            (&["--verbose"][..], false, "unknown option '--verbose'"),
            (&["--quick"][..], true, "CI runs the full ones"),
        ] {
            let err = parse(owned(args), in_ci).expect_err(&format!("{args:?}"));
            assert!(err.0.contains(says), "{args:?}: {err}");
        }
    }

    #[test]
    fn a_stage_is_run_by_bash_and_its_whole_output_logged() {
        let dir = std::env::temp_dir().join(format!("ci-tee-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let log_path = dir.join("s.log");
        let mut command = Command::new("bash");
        command.args([
            "-c",
            "echo out; echo err >&2; echo SKIPPED: no engine; exit 3",
        ]);
        let (output, code) = crate::tee::tee(&mut command, &log_path).expect("runs");
        assert_eq!(code, Some(3));
        assert_eq!(output, "out\nerr\nSKIPPED: no engine\n");
        assert_eq!(fs::read_to_string(&log_path).expect("log"), output);
        assert_eq!(
            Verdict::of(code, &output),
            Verdict::Skipped("no engine".into())
        );
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn the_help_lists_every_stage_and_the_time_boxes() {
        let help = usage();
        assert!(help.contains("Time boxes: SOAK_SECONDS=20 FUZZ_SECONDS=30; with --quick:"));
        for stage in STAGES {
            assert!(help.contains(&format!("  {:<15} {}", stage.name, stage.checks)));
        }
    }
}
