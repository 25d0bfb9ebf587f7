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
        for rel in repository_files() {
            copy_file(&Path::new(REPO).join(&rel), &dir.path().join(&rel));
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

/// The repository's files, relative to its root: what git lists (tracked,
/// and untracked but not ignored) in a checkout; in a tree without `.git`
/// (the template downloaded as a ZIP), what `.gitignore` does not exclude.
pub(crate) fn repository_files() -> Vec<PathBuf> {
    let root = Path::new(REPO);
    if root.join(".git").exists() {
        git_files(root)
    } else {
        unignored_files(root)
    }
}

/// What `git ls-files` lists in the checkout at `root`, still on disk.
pub(crate) fn git_files(root: &Path) -> Vec<PathBuf> {
    let listing = git(root, &["ls-files", "-co", "--exclude-standard", "-z"]);
    let mut files: Vec<PathBuf> = listing
        .split('\0')
        .filter(|f| !f.is_empty())
        .map(PathBuf::from)
        // deleted in the working tree but still tracked
        .filter(|rel| root.join(rel).is_file())
        .collect();
    files.sort();
    files
}

/// The files under `root` that its `.gitignore` files do not exclude, read
/// as git reads them, with or without a `.git` directory.
pub(crate) fn unignored_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ignore::WalkBuilder::new(root)
        .hidden(false)
        .ignore(false)
        .parents(false)
        .require_git(false)
        .filter_entry(|entry| entry.file_name() != ".git")
        .build()
        .map(|entry| entry.unwrap_or_else(|e| panic!("list {}: {e}", root.display())))
        .filter(|entry| entry.file_type().is_some_and(|t| t.is_file()))
        .map(|entry| {
            entry
                .path()
                .strip_prefix(root)
                .expect("the walk stays under its root")
                .to_path_buf()
        })
        .collect();
    files.sort();
    files
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
