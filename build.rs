//! Bakes the git SHA and the build time into the binary for `/version` and
//! the `build_info` metric.
//!
//! Sources, in order: the `GIT_SHA` / `BUILD_TIMESTAMP` environment variables
//! (CI and Docker build arguments), then `git` when the source is a checkout,
//! then `unknown`. A missing `git` never fails the build.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=GIT_SHA");
    println!("cargo:rerun-if-env-changed=BUILD_TIMESTAMP");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    watch_git_head();

    let sha = non_empty_env("GIT_SHA")
        .or_else(git_head_sha)
        .unwrap_or_else(|| "unknown".to_owned());
    let timestamp = non_empty_env("BUILD_TIMESTAMP")
        .or_else(source_date_epoch)
        .unwrap_or_else(now_rfc3339);

    println!("cargo:rustc-env=BAKED_GIT_SHA={sha}");
    println!("cargo:rustc-env=BAKED_BUILD_TIMESTAMP={timestamp}");
    // The target triple shows in /version which architecture answered.
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_owned());
    println!("cargo:rustc-env=BAKED_TARGET={target}");
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn git_head_sha() -> Option<String> {
    let output = Command::new("git")
        .args(["rev-parse", "--verify", "--quiet", "HEAD"])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let sha = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (!sha.is_empty()).then_some(sha)
}

/// Reproducible builds set `SOURCE_DATE_EPOCH`; honour it so two builds of
/// one commit are byte-identical.
fn source_date_epoch() -> Option<String> {
    let secs: i64 = non_empty_env("SOURCE_DATE_EPOCH")?.parse().ok()?;
    let time = time::OffsetDateTime::from_unix_timestamp(secs).ok()?;
    time.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Re-run when HEAD moves, so a new commit gets a new SHA. Only watch paths
/// that exist: cargo re-runs a build script on every build when a watched
/// path is missing.
fn watch_git_head() {
    let git_dir = Path::new(".git");
    let head = git_dir.join("HEAD");
    if !head.is_file() {
        return;
    }
    println!("cargo:rerun-if-changed={}", head.display());
    if let Ok(contents) = std::fs::read_to_string(&head)
        && let Some(reference) = contents.trim().strip_prefix("ref: ")
    {
        // Watched even before it exists (a repository without commits): a
        // missing path re-runs this script on every build until the first
        // commit creates it, which is what makes that commit's SHA appear.
        println!(
            "cargo:rerun-if-changed={}",
            git_dir.join(reference).display()
        );
    }
    let packed = git_dir.join("packed-refs");
    if packed.is_file() {
        println!("cargo:rerun-if-changed={}", packed.display());
    }
}
