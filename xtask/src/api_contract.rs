//! `cargo xtask api-contract` (through `scripts/api-contract.sh`, and the
//! second half of the reliability stage): the service's /openapi.json must
//! be valid OpenAPI 3.1, and the service must answer as it says, checked by
//! schemathesis with the document as its only knowledge of the API.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::bench::server::{Launch, Server};
use crate::bench::system::free_port;
use crate::{Result, fail, http, log, manifest, project_root};

/// At most this many test cases per operation, from this seed: a run is
/// repeatable, and bounded in time.
const MAX_EXAMPLES: u32 = 500;
const SEED: u32 = 20_260_601;

pub const USAGE: &str = "\
Usage: scripts/api-contract.sh [--debug | --binary PATH]

Builds the release binary (--debug: the debug build; --binary: use PATH, as
the reliability stage does with the binary it built), starts it on a free
loopback port, validates its /openapi.json as OpenAPI 3.1, and runs
schemathesis against it: every phase but stateful (examples, coverage,
fuzzing), positive and negative data, every check, at most 500 test cases
per operation, seed 20260601.

Prints schemathesis's report, then per operation: test cases by kind
(positive: the document allows them; negative: it forbids them) and how many
times each check ran and failed.

Output: target/api-contract/ (the document, the server log, JUnit and NDJSON
reports). Needs the api-test venv of scripts/install-tools.sh.
";

/// Which binary to test.
#[derive(Debug, PartialEq, Eq)]
enum Binary {
    Build { release: bool },
    At(PathBuf),
}

fn parse(args: &[String]) -> Result<Option<Binary>> {
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => Ok(Some(Binary::Build { release: true })),
        ["--debug"] => Ok(Some(Binary::Build { release: false })),
        ["-h" | "--help"] => Ok(None),
        ["--binary", path] => Ok(Some(Binary::At(PathBuf::from(path)))),
        ["--binary"] => fail!("--binary needs the path of an executable"),
        _ => fail!(
            "unknown arguments '{}' (see scripts/api-contract.sh --help)",
            args.join(" ")
        ),
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let Some(binary) = parse(args)? else {
        print!("{USAGE}");
        return Ok(());
    };
    let root = project_root()?;
    let binary = match binary {
        Binary::Build { release } => {
            crate::build_service(&root, &manifest::service_name(&root)?, release)?
        }
        Binary::At(path) => path,
    };
    check(&root, &binary)
}

/// The contract test of the service built at `binary`.
pub fn check(root: &Path, binary: &Path) -> Result<()> {
    if !binary.is_file() {
        fail!("no executable at {}", binary.display());
    }
    let venv = crate::tools_home()?.join("api-test/bin");
    let (schemathesis, validator) = (
        venv.join("schemathesis"),
        venv.join("openapi-spec-validator"),
    );
    if !schemathesis.is_file() || !validator.is_file() {
        fail!(
            "schemathesis and openapi-spec-validator are not installed in {}. Run scripts/install-tools.sh --only api-test.",
            venv.display()
        );
    }
    let out = root.join("target/api-contract");
    if let Err(err) = fs::create_dir_all(&out) {
        fail!("cannot create {}: {err}", out.display());
    }
    let port = free_port()?;
    let mut server = Server::start(&Launch::service(
        "the service",
        binary,
        port,
        "info",
        out.join("server.log"),
    ))?;
    server.wait_ready(
        port,
        "/readyz",
        Duration::from_secs(10),
        Duration::from_millis(50),
    )?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let document = match http::get(addr, "/openapi.json", Duration::from_secs(5)) {
        Ok(response) if response.status == 200 => response.body,
        Ok(response) => fail!(
            "GET /openapi.json answered {}; the server log is in {}",
            response.status,
            out.display()
        ),
        Err(err) => fail!("{err}; the server log is in {}", out.display()),
    };
    let document_path = out.join("openapi.json");
    if let Err(err) = fs::write(&document_path, document) {
        fail!("cannot write {}: {err}", document_path.display());
    }

    log("validating the document as OpenAPI 3.1 (openapi-spec-validator)");
    let valid = Command::new(&validator)
        .args(["--schema", "3.1", "--validation-errors", "all"])
        .arg(&document_path)
        .status()
        .is_ok_and(|status| status.success());
    if !valid {
        fail!(
            "/openapi.json is not a valid OpenAPI 3.1 document (target/api-contract/openapi.json); fix the utoipa annotations that produce the parts named above"
        );
    }

    let base = format!("http://{addr}");
    log(&format!(
        "schemathesis against {base}: at most {MAX_EXAMPLES} cases per operation, seed {SEED}"
    ));
    let started = Instant::now();
    let passed = schemathesis_run(&schemathesis, &base, &out);
    let seconds = started.elapsed().as_secs();
    server.stop(Duration::from_secs(5));

    let events = fs::read_to_string(out.join("events.ndjson")).unwrap_or_default();
    log("what schemathesis checked (count  operation  what  outcome):");
    let tally = tally(&events);
    for (line, count) in &tally.lines {
        println!("{count:>7} {line}");
    }
    log(&format!("checks: {}", tally.checks.join(" ")));
    if !passed {
        fail!(
            "the service breaks its OpenAPI document (schemathesis failed after {seconds} s). Each failure above names the check, the request (as a curl command) and the answer: either make the handler follow the document, or state the rule in the document (utoipa schema attributes) and update the snapshot"
        );
    }
    log(&format!(
        "api contract: the document is valid OpenAPI 3.1 and the service conforms to it ({seconds} s)"
    ));
    Ok(())
}

