//! `cargo xtask under-load -- COMMAND...`: steady load on a service while
//! COMMAND changes it (a rolling update, a rollback), then the verdict: the
//! command's exit status must be the expected one, requests must have
//! completed, and not one may have failed. One harness for every "change
//! under load" the pipeline proves; the counting is `load.rs`'s.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::cli::Args;
use crate::load::{Counts, Load, LoadPlan};
use crate::{Result, fail, log, step_summary};

const HELP: &str = "cargo xtask under-load --help";

pub const USAGE: &str = "\
Usage: cargo xtask under-load --addr HOST:PORT [OPTIONS] -- COMMAND [ARGS...]

Sends steady POST /api/v1/slugify requests to ADDR, runs COMMAND once the
load is warm, keeps the load on for the cool-down after COMMAND exits, then
stops it and prints the counts (also to $GITHUB_STEP_SUMMARY when set).
Fails when COMMAND's exit status is not the expected one, when no request
completed, or when any request failed: a non-2xx answer, a refused
connection, a connection closed before the answer, a cut-off answer, or one
slower than 5 s.

Options:
  --addr HOST:PORT    where the service listens, e.g. 127.0.0.1:30080
  --connections N     concurrent keep-alive connections (default 8)
  --pause-ms MS       pause between two requests on one connection (default
                      10): steady load, not saturation
  --warm-up S         seconds of load before COMMAND starts (default 3)
  --cool-down S       seconds of load after COMMAND exits (default 3)
  --expect-exit N     COMMAND's expected exit status (default 0)
  --title TEXT        the heading of the report (default: the command)
";

/// What `under-load` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    addr: SocketAddr,
    connections: usize,
    pause: Duration,
    warm_up: Duration,
    cool_down: Duration,
    expect_exit: i32,
    title: Option<String>,
    command: Vec<String>,
}

fn parse(args: Vec<String>) -> Result<Option<Options>> {
    let mut args = Args::new(args, HELP);
    let mut addr = None;
    let mut options = Options {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        connections: 8,
        pause: Duration::from_millis(10),
        warm_up: Duration::from_secs(3),
        cool_down: Duration::from_secs(3),
        expect_exit: 0,
        title: None,
        command: Vec::new(),
    };
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--addr" => {
                let value = args.value("--addr", "127.0.0.1:30080")?;
                addr = match value.parse() {
                    Ok(addr) => Some(addr),
                    Err(_) => fail!(
                        "--addr must be HOST:PORT with an IP address, e.g. 127.0.0.1:30080; got '{value}'"
                    ),
                };
            }
            "--connections" => {
                options.connections =
                    usize::try_from(args.number("--connections", 1, 1024)?).unwrap_or(usize::MAX);
            }
            "--pause-ms" => {
                options.pause = Duration::from_millis(args.number("--pause-ms", 0, 10_000)?);
            }
            "--warm-up" => {
                options.warm_up = Duration::from_secs(args.number("--warm-up", 0, 600)?);
            }
            "--cool-down" => {
                options.cool_down = Duration::from_secs(args.number("--cool-down", 0, 600)?);
            }
            "--expect-exit" => {
                options.expect_exit =
                    i32::try_from(args.number("--expect-exit", 0, 255)?).unwrap_or(0);
            }
            "--title" => options.title = Some(args.value("--title", "'Rolling update'")?),
            "--" => {
                options.command = std::iter::from_fn(|| args.next_arg()).collect();
                break;
            }
            _ => return Err(args.unknown(&arg)),
        }
    }
    let Some(addr) = addr else {
        fail!("give the service's address, e.g. --addr 127.0.0.1:30080 (see {HELP})");
    };
    options.addr = addr;
    if options.command.is_empty() {
        fail!(
            "give the change to run under load after --, e.g. cargo xtask under-load --addr 127.0.0.1:30080 -- kubectl rollout restart deployment/web"
        );
    }
    Ok(Some(options))
}

/// What happened: the command's exit status (`None`: killed by a signal),
/// how long it ran, and the load's counts over how many seconds.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    exit: Option<i32>,
    change_seconds: f64,
    counts: Counts,
    load_seconds: f64,
}

