//! `cargo xtask bench instructions`: the noise-free half of the benchmark,
//! user-space instructions per request, counted by valgrind (callgrind)
//! rather than timed. On a shared VM the CPU time per request that
//! `bench throughput` reports moves by 20% from one run to the next; an
//! instruction count does not move at all for the same binary and inputs, so
//! it shows what a code change costs, even by a few hundred instructions. It
//! leaves out the kernel (the TCP stack, write(2) of log lines), which
//! `bench throughput` does measure.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::otlp_sink::OtlpSink;
use super::server::{Launch, Server};
use super::system::{self, free_port, require_tool};
use super::table::{Align, Table};
use super::{Binaries, Endpoint, FLOOR_LABEL, SLUGIFY_BODY, WorkDir};
use crate::cli::Args;
use crate::{Error, Result, fail, log};

const HELP: &str = "cargo xtask bench instructions --help";

const USAGE: &str = "\
Usage: cargo xtask bench instructions [--requests N] [--binary PATH]

Builds the release binary and the framework floor (examples/bench_floor.rs),
then for GET /healthz and POST /api/v1/slugify counts the user-space
instructions each of them executes per request:
  - floor: the same handlers and accept loop, no middleware, no log;
  - the service with RUST_LOG=warn: the whole middleware stack, no access log;
  - the service in its default configuration (JSON access log at info);
  - the same with traces on: every request sampled (OTEL_TRACES_SAMPLER=
    always_on) and exported to a local OTLP endpoint that accepts and drops.
Each server runs under valgrind --tool=callgrind twice, once for a small and
once for a large number of requests (sent by ab over 8 keep-alive
connections); the difference divided by the difference in requests removes
start-up and shutdown from the figure. Prints a Markdown table.

Options:
  --requests N   requests in the large run (default 10000; the small run is N/5)
  --binary PATH  count this service binary instead of the cargo build for this
                 host (glibc), e.g. the musl binary that ships:
                 dist/linux/amd64/<name>
  -h, --help     this text

Needs: cargo, valgrind and ab.
  Debian/Ubuntu: apt-get install -y valgrind apache2-utils
Takes about 3 minutes after the build (valgrind runs the server ~50x slower).
";

const INSTALL_HINT: &str =
    "Debian/Ubuntu: apt-get install -y valgrind apache2-utils; this benchmark is not part of CI.";

#[derive(Debug, PartialEq, Eq)]
struct Options {
    requests: u64,
    binary: Option<String>,
}

fn parse(args: Vec<String>) -> Result<Option<Options>> {
    let mut options = Options {
        requests: 10_000,
        binary: None,
    };
    let mut args = Args::new(args, HELP);
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--requests" => options.requests = args.number(&arg, 1000, 9_999_999)?,
            "--binary" => options.binary = Some(args.value(&arg, "dist/linux/amd64/<name>")?),
            _ => return Err(args.unknown(&arg)),
        }
    }
    Ok(Some(options))
}

/// The three servers of the table.
#[derive(Debug, Clone, Copy)]
enum Variant {
    Floor,
    Warn,
    Info,
    Traced,
}

pub(super) fn run(args: Vec<String>) -> Result<()> {
    let Some(options) = parse(args)? else {
        print!("{USAGE}");
        return Ok(());
    };
    let valgrind = require_tool("valgrind", INSTALL_HINT)?;
    require_tool("ab", INSTALL_HINT)?;
    let binaries = Binaries::build(options.binary.as_deref())?;
    let work = WorkDir::new(&format!("{}-instructions", binaries.name))?;
    fs::write(work.path("body.json"), SLUGIFY_BODY)
        .map_err(|e| Error(format!("cannot write the request body: {e}")))?;
    let small = options.requests / 5;
    let sink = OtlpSink::start()?;
    let counter = Counter {
        valgrind: &valgrind,
        work: &work,
        otlp_endpoint: &sink.endpoint,
    };
    let mut table = Table::new(&[
        ("server", Align::Left),
        ("GET /healthz instructions/request", Align::Right),
        ("POST /api/v1/slugify instructions/request", Align::Right),
    ]);
    for variant in [
        Variant::Floor,
        Variant::Warn,
        Variant::Info,
        Variant::Traced,
    ] {
        let (binary, filter, label) = match variant {
            Variant::Floor => (&binaries.floor, "warn", FLOOR_LABEL.to_owned()),
            Variant::Warn => (
                &binaries.service,
                "warn",
                format!(
                    "{}, RUST_LOG=warn (middleware, no access log)",
                    binaries.name
                ),
            ),
            Variant::Info => (
                &binaries.service,
                "info",
                format!("{}, defaults: JSON access log", binaries.name),
            ),
            Variant::Traced => (
                &binaries.service,
                "info",
                format!(
                    "{}, defaults and traces: every request sampled and exported",
                    binaries.name
                ),
            ),
        };
        let mut cells = vec![label];
        for endpoint in Endpoint::ALL {
            log(&format!(
                "{}, {}: {small} then {} requests under callgrind",
                format!("{variant:?}").to_lowercase(),
                endpoint.path(),
                options.requests
            ));
            let traced = matches!(variant, Variant::Traced);
            let a = counter.count(binary, filter, traced, endpoint, small)?;
            let b = counter.count(binary, filter, traced, endpoint, options.requests)?;
            cells.push(per_request(a, b, options.requests - small).to_string());
        }
        table.row(cells);
    }
    // The slugify runs' spans are exported when each server stops: none
    // means the traced figures measured no export at all.
    if sink.exports() == 0 {
        fail!("the traced server exported no span to {}", sink.endpoint);
    }
    let sha = system::git_sha(&binaries.root);
    let valgrind_version = system::version_line("valgrind", &["--version"]);
    println!(
        "\n- commit {}, {}, valgrind {}; service binary {}\n\n{table}",
        &sha[..sha.len().min(12)],
        super::rustc_version(),
        valgrind_version.trim_start_matches("valgrind-"),
        binaries.service_shown()
    );
    Ok(())
}