/// schemathesis on the document at `base`, its reports in `out`: whether
/// every check passed.
fn schemathesis_run(schemathesis: &Path, base: &str, out: &Path) -> bool {
    for stale in [".schemathesis", ".hypothesis"] {
        let _ = fs::remove_dir_all(out.join(stale));
    }
    Command::new(schemathesis)
        .args([
            "run",
            &format!("{base}/openapi.json"),
            "--checks",
            "all",
            "--mode",
            "all",
        ])
        .args([
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            &MAX_EXAMPLES.to_string(),
        ])
        .args([
            "--seed",
            &SEED.to_string(),
            "--generation-database",
            "none",
            "--workers",
            "1",
        ])
        .args([
            "--request-timeout",
            "10",
            "--no-color",
            "--report",
            "junit,ndjson",
        ])
        .arg("--report-junit-path")
        .arg(out.join("junit.xml"))
        .arg("--report-ndjson-path")
        .arg(out.join("events.ndjson"))
        .current_dir(out)
        .status()
        .is_ok_and(|status| status.success())
}

/// What the NDJSON report says was checked: per operation, test cases by
/// generation mode and check outcomes, counted; and the checks' names.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    lines: Vec<(String, u64)>,
    checks: Vec<String>,
}

fn tally(ndjson: &str) -> Tally {
    use std::collections::BTreeMap;
    let mut lines: BTreeMap<String, u64> = BTreeMap::new();
    let mut checks: Vec<String> = Vec::new();
    let events = ndjson
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok());
    for event in events {
        let recorder = &event["ScenarioFinished"]["recorder"];
        let cases = items(&recorder["cases"]);
        let Some(operation) = recorder["label"].as_str().filter(|_| !cases.is_empty()) else {
            continue;
        };
        for case in cases {
            let mode = case["value"]["meta"]["generation"]["mode"]
                .as_str()
                .unwrap_or("?");
            *lines
                .entry(format!("{operation}  test cases  {mode}"))
                .or_default() += 1;
        }
        for check in items(&recorder["checks"]).into_iter().flat_map(items) {
            let status = check["status"].as_str().unwrap_or("?");
            *lines
                .entry(format!("{operation}  checks  {status}"))
                .or_default() += 1;
            if let Some(name) = check["name"]
                .as_str()
                .filter(|name| !checks.iter().any(|c| c == name))
            {
                checks.push(name.to_owned());
            }
        }
    }
    checks.sort();
    Tally {
        lines: lines.into_iter().collect(),
        checks,
    }
}

/// The values of a JSON object or the elements of an array (jq's `.[]`).
fn items(value: &serde_json::Value) -> Vec<&serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map.values().collect(),
        serde_json::Value::Array(list) => list.iter().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::owned;

    #[test]
    fn the_binary_is_built_or_given() {
        assert_eq!(parse(&[]), Ok(Some(Binary::Build { release: true })));
        assert_eq!(
            parse(&owned(&["--debug"])),
            Ok(Some(Binary::Build { release: false }))
        );
        assert_eq!(
            parse(&owned(&["--binary", "/x"])),
            Ok(Some(Binary::At("/x".into())))
        );
        assert_eq!(parse(&owned(&["--help"])), Ok(None));
        assert!(
            parse(&owned(&["--binary"]))
                .expect_err("no path")
                .0
                .contains("needs the path")
        );
        assert!(
            parse(&owned(&["--fast"]))
                .expect_err("unknown")
                .0
                .contains("'--fast'")
        );
    }

    #[test]
    fn the_report_is_tallied_per_operation_mode_and_outcome() {
        let mode =
            |m: &str| format!(r#"{{"value": {{"meta": {{"generation": {{"mode": "{m}"}}}}}}}}"#);
        let check =
            |name: &str, status: &str| format!(r#"{{"name": "{name}", "status": "{status}"}}"#);
        let scenario = format!(
            r#"{{"ScenarioFinished": {{"recorder": {{"label": "POST /api/v1/slugify", "cases": {{"a": {}, "b": {}, "c": {}}}, "checks": {{"a": [{}], "b": [{}, {}]}}}}}}}}"#,
            mode("positive"),
            mode("negative"),
            mode("negative"),
            check("status_code_conformance", "SUCCESS"),
            check("not_a_server_error", "SUCCESS"),
            check("status_code_conformance", "FAILURE"),
        );
        let ndjson = format!(
            "{{\"Initialize\": {{}}}}\n{scenario}\nnot json\n{}\n",
            r#"{"ScenarioFinished": {"recorder": {"label": "GET /healthz"}}}"#
        );
        let tally = tally(&ndjson);
        let expected: Vec<(String, u64)> = [
            ("POST /api/v1/slugify  checks  FAILURE", 1),
            ("POST /api/v1/slugify  checks  SUCCESS", 2),
            ("POST /api/v1/slugify  test cases  negative", 2),
            ("POST /api/v1/slugify  test cases  positive", 1),
        ]
        .into_iter()
        .map(|(line, n)| (line.to_owned(), n))
        .collect();
        assert_eq!(tally.lines, expected);
        assert_eq!(
            tally.checks,
            ["not_a_server_error", "status_code_conformance"]
        );
    }
}