/// Every reason the run failed, in words; empty when it passed.
fn failures(outcome: &Outcome, expect_exit: i32) -> Vec<String> {
    let mut failures = Vec::new();
    match outcome.exit {
        Some(code) if code == expect_exit => {}
        Some(code) => failures.push(format!("the command exited {code}, not {expect_exit}")),
        None => failures.push("the command was killed by a signal".to_owned()),
    }
    if outcome.counts.requests() == 0 {
        failures.push("no request completed: the load never reached the service".to_owned());
    }
    if outcome.counts.failed() > 0 {
        failures.push(format!(
            "{} request(s) failed: {}",
            outcome.counts.failed(),
            outcome.counts.summary()
        ));
    }
    failures
}

/// The report as a Markdown table, for the terminal and the job summary.
fn report(title: &str, command: &str, outcome: &Outcome, expect_exit: i32) -> String {
    let Outcome {
        exit,
        change_seconds,
        counts,
        load_seconds,
    } = *outcome;
    let exit = exit.map_or_else(|| "a signal".to_owned(), |code| code.to_string());
    #[allow(clippy::cast_precision_loss)] // a request count far below 2^52
    let rate = if load_seconds > 0.0 {
        counts.requests() as f64 / load_seconds
    } else {
        0.0
    };
    format!(
        "### {title}\n\n| | |\n|---|---|\n\
         | change | `{command}`: exit {exit} (expected {expect_exit}) after {change_seconds:.1} s |\n\
         | requests | {} in {load_seconds:.1} s (~{rate:.0} req/s) |\n\
         | failed | {} |\n\n",
        counts.requests(),
        counts.summary(),
    )
}

