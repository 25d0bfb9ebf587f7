//! The repository's own tooling, run as `cargo xtask <command>` (the alias is
//! in `.cargo/config.toml`): logic that computes something lives here, with
//! unit tests, and the shell scripts only glue tools together.
//!
//! - `rename`: renames the service everywhere (`scripts/rename.sh` forwards
//!   to it);
//! - `bench`: the performance figures of docs/performance.md
//!   (`scripts/bench.sh` forwards to it);
//! - `deploy-host`: blue-green and canary deploys to one Docker host behind
//!   nginx (`scripts/deploy-host.sh`), and `deploy-host-stage`, the local
//!   stage that measures them under load;
//! - `release-assets`: packages and verifies a release's asset set
//!   (`scripts/release-assets.sh`), and `release-notes`, a version's notes;
//! - `monitoring`: the dashboard's and the alerts' expressions against a
//!   real Prometheus, and the alerts' promtool tests (a ci.sh stage).

pub mod api_contract;
pub mod bench;
pub mod build_binary;
pub mod ci;
pub mod cli;
pub mod deploy_host;
pub mod fuzz;
pub mod http;
pub mod install;
pub mod kind;
pub mod load;
pub mod manifest;
pub mod monitoring;
pub mod release;
pub mod reliability;
pub mod rename;
pub mod ship;
pub mod tee;
pub mod under_load;

use std::fmt;
use std::path::{Path, PathBuf};

/// A failure the user can act on: the message says what was wrong and what to
/// do. `main` prints it as `error: <message>` and exits 1.
#[derive(Debug, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// `Err(Error(format!(...)))`.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err($crate::Error(format!($($arg)*)))
    };
}

/// Runs `command` to the end and returns its stdout; an error naming the
/// command with its stderr when it cannot start or fails.
pub fn output_of(command: &mut std::process::Command) -> Result<String> {
    output_with_input(command, None)
}

/// `output_of`, with `input` written to the command's stdin when given.
pub fn output_with_input(
    command: &mut std::process::Command,
    input: Option<&str>,
) -> Result<String> {
    use std::io::Write as _;
    use std::process::Stdio;
    let program = command.get_program().to_string_lossy().into_owned();
    let args: Vec<String> = command
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let stdin = if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let mut child = command
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error(format!("cannot run {program}: {e}")))?;
    if let (Some(input), Some(mut pipe)) = (input, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .map_err(|e| Error(format!("cannot write to {program}'s input: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error(format!("{program} did not finish: {e}")))?;
    if !out.status.success() {
        fail!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A step, on stderr, in the format of `scripts/lib/common.sh`'s `log`.
pub fn log(message: &str) {
    eprintln!("==> {message}");
}

/// Appends `markdown` to the GitHub job's summary page when there is one
/// (`$GITHUB_STEP_SUMMARY`), as `scripts/lib/common.sh`'s `step_summary`.
pub fn step_summary(markdown: &str) {
    use std::io::Write as _;
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return;
    };
    let appended = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .and_then(|mut file| file.write_all(markdown.as_bytes()));
    if let Err(err) = appended {
        warn(&format!(
            "cannot append to the job summary {}: {err}",
            path.to_string_lossy()
        ));
    }
}

/// A warning, on stderr, as `scripts/lib/common.sh`'s `warn`.
pub fn warn(message: &str) {
    eprintln!("warning: {message}");
}

/// The repository root: the workspace that holds xtask/. Read at run time
/// (`cargo run` sets `CARGO_MANIFEST_DIR` to xtask/), not baked in at build
/// time, so a binary built in one checkout never works on another; without
/// cargo, the nearest directory above the current one that has xtask/.
pub fn project_root() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        let dir = PathBuf::from(dir);
        if let Some(root) = dir.parent().filter(|_| dir.ends_with("xtask")) {
            return Ok(root.to_path_buf());
        }
    }
    let here = std::env::current_dir()
        .map_err(|e| Error(format!("cannot read the current directory: {e}")))?;
    match here
        .ancestors()
        .find(|dir| dir.join("xtask/Cargo.toml").is_file())
    {
        Some(root) => Ok(root.to_path_buf()),
        None => fail!(
            "{} is not inside the repository (no xtask/ above it): run `cargo xtask` from the checkout",
            here.display()
        ),
    }
}

/// Builds the service's binary (`release`: the release profile, else the
/// debug one) with the cargo that runs xtask, and returns its path.
pub fn build_service(root: &Path, name: &str, release: bool) -> Result<PathBuf> {
    let profile = if release { "release" } else { "debug" };
    let mut args = vec!["build", "--locked", "--bin", name];
    if release {
        args.push("--release");
    }
    log(&format!("cargo {}", args.join(" ")));
    let status = cargo()
        .args(&args)
        .current_dir(root)
        .status()
        .map_err(|e| Error(format!("cannot run cargo: {e}")))?;
    if !status.success() {
        fail!("cargo {} failed (above)", args.join(" "));
    }
    Ok(target_dir(root).join(profile).join(name))
}

/// The environment variable `name` when it is set and not empty: an empty
/// value counts as unset, as in the shell scripts' `${NAME:-default}`.
pub fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Runs `command` to the end with its output shown and no stdin; an error
/// naming `what` when it fails or cannot start.
pub fn run_shown(command: &mut std::process::Command, what: &str) -> Result<()> {
    match command.stdin(std::process::Stdio::null()).status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => fail!("{what} failed ({status}; see above)"),
        Err(err) => fail!(
            "{what}: cannot run {}: {err}",
            command.get_program().to_string_lossy()
        ),
    }
}

/// The cargo that runs xtask (`CARGO`, which cargo sets), else the one on
/// PATH: a nested build uses the same toolchain.
pub fn cargo() -> std::process::Command {
    std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The last `count` lines of `text`, joined by newlines.
pub fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

/// Where cargo puts its output: `CARGO_TARGET_DIR` when set (relative to the
/// root), else target/.
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir))
}

/// Where the pinned tools live: `TOOLS_HOME`, which `scripts/lib/common.sh`
/// sets (its one definition), so a command that needs them runs through
/// its script in scripts/.
pub fn tools_home() -> Result<PathBuf> {
    match std::env::var_os("TOOLS_HOME") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => fail!(
            "TOOLS_HOME is not set: run this through its script in scripts/ (they source scripts/lib/common.sh, which says where the pinned tools are)"
        ),
    }
}
