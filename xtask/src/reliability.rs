//! `cargo xtask reliability` (the reliability stage, through
//! `scripts/reliability.sh`): the reliability suite (tests/reliability/)
//! one case at a time, since its cases measure time and memory; its table;
//! then the API contract test against the same build.

use std::fmt::Write as _;
use std::fs;
use std::time::Instant;

use crate::cli::{Args, parse_number};
use crate::{Result, api_contract, fail, log, manifest, project_root, step_summary, tee};

const HELP: &str = "scripts/reliability.sh --help";

pub const USAGE: &str = "\
Usage: scripts/reliability.sh [--quick] [--debug] [--soak SECONDS] [TEST_FILTER]

Builds the release binary and the reliability suite (tests/reliability/),
runs every case one at a time (they measure time and memory), and prints a
table: case | expected outcome | observed outcome with figures. Then the API
contract test (scripts/api-contract.sh) against the same build.

  --quick          soak for 20 s instead of 60 s
  --debug          test the debug build instead of the release build: reuses
                   what the test stage compiled (the local pipeline uses it,
                   since a cold release test build costs minutes); the
                   assertions are the same, the throughput figures lower
  --soak SECONDS   soak length, 15 to 3600 seconds
  TEST_FILTER      only the tests whose name contains it (e.g. shutdown, soak);
                   skips the API contract test

Output: target/reliability/output.txt (everything) and
target/reliability/results.md (the table, also appended to the GitHub job
summary when GITHUB_STEP_SUMMARY is set). All traffic goes to 127.0.0.1.
docs/reliability.md describes each case and records a run.
";

#[derive(Debug, PartialEq, Eq)]
struct Options {
    soak: u64,
    release: bool,
    filter: Option<String>,
}

fn parse(args: Vec<String>) -> Result<Option<Options>> {
    let mut args = Args::new(args, HELP);
    let mut options = Options {
        soak: 60,
        release: true,
        filter: None,
    };
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--quick" => options.soak = 20,
            "--debug" => options.release = false,
            "--soak" => {
                let value = args.value("--soak", "60")?;
                options.soak = parse_number("--soak", &value, 15, 3600)?;
            }
            flag if flag.starts_with('-') => return Err(args.unknown(flag)),
            filter => {
                if let Some(first) = &options.filter {
                    fail!("give at most one TEST_FILTER (got '{first}' and '{filter}')");
                }
                options.filter = Some(filter.to_owned());
            }
        }
    }
    Ok(Some(options))
}

/// The suite's `RESULT<TAB>case<TAB>expected<TAB>observed` lines as a
/// Markdown table.
fn results_table(output: &str) -> String {
    let mut table = String::from("| case | expected | observed |\n|---|---|---|\n");
    for line in output.lines() {
        let Some(at) = line.find("RESULT\t") else {
            continue;
        };
        let fields: Vec<&str> = line[at..].split('\t').collect();
        if let [_, case, expected, observed, ..] = fields[..] {
            let _ = writeln!(table, "| {case} | {expected} | {observed} |");
        }
    }
    table
}

pub fn run(args: Vec<String>) -> Result<()> {
    let Some(options) = parse(args)? else {
        print!("{USAGE}");
        return Ok(());
    };
    if !cfg!(target_os = "linux") {
        fail!(
            "the reliability suite reads /proc and sends signals with kill: run it on Linux (or in CI)"
        );
    }
    let root = project_root()?;
    let profile = if options.release { "release" } else { "debug" };
    let out = root.join("target/reliability");
    if let Err(err) = fs::create_dir_all(&out) {
        fail!("cannot create {}: {err}", out.display());
    }
    let nextest = |extra: &[&str]| {
        let mut command = crate::cargo();
        command
            .args(["nextest", "run", "--locked", "--test", "reliability"])
            .current_dir(&root);
        if options.release {
            command.arg("--release");
        }
        command.args(extra);
        command
    };
    log(&format!(
        "building the {profile} binary and the suite (a cold release build takes minutes: fat LTO)"
    ));
    let started = Instant::now();
    if !nextest(&["--no-run"])
        .status()
        .is_ok_and(|status| status.success())
    {
        fail!(
            "building the reliability suite failed (above); is cargo-nextest installed? (scripts/install-tools.sh --only cargo)"
        );
    }
    log(&format!("built in {} s", started.elapsed().as_secs()));

    log(&format!(
        "running the suite (soak: {} s); load average now: {}",
        options.soak,
        crate::bench::system::load_average()
    ));
    let started = Instant::now();
    let mut suite = nextest(&["--run-ignored", "only", "--no-capture"]);
    suite
        .args(options.filter.iter())
        .env("RELIABILITY_SOAK_SECONDS", options.soak.to_string());
    let output_path = out.join("output.txt");
    let (output, code) = tee::tee(&mut suite, &output_path)?;
    let seconds = started.elapsed().as_secs();

    let table = results_table(&output);
    let results = out.join("results.md");
    if let Err(err) = fs::write(&results, &table) {
        fail!("cannot write {}: {err}", results.display());
    }
    println!("\n{table}");
    if let Some(summary) = output.lines().find(|line| line.contains("Summary [")) {
        println!("{}\n", summary.trim_start());
    }
    step_summary(&format!(
        "## Reliability ({profile} build, soak {} s)\n\n{table}\n",
        options.soak
    ));

    let contract = if options.filter.is_some() {
        log(
            "TEST_FILTER given: the API contract test is not run (scripts/api-contract.sh runs it alone)",
        );
        Ok(())
    } else {
        let binary = crate::target_dir(&root)
            .join(profile)
            .join(manifest::service_name(&root)?);
        api_contract::check(&root, &binary)
    };
    if code != Some(0) {
        fail!(
            "the reliability suite failed after {seconds} s; the failing test's output is above and in {}",
            output_path.display()
        );
    }
    contract?;
    log(&format!(
        "reliability: all cases passed in {seconds} s; table in {}",
        results.display()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::owned;

    #[test]
    fn options_default_to_a_release_run_with_a_minute_of_soak() {
        let parsed = |args: &[&str]| parse(owned(args)).expect("parses").expect("not help");
        assert_eq!(
            parsed(&[]),
            Options {
                soak: 60,
                release: true,
                filter: None
            }
        );
        assert_eq!(
            parsed(&["--debug", "--soak", "15", "shutdown"]),
            Options {
                soak: 15,
                release: false,
                filter: Some("shutdown".into())
            }
        );
        assert_eq!(parsed(&["--quick"]).soak, 20);
        for (args, says) in [
            (
                &["--soak", "14"][..],
                "--soak must be a whole number from 15 to 3600",
            ),
            (&["a", "b"][..], "at most one TEST_FILTER (got 'a' and 'b')"),
            (&["--slow"][..], "unknown argument '--slow'"),
        ] {
            let err = parse(owned(args)).expect_err(&format!("{args:?}"));
            assert!(err.0.contains(says), "{args:?}: {err}");
        }
    }

    #[test]
    fn the_table_has_one_row_per_result_line_wherever_it_starts() {
        let output = "\
    PASS [1.2s] shutdown
RESULT\tshutdown under load\t0 failed\t0 failed of 9000
noise RESULT\tsoak\tflat memory\t+0.1 MB\textra
RESULT\tshort\tline
";
        assert_eq!(
            results_table(output),
            "| case | expected | observed |\n|---|---|---|\n\
             | shutdown under load | 0 failed | 0 failed of 9000 |\n\
             | soak | flat memory | +0.1 MB |\n"
        );
    }
}
