//! The pipeline's gates must be able to fail: a gate nobody has seen fail is
//! not a gate.
//!
//! Each test copies the repository (tracked files plus new files that are not
//! ignored) into a temporary directory, plants ONE violation there, runs the
//! stage script (or the exact command the stage runs) in the copy, and asserts
//! that it fails with a message naming the problem and, for the stages that
//! run several checks, that the planted gate's check is one that failed. The
//! config-lint test is the exception: its checks read different files, so it
//! plants one violation per check in one copy and asserts that each check
//! failed on its own, which costs one stage run instead of seven.
//!
//! They need the pinned tools (`scripts/install-tools.sh`) and take minutes,
//! so they are ignored by default; `scripts/ci.sh --only gates` runs them (`scripts/gates.sh`):
//! `cargo nextest run --locked --test gates --run-ignored only`.

mod support;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use support::{REPO, RepoCopy, git, target_dir};

/// A script with an unquoted argument: `rm -rf $1` word-splits and globs.
const UNQUOTED_ARGUMENT: &str = "#!/usr/bin/env bash\nset -euo pipefail\nrm -rf $1\n";

/// A throw-away copy of the repository to plant a violation in.
type Sandbox = RepoCopy;

/// Exit code and combined stdout + stderr of a command run in a sandbox.
struct Outcome {
    command: String,
    code: Option<i32>,
    output: String,
}

impl Sandbox {
    /// A copy with every file staged, as in a checkout.
    fn staged() -> Self {
        let copy = RepoCopy::new("payload-gate-");
        git(copy.root(), &["add", "--all"]);
        copy
    }

    fn append(&self, rel: &str, contents: &str) {
        let old = self.read(rel);
        self.write(rel, &format!("{old}{contents}"));
    }

    /// Replaces the first occurrence of `from`; panics when it is missing, so
    /// a test whose target file changed fails loudly instead of planting nothing.
    fn replace_first(&self, rel: &str, from: &str, to: &str) {
        let old = self.read(rel);
        assert!(
            old.contains(from),
            "cannot plant the violation: {rel} no longer contains {from:?}"
        );
        self.write(rel, &old.replacen(from, to, 1));
    }

    /// Adds a line to the `[dependencies]` table of Cargo.toml and records the
    /// new dependency in Cargo.lock (the stages run with --locked).
    fn add_dependency(&self, line: &str) {
        self.replace_first(
            "Cargo.toml",
            "\n[dependencies]\n",
            &format!("\n[dependencies]\n{line}\n"),
        );
        let lock = self.run(&["cargo", "metadata", "--format-version", "1"]);
        assert_eq!(
            lock.code,
            Some(0),
            "updating Cargo.lock failed:\n{}",
            lock.output
        );
    }

