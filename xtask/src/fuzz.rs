//! `cargo xtask fuzz` (the fuzz stage, through `scripts/fuzz.sh`): libFuzzer,
//! through cargo-fuzz, feeds generated input to the slug rules and to the
//! request-body validation for a bounded time each. Unit and property tests
//! cover the cases someone thought of; coverage-guided fuzzing finds the
//! ones nobody did. It needs a nightly toolchain for the sanitizer flags;
//! the service itself stays on stable.

use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::SystemTime;

use crate::cli::Args;
use crate::{Result, fail, log, manifest, output_of, project_root, warn};

const HELP: &str = "scripts/fuzz.sh --help";

pub const USAGE: &str = "\
Usage: scripts/fuzz.sh [--time SECONDS] [TARGET...]

Builds the fuzz targets in fuzz/ (cargo +<nightly> fuzz build: optimised, with
debug assertions and AddressSanitizer), seeds a small corpus, and runs each
target for a bounded time with libFuzzer. Prints runs, speed and coverage per
target; exits non-zero on a crash.

  --time SECONDS   how long each target runs (default 30)
  TARGET           slugify, request_body (default: all)

Needs: the nightly of fuzz/rust-toolchain.toml (scripts/install-tools.sh --only cargo),
cargo-fuzz (pinned in scripts/tools/cargo-tools.txt; scripts/install-tools.sh
installs it) and a C++ compiler (libFuzzer is C++; Debian: apt-get install g++).

A crash leaves its input in fuzz/artifacts/TARGET/; the run prints the
command that replays it. Fix the bug and keep the input as a regression test.
Long runs and corpus handling: docs/reliability.md, section \"Fuzzing\".
";

const TARGETS: &[&str] = &["slugify", "request_body"];

