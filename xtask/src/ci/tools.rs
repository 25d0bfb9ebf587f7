//! The pinned tools the selected stages need: `install-tools`
//! (`crate::install`) installs them; this decides which parts, and says what
//! is missing.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use super::stages::{ROOT_PARTS, Stage};
use crate::{Result, fail, log};

/// The install parts the stages need, split into those that need root and
/// the rest, each in the order the stages first name them.
fn parts(plan: &[&Stage]) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut root = Vec::new();
    let mut user = Vec::new();
    for part in plan.iter().flat_map(|stage| stage.parts.iter().copied()) {
        let list = if ROOT_PARTS.contains(&part) {
            &mut root
        } else {
            &mut user
        };
        if !list.contains(&part) {
            list.push(part);
        }
    }
    (root, user)
}

/// `--only A --only B`.
fn only(parts: &[&str]) -> Vec<String> {
    parts
        .iter()
        .flat_map(|part| ["--only".to_owned(), (*part).to_owned()])
        .collect()
}

/// Install what the stages lack (unless `install` is false); root parts are
/// never installed here, only named with the command that does.
pub(super) fn ensure(logs: &Path, plan: &[&Stage], install: bool) -> Result<()> {
    let xtask = std::env::current_exe()
        .map_err(|e| crate::Error(format!("cannot find this program: {e}")))?;
    let (root_parts, user_parts) = parts(plan);
    if !root_parts.is_empty() && lacks(&xtask, logs, &root_parts)? {
        fail!(
            "the selected stages need system setup that needs root; run once (it runs sudo): scripts/install-tools.sh {}",
            only(&root_parts).join(" ")
        );
    }
    if user_parts.is_empty() {
        return Ok(());
    }
    if !install {
        if lacks(&xtask, logs, &user_parts)? {
            fail!(
                "--no-install: the selected stages need the tools listed above; install them with: scripts/install-tools.sh {}",
                only(&user_parts).join(" ")
            );
        }
        return Ok(());
    }
    log(&format!(
        "tools: installing what the selected stages need and lack (scripts/install-tools.sh {})",
        only(&user_parts).join(" ")
    ));
    let mut command = Command::new(&xtask);
    command
        .arg("install-tools")
        .args(only(&user_parts))
        .stdin(Stdio::null());
    let (output, code) =
        crate::tee::tee_quietly(&mut command, &logs.join("install-tools.log"), shown)?;
    if code != Some(0) {
        fail!(
            "installing the pinned tools failed ({}; log: target/ci-logs/install-tools.log)",
            output
                .lines()
                .rev()
                .find(|line| line.starts_with("error:"))
                .unwrap_or("above")
        );
    }
    Ok(())
}

/// What of install-tools' output a person needs to see: what got
/// installed, and any error; what is already there stays in the log.
fn shown(line: &str) -> bool {
    ![" present", " up to date", " skipped (ci-only"]
        .iter()
        .any(|quiet| line.contains(quiet))
}

/// True, after printing what is missing, when `install-tools --check` finds
/// the parts incomplete.
fn lacks(xtask: &Path, logs: &Path, parts: &[&str]) -> Result<bool> {
    let out = match Command::new(xtask)
        .args(["install-tools", "--check"])
        .args(only(parts))
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(err) => fail!("cannot run {} install-tools: {err}", xtask.display()),
    };
    let report = String::from_utf8_lossy(&out.stderr);
    // Best effort: the log only repeats what is printed below.
    let _ = fs::write(logs.join("tools-check.log"), report.as_bytes());
    if out.status.success() {
        return Ok(false);
    }
    for line in report.lines().filter(|line| line.starts_with("missing:")) {
        eprintln!("{line}");
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::stages;

    #[test]
    fn root_parts_are_kept_apart_and_each_part_is_named_once() {
        let plan: Vec<&Stage> = ["test", "container-test", "fuzz"]
            .iter()
            .map(|name| stages::find(name).expect("a stage"))
            .collect();
        let (root, user) = parts(&plan);
        assert_eq!(root, ["apt", "emulation"]);
        assert_eq!(user, ["rust", "cargo", "repacks"]);
        assert_eq!(only(&user[..1]), ["--only", "rust"]);
    }

    #[test]
    fn only_news_and_errors_of_the_install_are_shown() {
        assert!(!shown("==> apt: all packages of apt-packages.txt present"));
        assert!(!shown("==> python: venv venv up to date"));
        assert!(!shown(
            "==> cargo: cargo-fuzz 0.13.2 skipped (ci-only; by hand: ...)"
        ));
        assert!(shown(
            "==> cargo: installing cargo-deny 0.20.2 (compiles from source; takes minutes)"
        ));
        assert!(shown("error: apt-get not found"));
    }
}