pub fn run(args: Vec<String>) -> Result<()> {
    let Some(options) = parse(args)? else {
        print!("{USAGE}");
        return Ok(());
    };
    let command = options.command.join(" ");
    log(&format!(
        "steady load: {} connections, {} ms between requests, POST http://{}/api/v1/slugify",
        options.connections,
        options.pause.as_millis(),
        options.addr
    ));
    let load = Load::start(&LoadPlan {
        addr: options.addr,
        connections: options.connections,
        pause: options.pause,
        path: "/api/v1/slugify".to_owned(),
        json_body: r#"{"text": "A change without a dropped request"}"#.to_owned(),
    });
    thread::sleep(options.warm_up);
    log(&format!("under load: {command}"));
    let started = Instant::now();
    let status = Command::new(&options.command[0])
        .args(&options.command[1..])
        .stdin(Stdio::null())
        .status();
    let change_seconds = started.elapsed().as_secs_f64();
    thread::sleep(options.cool_down);
    let (counts, load_seconds) = load.finish();
    let status = match status {
        Ok(status) => status,
        Err(err) => fail!("cannot run '{}': {err}", options.command[0]),
    };
    let outcome = Outcome {
        exit: status.code(),
        change_seconds,
        counts,
        load_seconds,
    };
    let report = report(
        options.title.as_deref().unwrap_or(&command),
        &command,
        &outcome,
        options.expect_exit,
    );
    println!("\n{report}");
    step_summary(&report);
    let failures = failures(&outcome, options.expect_exit);
    if !failures.is_empty() {
        fail!("under load, FAILED:\n  - {}", failures.join("\n  - "));
    }
    log(&format!(
        "passed under load: {} requests, 0 failed",
        counts.requests()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::owned;

    fn outcome(exit: Option<i32>, counts: Counts) -> Outcome {
        Outcome {
            exit,
            change_seconds: 1.5,
            counts,
            load_seconds: 8.0,
        }
    }

    const SERVED: Counts = Counts {
        ok: 800,
        non_2xx: 0,
        refused: 0,
        no_response: 0,
        broken: 0,
        timed_out: 0,
        idle_closes: 0,
        resent: 0,
    };

    #[test]
    fn the_options_have_defaults_and_the_command_is_taken_verbatim() {
        let options = parse(owned(&[
            "--addr",
            "127.0.0.1:30080",
            "--",
            "deploy",
            "--flag",
            "--addr",
        ]))
        .expect("parses")
        .expect("not help");
        assert_eq!(options.addr.to_string(), "127.0.0.1:30080");
        assert_eq!((options.connections, options.expect_exit), (8, 0));
        assert_eq!(options.command, ["deploy", "--flag", "--addr"]);

        let options = parse(owned(&[
            "--addr",
            "127.0.0.1:8080",
            "--connections",
            "2",
            "--pause-ms",
            "0",
            "--warm-up",
            "0",
            "--expect-exit",
            "4",
            "--title",
            "Rollback",
            "--",
            "x",
        ]))
        .expect("parses")
        .expect("not help");
        assert_eq!(options.addr.port(), 8080);
        assert_eq!((options.connections, options.expect_exit), (2, 4));
        assert_eq!(
            (options.pause, options.warm_up),
            (Duration::ZERO, Duration::ZERO)
        );
        assert_eq!(options.title.as_deref(), Some("Rollback"));
        assert_eq!(parse(owned(&["--help"])), Ok(None));
    }

    #[test]
    fn bad_options_say_what_to_write() {
        for (args, says) in [
            (&["x"][..], "unknown argument 'x'"),
            (&[][..], "give the service's address"),
            (&["--addr", "127.0.0.1:1"][..], "after --"),
            (&["--addr", "127.0.0.1:1", "--"][..], "after --"),
            (&["--addr", "localhost:1", "--", "x"][..], "'localhost:1'"),
            (
                &["--connections", "0", "--", "x"][..],
                "--connections must be",
            ),
            (
                &["--expect-exit", "256", "--", "x"][..],
                "--expect-exit must be",
            ),
            (&["--title"][..], "--title needs a value"),
        ] {
            let err = parse(owned(args)).expect_err(&format!("{args:?}"));
            assert!(err.0.contains(says), "{args:?}: {err}");
        }
    }

    #[test]
    fn a_run_passes_only_with_the_expected_exit_requests_and_no_failure() {
        assert!(failures(&outcome(Some(0), SERVED), 0).is_empty());
        assert!(failures(&outcome(Some(4), SERVED), 4).is_empty());

        let wrong_exit = failures(&outcome(Some(1), SERVED), 4);
        assert_eq!(wrong_exit, ["the command exited 1, not 4"]);
        assert_eq!(
            failures(&outcome(None, SERVED), 0),
            ["the command was killed by a signal"]
        );
        let idle = failures(&outcome(Some(0), Counts::default()), 0);
        assert!(idle[0].contains("no request completed"), "{idle:?}");

        let one_refused = Counts {
            refused: 1,
            ..SERVED
        };
        let failed = failures(&outcome(Some(0), one_refused), 0);
        assert!(
            failed[0].starts_with("1 request(s) failed") && failed[0].contains("refused 1"),
            "{failed:?}"
        );
    }

    #[test]
    fn the_report_names_the_change_its_exit_and_the_counts() {
        let report = report("Rolling update", "deploy x", &outcome(Some(0), SERVED), 0);
        assert!(report.starts_with("### Rolling update\n"), "{report}");
        assert!(
            report.contains("| change | `deploy x`: exit 0 (expected 0) after 1.5 s |"),
            "{report}"
        );
        assert!(
            report.contains("| requests | 800 in 8.0 s (~100 req/s) |"),
            "{report}"
        );
        assert!(
            report.contains("| failed | 800 requests, 0 failed"),
            "{report}"
        );
    }

    /// A server answering every request with 200 until the process ends.
    fn serve_ok() -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.write_all(answer).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    #[test]
    fn a_command_run_under_real_load_passes_or_fails_by_its_exit_status() {
        let addr = serve_ok();
        let args = |tail: &[&str]| {
            let mut args = owned(&["--addr", &addr, "--connections", "2", "--warm-up", "0"]);
            args.extend(owned(&["--cool-down", "0", "--pause-ms", "5"]));
            args.extend(owned(tail));
            args
        };
        assert_eq!(run(args(&["--", "sleep", "0.3"])), Ok(()));
        let err = run(args(&["--", "false"])).expect_err("false exits 1");
        assert!(err.0.contains("exited 1, not 0"), "{err}");
        let fails_late = ["--expect-exit", "1", "--", "sh", "-c", "sleep 0.3; exit 1"];
        assert_eq!(run(args(&fails_late)), Ok(()));
        let err = run(args(&["--", "/nonexistent/change"])).expect_err("no such program");
        assert!(err.0.contains("cannot run '/nonexistent/change'"), "{err}");
    }
}