/// Instructions per request from two runs that differ only in the number of
/// requests: start-up and shutdown cancel out.
fn per_request(small_run: u64, large_run: u64, extra_requests: u64) -> u64 {
    large_run.saturating_sub(small_run) / extra_requests.max(1)
}

struct Counter<'a> {
    valgrind: &'a Path,
    work: &'a WorkDir,
    otlp_endpoint: &'a str,
}

impl Counter<'_> {
    /// Total instructions of one server run that answers `requests`
    /// requests, then stops on SIGTERM.
    fn count(
        &self,
        binary: &Path,
        filter: &str,
        traced: bool,
        endpoint: Endpoint,
        requests: u64,
    ) -> Result<u64> {
        let port = free_port()?;
        let out = self.work.path("callgrind.out");
        let mut launch = Launch::service(
            "the server under valgrind",
            binary,
            port,
            filter,
            self.work.path("server.log"),
        );
        launch.args = vec![
            "--tool=callgrind".to_owned(),
            format!("--callgrind-out-file={}", out.display()),
            binary.display().to_string(),
        ];
        launch.program = self.valgrind.to_path_buf();
        if traced {
            for (name, value) in [
                ("OTEL_EXPORTER_OTLP_ENDPOINT", self.otlp_endpoint),
                ("OTEL_TRACES_SAMPLER", "always_on"),
            ] {
                launch.env.push((name.to_owned(), value.to_owned()));
            }
        }
        let mut server = Server::start(&launch)?;
        server.wait_ready(
            port,
            "/readyz",
            Duration::from_mins(1),
            Duration::from_millis(200),
        )?;
        let url = format!("http://127.0.0.1:{port}{}", endpoint.path());
        let mut ab = Command::new("ab");
        ab.args(["-q", "-k", "-n", &requests.to_string(), "-c", "8"]);
        if endpoint == Endpoint::Slugify {
            ab.arg("-p")
                .arg(self.work.path("body.json"))
                .args(["-T", "application/json"]);
        }
        let result = ab
            .arg(&url)
            .output()
            .map_err(|e| Error(format!("cannot run ab: {e}")))?;
        let report = String::from_utf8_lossy(&result.stdout).into_owned();
        if !result.status.success() {
            fail!(
                "ab failed against {url}: {}{report}",
                String::from_utf8_lossy(&result.stderr)
            );
        }
        let (failed, non2xx) = ab_errors(&report);
        // Every answer must be a 2xx: an error is cheaper than a real answer.
        if failed + non2xx > 0 {
            fail!(
                "ab saw {failed} failed and {non2xx} non-2xx answers from {}",
                endpoint.path()
            );
        }
        if !server.stop(Duration::from_secs(30)) {
            fail!(
                "the server exited with an error under valgrind:\n{}",
                server.log_tail(5)
            );
        }
        let profile = fs::read_to_string(&out)
            .map_err(|e| Error(format!("valgrind wrote no profile {}: {e}", out.display())))?;
        match callgrind_total(&profile) {
            Some(total) => Ok(total),
            None => fail!("{} has no summary: or totals: line", out.display()),
        }
    }
}

/// `Failed requests:` and `Non-2xx responses:` from ab's report (ab leaves
/// out the second line when there were none).
fn ab_errors(report: &str) -> (u64, u64) {
    let field = |name: &str| {
        report
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("Failed requests:"), field("Non-2xx responses:"))
}

/// The instruction count of a callgrind profile: its first `summary:` or
/// `totals:` line.
fn callgrind_total(profile: &str) -> Option<u64> {
    profile.lines().find_map(|line| {
        let rest = line
            .strip_prefix("summary:")
            .or_else(|| line.strip_prefix("totals:"))?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_bounded_and_default_to_ten_thousand() {
        let parse_args = |args: &[&str]| parse(crate::cli::owned(args));
        assert_eq!(
            parse_args(&[]).expect("valid").expect("not help").requests,
            10_000
        );
        assert!(
            parse_args(&["--requests", "999"])
                .expect_err("too few")
                .0
                .contains("from 1000 to 9999999")
        );
        assert!(
            parse_args(&["-n"])
                .expect_err("unknown")
                .0
                .contains("unknown argument '-n'")
        );
    }

    #[test]
    fn the_per_request_figure_cancels_start_up() {
        assert_eq!(
            per_request(1_000_000 + 2000 * 50_000, 1_000_000 + 10_000 * 50_000, 8000),
            50_000
        );
    }

    #[test]
    fn ab_errors_are_read_and_absent_lines_are_zero() {
        let report = "Complete requests:      1000\nFailed requests:        3\n   (Connect: 0, Receive: 0, Length: 3, Exceptions: 0)\nNon-2xx responses:      7\n";
        assert_eq!(ab_errors(report), (3, 7));
        assert_eq!(ab_errors("Failed requests:        0\n"), (0, 0));
    }

    #[test]
    fn the_callgrind_total_is_the_summary_line() {
        assert_eq!(
            callgrind_total("events: Ir\nfl=x\nsummary: 123456\n"),
            Some(123_456)
        );
        assert_eq!(callgrind_total("totals: 42 7\n"), Some(42));
        assert_eq!(callgrind_total("events: Ir\n"), None);
    }
}