/// The seed corpus: a starting point for each target, so the first seconds
/// already reach the interesting branches. `slugify` reads `MAX_LEN\nTEXT`.
const SEEDS: &[(&str, &str, &str)] = &[
    ("slugify", "hello", "64\nHello, World!"),
    ("slugify", "cut", "5\nabc def"),
    ("slugify", "default", "\nStraße in Köln"),
    ("slugify", "scripts", "256\n北京 Москва Ελληνικά 😀"),
    ("slugify", "zero", "0\nx"),
    ("slugify", "negative", "-1\n!!!"),
    ("slugify", "dashes", "1\n  --  a__b  "),
    ("request_body", "ok", r#"{"text": "Hello, World!"}"#),
    (
        "request_body",
        "max-len",
        r#"{"text": "Crème brûlée: a recipe", "max_len": 12}"#,
    ),
    ("request_body", "no-letters", r#"{"text": "!!!"}"#),
    ("request_body", "zero", r#"{"text": "a", "max_len": 0}"#),
    (
        "request_body",
        "min",
        r#"{"text": "a", "max_len": -9223372036854775808}"#,
    ),
    ("request_body", "wrong-type", r#"{"text": 5}"#),
    (
        "request_body",
        "unknown-field",
        r#"{"text": "a", "colour": "red"}"#,
    ),
    ("request_body", "array", "[1, 2]"),
    (
        "request_body",
        "escapes",
        r#"{"text": "\ud83d\ude00 caf\u00e9 \ud800"}"#,
    ),
    (
        "request_body",
        "nested",
        r#"{"text": [[[[[[[[{"a": null}]]]]]]]]}"#,
    ),
    ("request_body", "empty", "{}"),
    ("request_body", "not-json", "text=hello"),
];

#[derive(Debug, PartialEq, Eq)]
struct Options {
    seconds: u64,
    targets: Vec<&'static str>,
}

fn parse(args: Vec<String>) -> Result<Option<Options>> {
    let mut args = Args::new(args, HELP);
    let mut options = Options {
        seconds: 30,
        targets: Vec::new(),
    };
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--time" => options.seconds = args.number("--time", 1, 86_400)?,
            flag if flag.starts_with('-') => return Err(args.unknown(flag)),
            name => match TARGETS.iter().find(|target| **target == name) {
                Some(target) => options.targets.push(target),
                None => fail!(
                    "unknown fuzz target '{name}'; the targets are: {}",
                    TARGETS.join(", ")
                ),
            },
        }
    }
    if options.targets.is_empty() {
        options.targets = TARGETS.to_vec();
    }
    Ok(Some(options))
}

/// What libFuzzer's log says about a run: the `-print_final_stats` lines
/// and the last status line (`#1234 ... cov: 56 ... corp: 7/90b ...`).
#[derive(Debug, Default, PartialEq, Eq)]
struct Stats {
    runs: Option<u64>,
    per_second: Option<u64>,
    peak_mb: Option<u64>,
    coverage: Option<u64>,
    corpus: Option<u64>,
}

fn stats(log: &str) -> Stats {
    let final_stat = |name: &str| {
        let prefix = format!("stat::{name}:");
        log.lines()
            .filter_map(|line| line.strip_prefix(&prefix))
            .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
            .next_back()
    };
    let status = log
        .lines()
        .rfind(|line| {
            line.strip_prefix('#')
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .unwrap_or_default();
    let field = |name: &str| {
        let mut words = status.split_whitespace();
        words.find(|word| *word == name)?;
        // `corp: 7/90b`: the count before the slash.
        words.next()?.split('/').next()?.parse().ok()
    };
    Stats {
        runs: final_stat("number_of_executed_units"),
        per_second: final_stat("average_exec_per_sec"),
        peak_mb: final_stat("peak_rss_mb"),
        coverage: field("cov:"),
        corpus: field("corp:"),
    }
}

fn row(target: &str, result: &str, stats: &Stats) -> String {
    let show = |value: Option<u64>| value.map_or_else(|| "?".to_owned(), |n| n.to_string());
    format!(
        "{target:<14} {result:<7} {:>12} {:>9} {:>6} {:>7} {:>8}",
        show(stats.runs),
        show(stats.per_second),
        show(stats.coverage),
        show(stats.corpus),
        show(stats.peak_mb)
    )
}

pub fn run(args: Vec<String>) -> Result<()> {
    let Some(options) = parse(args)? else {
        print!("{USAGE}");
        return Ok(());
    };
    let root = project_root()?;
    let nightly = nightly(&root)?;
    preflight(&nightly)?;
    seed(&root)?;
    if let Err(err) = fs::copy(root.join("Cargo.lock"), root.join("fuzz/Cargo.lock")) {
        fail!("cannot copy Cargo.lock into fuzz/: {err}");
    }
    log("building the fuzz targets (nightly, AddressSanitizer; cold: a few minutes)");
    cargo(&root, &nightly, &["fuzz", "build"], None)?;

    let logs = root.join("target/fuzz");
    if let Err(err) = fs::create_dir_all(&logs) {
        fail!("cannot create {}: {err}", logs.display());
    }
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for target in &options.targets {
        let log_path = logs.join(format!("{target}.log"));
        log(&format!(
            "fuzzing {target} for {} s (libFuzzer's output: {})",
            options.seconds,
            log_path.display()
        ));
        let started = SystemTime::now();
        let out = match File::create(&log_path) {
            Ok(file) => file,
            Err(err) => fail!("cannot create {}: {err}", log_path.display()),
        };
        let corpus = format!("fuzz/corpus/{target}");
        let time = format!("-max_total_time={}", options.seconds);
        let args = [
            "fuzz",
            "run",
            target,
            &corpus,
            "--",
            &time,
            "-timeout=10",
            "-print_final_stats=1",
        ];
        let passed = cargo(&root, &nightly, &args, Some(out)).is_ok();
        let output = fs::read_to_string(&log_path).unwrap_or_default();
        if !passed {
            failed.push(*target);
            eprintln!("{}", crate::last_lines(&output, 40));
            report_crash(&root, target, &nightly, started);
        }
        rows.push(row(
            target,
            if passed { "passed" } else { "FAILED" },
            &stats(&output),
        ));
    }
    println!(
        "\n{:<14} {:<7} {:>12} {:>9} {:>6} {:>7} {:>8}",
        "target", "result", "runs", "exec/s", "cov", "corpus", "peak MB"
    );
    println!("{}", rows.join("\n"));
    if !failed.is_empty() {
        fail!("fuzzing found failing inputs in: {}", failed.join(", "));
    }
    log(&format!(
        "fuzz: no crash in {} s per target",
        options.seconds
    ));
    Ok(())
}

/// The dated nightly of fuzz/rust-toolchain.toml.
fn nightly(root: &Path) -> Result<String> {
    let path = root.join("fuzz/rust-toolchain.toml");
    let text = fs::read_to_string(&path).unwrap_or_default();
    match manifest::table_field(&text, "toolchain", "channel") {
        Some(channel) => Ok(channel),
        None => fail!("{} names no channel = \"nightly-...\"", path.display()),
    }
}

fn preflight(nightly: &str) -> Result<()> {
    let toolchains = output_of(Command::new("rustup").args(["toolchain", "list"]))
        .map_err(|err| crate::Error(format!("{err}; fuzzing needs rustup (https://rustup.rs)")))?;
    if !toolchains
        .lines()
        .any(|line| line.starts_with(&format!("{nightly}-")))
    {
        fail!(
            "the toolchain {nightly} (fuzz/rust-toolchain.toml) is not installed: cargo-fuzz needs a nightly for the sanitizer flags. Run scripts/install-tools.sh --only cargo"
        );
    }
    if output_of(
        Command::new("cargo")
            .arg(format!("+{nightly}"))
            .args(["fuzz", "--version"]),
    )
    .is_err()
    {
        fail!(
            "cargo-fuzz is not installed. Run scripts/install-tools.sh (it installs the version pinned in scripts/tools/cargo-tools.txt)."
        );
    }
    if output_of(Command::new("c++").arg("--version")).is_err() {
        fail!(
            "libFuzzer is compiled from C++: install a C++ compiler (Debian: apt-get install g++)."
        );
    }
    Ok(())
}

fn seed(root: &Path) -> Result<()> {
    for (target, name, content) in SEEDS {
        let dir = root.join("fuzz/corpus").join(target);
        let written = fs::create_dir_all(&dir)
            .and_then(|()| fs::write(dir.join(format!("seed-{name}")), content));
        if let Err(err) = written {
            fail!("cannot seed {}: {err}", dir.display());
        }
    }
    Ok(())
}

/// `cargo +NIGHTLY ARGS` from the repository root, its output (stdout and
/// stderr, where libFuzzer writes) to `log` when given, else to ours.
fn cargo(root: &Path, nightly: &str, args: &[&str], log: Option<File>) -> Result<()> {
    let (stdout, stderr) = match log.map(|file| file.try_clone().map(|copy| (copy, file))) {
        Some(Ok((copy, file))) => (Stdio::from(copy), Stdio::from(file)),
        Some(Err(err)) => fail!("cannot share the log file: {err}"),
        None => (Stdio::inherit(), Stdio::inherit()),
    };
    let status = Command::new("cargo")
        .arg(format!("+{nightly}"))
        .args(args)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        // A run under `cargo xtask` inherits the stable toolchain's choice;
        // the `+nightly` above must be what picks the toolchain.
        .env_remove("RUSTUP_TOOLCHAIN")
        .status();
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => fail!("cargo +{nightly} {} failed ({status})", args.join(" ")),
        Err(err) => fail!("cannot run cargo: {err}"),
    }
}

/// Names the input that crashed `target` (the newest artifact since
/// `started`) and how to replay it.
fn report_crash(root: &Path, target: &str, nightly: &str, started: SystemTime) {
    let dir = root.join("fuzz/artifacts").join(target);
    let artifact = fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .find(|entry| {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified >= started)
        });
    match artifact {
        Some(entry) => {
            let path = entry.path();
            let path = path.strip_prefix(root).unwrap_or(&path).display();
            warn(&format!("{target}: failed; the failing input is {path}"));
            warn(&format!(
                "replay it with: cargo +{nightly} fuzz run {target} {path} ; then fix the bug and turn the input into a regression test (docs/reliability.md, Fuzzing)"
            ));
        }
        None => warn(&format!(
            "{target}: failed, with no new input in {}",
            dir.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::owned;

    const LOG: &str = "\
INFO: Seed: 123
#2\tINITED cov: 40 ft: 41 corp: 7/90b exec/s: 0 rss: 30Mb
#4096\tpulse  cov: 52 ft: 60 corp: 9/120b lim: 43 exec/s: 2048 rss: 35Mb
#65536\tNEW    cov: 57 ft: 70 corp: 12/300b lim: 80 exec/s: 3120 rss: 40Mb L: 9/9 MS: 1 ChangeBit-
Done 93000 runs in 31 second(s)
stat::number_of_executed_units: 93000
stat::average_exec_per_sec:     3000
stat::new_units_added:          5
stat::peak_rss_mb:              41
";

    #[test]
    fn libfuzzer_figures_come_from_its_final_stats_and_last_status_line() {
        let figures = stats(LOG);
        assert_eq!(
            figures,
            Stats {
                runs: Some(93_000),
                per_second: Some(3000),
                peak_mb: Some(41),
                coverage: Some(57),
                corpus: Some(12),
            }
        );
        assert_eq!(
            row("slugify", "passed", &figures),
            "slugify        passed         93000      3000     57      12       41"
        );
        // A build that failed before libFuzzer ran: unknown, not zero.
        assert_eq!(stats("error: could not compile\n"), Stats::default());
    }

    #[test]
    fn targets_and_time_are_checked() {
        let options = parse(owned(&["--time", "5", "slugify"]))
            .expect("parses")
            .expect("not help");
        assert_eq!(
            options,
            Options {
                seconds: 5,
                targets: vec!["slugify"]
            }
        );
        let all = parse(owned(&[])).expect("parses").expect("not help");
        assert_eq!(all.targets, TARGETS);
        for (args, says) in [
            (
                &["slug"][..],
                "unknown fuzz target 'slug'; the targets are: slugify, request_body",
            ),
            (&["--time", "0"][..], "--time must be a whole number from 1"),
            (&["--time"][..], "--time needs a value"),
            (&["--fast"][..], "unknown argument '--fast'"),
        ] {
            let err = parse(owned(args)).expect_err(&format!("{args:?}"));
            assert!(err.0.contains(says), "{args:?}: {err}");
        }
    }

    #[test]
    fn every_seed_belongs_to_a_target_and_the_nightly_is_read_from_the_toolchain_file() {
        for (target, name, _) in SEEDS {
            assert!(
                TARGETS.contains(target),
                "seed {name} of unknown target {target}"
            );
        }
        let root = project_root().expect("root");
        assert!(nightly(&root).expect("a channel").starts_with("nightly-"));
        for target in TARGETS {
            assert!(
                root.join(format!("fuzz/fuzz_targets/{target}.rs"))
                    .is_file(),
                "{target}"
            );
        }
    }
}
