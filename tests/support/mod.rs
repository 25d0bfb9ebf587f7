//! What the test binaries that work on a copy of the repository share
//! (`tests/gates.rs`, `tests/rename.rs`). Each includes it with `mod support;`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// A throw-away copy of the repository's files (tracked, and new ones git
/// does not ignore), with a git repository of its own: the scripts list
/// files exactly as they do in a checkout and never see the real repository.
pub(crate) struct RepoCopy {
    dir: tempfile::TempDir,
}

impl RepoCopy {
    /// Copies the files into a new temporary directory named `<prefix>…`
    /// and runs `git init` there (branch `main`, nothing staged yet).
    pub(crate) fn new(prefix: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("create a temporary directory");
        let listing = git(
            Path::new(REPO),
            &["ls-files", "-co", "--exclude-standard", "-z"],
        );
        for rel in listing.split('\0').filter(|f| !f.is_empty()) {
            let from = Path::new(REPO).join(rel);
            if !from.is_file() {
                continue; // deleted in the working tree but still tracked
            }
            copy_file(&from, &dir.path().join(rel));
        }
        git(
            dir.path(),
            &["-c", "init.defaultBranch=main", "init", "--quiet"],
        );
        Self { dir }
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub(crate) fn write(&self, rel: &str, contents: &str) {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().expect("a file has a parent")).expect("create directory");
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {rel}: {e}"));
    }
}

/// Copies one file, creating its parent directories. `fs::copy` keeps the
/// mode: scripts stay executable.
pub(crate) fn copy_file(from: &Path, to: &Path) {
    fs::create_dir_all(to.parent().expect("a file has a parent")).expect("create directory");
    fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
}

/// Runs git in `dir`, panicking with its stderr when it fails; its stdout.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git is installed");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("git prints UTF-8 paths")
}

/// The target directory of this build (`CARGO_TARGET_TMPDIR` is `<target>/tmp`).
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || {
            Path::new(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .expect("tmp has a parent")
                .to_path_buf()
        },
        PathBuf::from,
    )
}