    /// Runs a command from the sandbox root. Cargo shares the main target
    /// directory, so dependencies are not compiled again.
    fn run(&self, args: &[&str]) -> Outcome {
        let mut command = Command::new("bash");
        command
            .args(["-c", r#""$@" 2>&1"#, "gate"])
            .args(args)
            .current_dir(self.root())
            .env("CARGO_TARGET_DIR", target_dir())
            .env("CARGO_TERM_COLOR", "never");
        // The scripts take a relative ADVISORY_DB from the repository root;
        // the sandbox root is elsewhere.
        if let Ok(db) = std::env::var("ADVISORY_DB") {
            command.env("ADVISORY_DB", Path::new(REPO).join(db));
        }
        let out = command
            .output()
            .unwrap_or_else(|e| panic!("run {args:?}: {e}"));
        Outcome {
            command: args.join(" "),
            code: out.status.code(),
            output: String::from_utf8_lossy(&out.stdout).into_owned(),
        }
    }
}

impl Outcome {
    /// The checks a stage script reported as failed (`check(s) failed: a, b (`).
    fn failed_checks(&self) -> Vec<String> {
        let Some(start) = self.output.rfind("check(s) failed: ") else {
            return Vec::new();
        };
        let rest = &self.output[start + "check(s) failed: ".len()..];
        let end = rest.find(" (their output").unwrap_or(rest.len());
        rest[..end].split(", ").map(str::to_owned).collect()
    }

    /// The command failed and its output names the problem.
    #[track_caller]
    fn assert_fails_naming(&self, needles: &[&str]) {
        let mut why = String::new();
        if self.code == Some(0) {
            why.push_str("it exited 0; ");
        }
        for needle in needles {
            if !self.output.contains(needle) {
                let _ = write!(why, "its output does not contain {needle:?}; ");
            }
        }
        assert!(
            why.is_empty(),
            "gate `{}` did not fail as it should: {why}output:\n{}",
            self.command,
            self.output
        );
    }

    /// Like `assert_fails_naming`, and the planted gate's own check failed
    /// with the needles in its output.
    #[track_caller]
    fn assert_gate_fails(&self, gate: &str, needles: &[&str]) {
        self.assert_fails_naming(needles);
        let needles: Vec<String> = needles.iter().map(|n| (*n).to_owned()).collect();
        if let Some(miss) = self.check_missed(gate, &needles) {
            panic!("{miss}; output of `{}`:\n{}", self.command, self.output);
        }
    }

    /// Why the gate did not catch its plant, or `None` when a check whose
    /// name starts with `gate` failed and printed every needle between its
    /// opening `--> NAME: COMMAND` and its closing `--> NAME: FAILED` lines
    /// (the stage scripts' `check`): a needle printed by another check does
    /// not count.
    fn check_missed(&self, gate: &str, needles: &[String]) -> Option<String> {
        let failed = self.failed_checks();
        if !failed.iter().any(|c| c.starts_with(gate)) {
            return Some(format!(
                "`{gate}` is not among the failed checks {failed:?}"
            ));
        }
        let caught = failed_check_outputs(&self.output)
            .into_iter()
            .filter(|(name, _)| name.starts_with(gate))
            .any(|(_, body)| needles.iter().all(|n| body.contains(n.as_str())));
        (!caught).then(|| format!("`{gate}` failed without naming all of {needles:?}"))
    }
}

/// (name, output) of each check that failed, from the `--> NAME: ...` lines
/// the stage scripts print around a check.
fn failed_check_outputs(output: &str) -> Vec<(&str, String)> {
    let mut sections = Vec::new();
    let mut open: Option<(&str, String)> = None;
    for line in output.lines() {
        let marker = line.strip_prefix("--> ");
        match (&mut open, marker) {
            (Some((name, body)), Some(rest)) if rest.starts_with(&format!("{name}: ")) => {
                if rest[name.len() + 2..].starts_with("FAILED") {
                    sections.push((*name, std::mem::take(body)));
                }
                open = None;
            }
            (Some((_, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, Some(rest)) => {
                if let Some((name, _command)) = rest.split_once(": ") {
                    open = Some((name, String::new()));
                }
            }
            (None, None) => {}
        }
    }
    sections
}

#[test]
fn failed_check_outputs_keeps_each_failed_checks_own_lines() {
    let output = "--> a: tool-a x\nA said this\n--> a: FAILED with exit code 1 (0s)\n\
                  --> b: tool-b\nB is fine\n--> b: ok (0s)\n\
                  --> c d: tool-c\nC said that\n--> c d: FAILED with exit code 2 (1s)\n";
    assert_eq!(
        failed_check_outputs(output),
        [
            ("a", "A said this\n".to_owned()),
            ("c d", "C said that\n".to_owned())
        ]
    );
}

/// A workflow that passes every linter; tests add one bad step to it.
fn workflow(step: &str) -> String {
    format!(
        "name: gate probe\non:\n  push:\npermissions: {{}}\njobs:\n  probe:\n    runs-on: ubuntu-24.04\n    \
         timeout-minutes: 5\n    steps:\n{step}"
    )
}

// ---------------------------------------------------------------- rust-lint

#[test]
#[ignore = "gates: runs the pinned tools on a copy of the repository; minutes"]
fn clippy_rejects_a_lint() {
    let sandbox = Sandbox::staged();
    sandbox.append(
        "src/lib.rs",
        "\n/// Planted by tests/gates.rs.\npub fn gate_probe(bytes: &Vec<u8>) -> usize {\n    bytes.len()\n}\n",
    );
    let out = sandbox.run(&["scripts/lint-rust.sh"]);
    out.assert_gate_fails("clippy", &["ptr_arg", "gate_probe"]);
}

#[test]
#[ignore = "gates: runs the pinned tools on a copy of the repository; minutes"]
fn rustfmt_rejects_unformatted_code() {
    let sandbox = Sandbox::staged();
    sandbox.append("src/lib.rs", "\npub fn gate_probe( )->u8{1}\n");
    // The rustfmt half of scripts/lint-rust.sh, without a clippy build.
    let out = sandbox.run(&["cargo", "fmt", "--all", "--check"]);
    out.assert_fails_naming(&["Diff in", "src/lib.rs"]);
}

// ---------------------------------------------------------------- config-lint

/// One violation per config-lint check, each in a file of its own, so one
/// run of the stage sees them all (the stage runs every check even after one
/// fails): a plant, the check that must catch it, and what that check's own
/// output must say.
struct ConfigPlant {
    check: &'static str,
    needles: Vec<String>,
}

#[test]
#[ignore = "gates: runs the pinned tools on a copy of the repository; minutes"]
fn config_lint_fails_naming_each_planted_violation() {
    let sandbox = Sandbox::staged();
    let plants = [
        plant_unquoted_variable_in_a_run_block(&sandbox),
        plant_an_unpinned_action(&sandbox),
        plant_an_unquoted_variable_in_a_script(&sandbox),
        plant_a_root_container(&sandbox),
        plant_trailing_spaces(&sandbox),
        plant_an_unknown_manifest_field(&sandbox),
        plant_a_latest_image(&sandbox),
    ];
    // Through the runner, as a user runs it: a failed stage fails ci.sh.
    let out = sandbox.run(&["scripts/ci.sh", "--only", "config-lint"]);
    out.assert_fails_naming(&["config-lint", "FAILED", "0 passed, 1 failed, 0 skipped"]);
    let misses: Vec<String> = plants
        .iter()
        .filter_map(|plant| out.check_missed(plant.check, &plant.needles))
        .collect();
    assert!(
        misses.is_empty(),
        "config-lint let planted violations through:\n  {}\noutput:\n{}",
        misses.join("\n  "),
        out.output
    );
}

fn plant_unquoted_variable_in_a_run_block(sandbox: &Sandbox) -> ConfigPlant {
    let file = "gate-probe-actionlint.yml";
    sandbox.write(
        &format!(".github/workflows/{file}"),
        &workflow("      - run: echo $GATE_PROBE\n"),
    );
    ConfigPlant {
        check: "actionlint",
        needles: vec!["SC2086".into(), file.into()],
    }
}

fn plant_an_unpinned_action(sandbox: &Sandbox) -> ConfigPlant {
    let file = "gate-probe-zizmor.yml";
    let step =
        "      - uses: actions/checkout@v7\n        with:\n          persist-credentials: false\n";
    sandbox.write(&format!(".github/workflows/{file}"), &workflow(step));
    ConfigPlant {
        check: "zizmor",
        needles: vec!["unpinned-uses".into(), file.into()],
    }
}

fn plant_an_unquoted_variable_in_a_script(sandbox: &Sandbox) -> ConfigPlant {
    let file = "scripts/gate-probe.sh";
    sandbox.write(file, UNQUOTED_ARGUMENT);
    ConfigPlant {
        check: "shellcheck",
        needles: vec!["SC2086".into(), file.into()],
    }
}

fn plant_a_root_container(sandbox: &Sandbox) -> ConfigPlant {
    sandbox.append("Dockerfile", "\nUSER root\n");
    ConfigPlant {
        check: "hadolint",
        needles: vec!["DL3002".into()],
    }
}

fn plant_trailing_spaces(sandbox: &Sandbox) -> ConfigPlant {
    let file = "k8s/base/kustomization.yaml";
    sandbox.append(file, "# planted by tests/gates.rs   \n");
    ConfigPlant {
        check: "yamllint",
        needles: vec!["trailing-spaces".into(), file.into()],
    }
}

fn plant_an_unknown_manifest_field(sandbox: &Sandbox) -> ConfigPlant {
    // A misspelt field: the API server would silently drop it (no --strict
    // there), so the typo would only show as a setting that never applies.
    sandbox.replace_first(
        "k8s/base/deployment.yaml",
        "\nspec:\n",
        "\nspec:\n  replica: 3\n",
    );
    ConfigPlant {
        check: "kubernetes-validate",
        needles: vec!["'replica' was unexpected".into()],
    }
}

fn plant_a_latest_image(sandbox: &Sandbox) -> ConfigPlant {
    let manifest = sandbox.read("k8s/base/deployment.yaml");
    let image_line = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("image: "))
        .expect("k8s/base/deployment.yaml names an image");
    let indent = &image_line[..image_line.len() - image_line.trim_start().len()];
    sandbox.replace_first(
        "k8s/base/deployment.yaml",
        image_line,
        &format!("{indent}image: payload:latest"),
    );
    ConfigPlant {
        check: "checkov",
        needles: vec!["CKV_K8S_14".into()],
    }
}

// ---------------------------------------------------------------- supply-chain

#[test]
#[ignore = "gates: runs the pinned tools on a copy of the repository; minutes"]
fn cargo_deny_rejects_a_copyleft_licence() {
    let sandbox = Sandbox::staged();
    sandbox.write(
        "gate-probe/Cargo.toml",
        "[package]\nname = \"gate-probe\"\nversion = \"0.1.0\"\nedition = \"2024\"\nlicense = \"GPL-3.0-only\"\n",
    );
    sandbox.write("gate-probe/src/lib.rs", "//! Planted by tests/gates.rs.\n");
    sandbox.add_dependency(r#"gate-probe = { path = "gate-probe", version = "0.1.0" }"#);
    let out = sandbox.run(&["scripts/supply-chain.sh"]);
    out.assert_gate_fails("cargo-deny", &["GPL-3.0-only", "rejected", "gate-probe"]);
}

#[test]
#[ignore = "gates: runs the pinned tools on a copy of the repository; minutes"]
fn cargo_deny_rejects_a_wildcard_dependency() {
    let sandbox = Sandbox::staged();
    // In Cargo.lock already (http and serde_json use it) but not a direct
    // dependency, so only the requirement changes.
    sandbox.add_dependency(r#"itoa = "*""#);
    let out = sandbox.run(&["scripts/supply-chain.sh"]);
    out.assert_gate_fails("cargo-deny", &["wildcard", "itoa"]);
}

#[test]
#[ignore = "gates: runs the pinned tools on a copy of the repository; minutes"]
fn advisories_reject_a_vulnerable_crate() {
    let sandbox = Sandbox::staged();
    // smallvec 0.6.13: heap buffer overflow in insert_many (RUSTSEC-2021-0003).
    sandbox.add_dependency(r#"smallvec-old = { package = "smallvec", version = "=0.6.13" }"#);
    let out = sandbox.run(&["scripts/supply-chain.sh"]);
    assert!(
        !out.output.contains("advisories not checked"),
        "this gate needs the RustSec database: set ADVISORY_DB to a checkout or bundle of it, \
         or run scripts/gates.sh, which leaves this gate out and reports SKIPPED:\n{}",
        out.output
    );
    out.assert_fails_naming(&["RUSTSEC-2021-0003"]);
    // Both tools must see it on their own.
    assert_eq!(
        out.failed_checks(),
        ["cargo-deny", "cargo-audit"],
        "output:\n{}",
        out.output
    );
}

// ---------------------------------------------------------------- scan

#[test]
#[ignore = "gates: runs the pinned tools on a copy of the repository; minutes"]
fn trivy_config_rejects_a_root_container() {
    let sandbox = Sandbox::staged();
    sandbox.append("Dockerfile", "\nUSER root\n");
    let out = sandbox.run(&["scripts/scan.sh", "config"]);
    out.assert_gate_fails("trivy config", &["DS-0002", "should not be 'root'"]);
}

#[test]
#[ignore = "gates: runs the pinned tools on a copy of the repository; minutes"]
fn trivy_secret_rejects_a_token() {
    let sandbox = Sandbox::staged();
    // Built at run time, so this file itself holds no token-shaped string.
    let token = format!("ghp_{}", "A1b2C3d4E5f6".repeat(3));
    sandbox.write("deploy/production.env", &format!("GITHUB_TOKEN={token}\n"));
    let out = sandbox.run(&["scripts/scan.sh", "secrets"]);
    out.assert_gate_fails("trivy secret", &["github-pat", "deploy/production.env"]);
}

// ---------------------------------------------------------------- reliability

#[test]
#[ignore = "gates: runs the pinned tools on a copy of the repository; minutes"]
fn monitoring_rejects_a_metric_renamed_in_the_service_only() {
    let sandbox = Sandbox::staged();
    // The service renames a metric; the dashboard still charts the old name.
    sandbox.replace_first(
        "src/metrics.rs",
        "\"http_requests_in_flight\"",
        "\"http_requests_active\"",
    );
    // The monitoring stage's command, without its planted faults.
    let out = sandbox.run(&["cargo", "xtask", "monitoring"]);
    out.assert_fails_naming(&[
        "panel \"Requests in flight, by instance\" target A: no series",
        "1 check(s) failed",
    ]);
}

#[test]
#[ignore = "gates: runs the pinned tools on a copy of the repository; minutes"]
fn schemathesis_rejects_a_rule_the_document_does_not_state() {
    let sandbox = Sandbox::staged();
    // A new validation rule in the handler, with no schema change: the
    // document still allows max_len up to 256.
    sandbox.replace_first(
        "src/routes/slugify.rs",
        "    let spec = SlugSpec::parse(",
        "    if request.max_len.is_some_and(|n| n > 100) {\n        \
         return Err(Problem::invalid_field(\"max_len\", \"must be at most 100\"));\n    }\n    \
         let spec = SlugSpec::parse(",
    );
    // The contract half of scripts/reliability.sh, without the reliability suite.
    let out = sandbox.run(&["scripts/api-contract.sh", "--debug"]);
    out.assert_fails_naming(&[
        "POST /api/v1/slugify",
        "must be at most 100",
        "the service breaks its OpenAPI document",
    ]);
}
