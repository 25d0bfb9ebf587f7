//! `scripts/rename.sh` (`cargo xtask rename`) renames the service everywhere,
//! and the renamed repository still builds and passes its tests.
//!
//! Each test works on a copy of the repository (tracked files plus new files
//! that are not ignored) in a temporary directory with a git repository of its
//! own, so the real checkout is never touched. They run `scripts/rename.sh`
//! (which builds xtask in the copy) and, for the full rename, the copy's whole
//! test suite (about a minute when the dependencies are already built), so
//! they are ignored by default (except the check that a copy can also be made
//! from a ZIP download); the `rename-test` stage of `scripts/ci.sh`
//! runs them: `cargo nextest run --locked --test rename --run-ignored only`.
//! The keep-list and the leftover matcher are the rename's own (xtask).

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use support::{REPO, RepoCopy, git, git_files, target_dir, unignored_files};
use xtask::rename::{KEEP, Leftovers};

/// The name the repository has now (the template's is `payload`).
const OLD: &str = env!("CARGO_PKG_NAME");

/// The new name: `acme-svc`, unless the repository already has it.
fn new_name() -> &'static str {
    if OLD == "acme-svc" {
        "other-svc"
    } else {
        "acme-svc"
    }
}

/// A template downloaded as a ZIP has no `.git`: the copies these tests make
/// must list the same files from `.gitignore` alone as git lists in a checkout.
#[test]
fn a_download_without_git_lists_the_files_a_checkout_lists() {
    let planted = tempfile::tempdir().expect("create a temporary directory");
    for (rel, contents) in [
        (".gitignore", "/target\n*.snap.new\n"),
        (".github/workflows/ci.yml", "on: push\n"),
        ("src/lib.rs", ""),
        ("target/debug/payload", "built"),
        ("tests/snapshots/x.snap.new", "pending"),
    ] {
        let path = planted.path().join(rel);
        fs::create_dir_all(path.parent().expect("a file has a parent")).expect("create directory");
        fs::write(path, contents).expect("write a planted file");
    }
    let names = |files: Vec<std::path::PathBuf>| -> Vec<String> {
        files.iter().map(|f| f.display().to_string()).collect()
    };
    assert_eq!(
        names(unignored_files(planted.path())),
        [".github/workflows/ci.yml", ".gitignore", "src/lib.rs"],
        "without .git, the files .gitignore excludes must be left out and dot-directories kept"
    );

    let repo = Path::new(REPO);
    if repo.join(".git").exists() {
        assert_eq!(
            names(unignored_files(repo)),
            names(git_files(repo)),
            "reading .gitignore must list exactly what `git ls-files -co --exclude-standard` lists"
        );
    }
}

#[test]
#[ignore = "rename-test: compiles and tests a renamed copy of the repository (minutes)"]
fn a_renamed_copy_has_no_trace_of_the_old_name_builds_and_passes_its_tests() {
    let new = new_name();
    let new_snake = new.replace('-', "_");
    let old_snake = OLD.replace('-', "_");
    let sandbox = Sandbox::fresh();
    // A path that contains the name in two spellings, to see it moved too.
    let planted = format!("docs/{OLD}-extras/{old_snake}_notes.md");
    sandbox.write(
        &planted,
        &format!("# {OLD}\n\nMetrics: `{old_snake}_http_requests_total`.\n"),
    );
    sandbox.commit();

    let out = sandbox.run("bash", &["scripts/rename.sh", new]);
    assert!(out.ok(), "rename.sh failed:\n{}", out.text());
    for expected in [
        "Cargo.toml",
        "src/main.rs",
        "replacement(s) in",
        "path(s) moved",
    ] {
        assert!(
            out.stdout.contains(expected),
            "rename.sh's report does not mention {expected:?}:\n{}",
            out.text()
        );
    }

    // No trace of the old name in any file or path, outside the changelog.
    let leftovers = sandbox.leftovers();
    assert!(
        leftovers.is_empty(),
        "{OLD:?} is still in {} place(s) after the rename:\n  {}",
        leftovers.len(),
        leftovers.join("\n  ")
    );

    // Each spelling landed where it belongs.
    let moved = format!("docs/{new}-extras/{new_snake}_notes.md");
    assert_eq!(
        sandbox.read(&moved),
        format!("# {new}\n\nMetrics: `{new_snake}_http_requests_total`.\n"),
        "{planted} should have moved to {moved}, with its contents renamed"
    );
    assert!(
        sandbox
            .read("Cargo.toml")
            .contains(&format!("name = \"{new}\"")),
        "Cargo.toml's package is not called {new}"
    );
    assert!(
        sandbox
            .read("src/main.rs")
            .contains(&format!("use {new_snake}::")),
        "src/main.rs does not import the renamed library crate {new_snake}"
    );
    if sandbox.path("CHANGELOG.md").is_file() {
        let changelog = sandbox.read("CHANGELOG.md");
        let note = format!("- Renamed the service from `{OLD}` to `{new}`");
        let unreleased = changelog
            .split("\n## ")
            .find(|section| section.starts_with("[Unreleased]"))
            .expect("CHANGELOG.md has an [Unreleased] section");
        assert!(
            unreleased.contains(&note),
            "the rename is not recorded under [Unreleased]:\n{unreleased}"
        );
    }

    // The renamed copy builds and passes its own tests (the heavy suites stay
    // ignored: they have stages of their own).
    // The repository's own target directory: the dependencies are the same
    // crates with the same features, so they are reused and only the renamed
    // crate is compiled (a directory of its own would compile the whole
    // dependency tree again on every fresh machine).
    let target = target_dir();
    let test = sandbox.cargo(&target, &["test", "--locked"]);
    assert!(
        test.ok(),
        "cargo test --locked failed in the renamed copy:\n{}",
        test.text()
    );
    let binary = target.join("debug").join(new);
    let version = sandbox.run(binary.to_str().expect("UTF-8 path"), &["--version"]);
    assert!(
        version.ok() && version.stdout.starts_with(&format!("{new} ")),
        "{} --version should print `{new} <version>`:\n{}",
        binary.display(),
        version.text()
    );
}

#[test]
#[ignore = "rename-test: builds xtask in a copy of the repository"]
fn invalid_names_are_refused_with_the_reason_and_nothing_changes() {
    let sandbox = Sandbox::fresh();
    sandbox.commit();
    let too_long = "a".repeat(64);
    let kebab = "lowercase kebab-case";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["Bad_Name"], kebab),
        (vec!["bad_name"], kebab),
        (vec!["a--b"], kebab),
        (vec!["a-"], kebab),
        (vec!["1st"], kebab),
        (vec!["-x"], "unknown option '-x'"),
        (vec!["--", "-x"], kebab),
        (vec![&too_long], "at most 63"),
        (vec!["test"], "reserved"),
        (vec!["core"], "reserved"),
        (vec!["fn"], "reserved"),
        (vec!["serde"], "a dependency in Cargo.lock"),
        (vec![OLD], "already called"),
        (vec![], "give the new name"),
        (vec!["one", "two"], "give one new name"),
    ];
    for (args, reason) in &cases {
        let mut argv = vec!["scripts/rename.sh"];
        argv.extend(args);
        let out = sandbox.run("bash", &argv);
        assert!(
            !out.ok(),
            "rename.sh {args:?} should be refused:\n{}",
            out.text()
        );
        assert!(
            out.stderr.contains(reason)
                && args
                    .iter()
                    .filter(|a| **a != "--")
                    .all(|a| out.stderr.contains(a)),
            "rename.sh {args:?}: the message should name the argument and say {reason:?}:\n{}",
            out.text()
        );
        assert_eq!(sandbox.status(), "", "rename.sh {args:?} changed files");
    }
    // The longest DNS label is accepted (a dry run writes nothing).
    let longest = "a".repeat(63);
    let out = sandbox.run("bash", &["scripts/rename.sh", "--dry-run", &longest]);
    assert!(out.ok(), "a 63-character name is valid:\n{}", out.text());
}

#[test]
#[ignore = "rename-test: builds xtask in a copy of the repository"]
fn a_dirty_tree_is_refused_unless_forced_and_a_dry_run_writes_nothing() {
    let sandbox = Sandbox::fresh();
    sandbox.commit();
    let manifest = sandbox.read("Cargo.toml");
    sandbox.write("Cargo.toml", &format!("{manifest}\n# work in progress\n"));
    let dirty = sandbox.status();

    let out = sandbox.run("bash", &["scripts/rename.sh", "acme-svc"]);
    assert!(
        !out.ok() && out.stderr.contains("uncommitted changes") && out.stderr.contains("--force"),
        "a dirty tree should be refused, pointing at --force:\n{}",
        out.text()
    );
    assert_eq!(sandbox.status(), dirty, "the refused rename changed files");

    let out = sandbox.run("bash", &["scripts/rename.sh", "--dry-run", "acme-svc"]);
    assert!(
        out.ok() && out.stdout.contains("Would change") && out.stdout.contains("Cargo.toml"),
        "the dry run should list what would change:\n{}",
        out.text()
    );
    assert_eq!(sandbox.status(), dirty, "the dry run changed files");

    let out = sandbox.run("bash", &["scripts/rename.sh", "--force", "acme-svc"]);
    assert!(
        out.ok(),
        "--force should rename a dirty tree:\n{}",
        out.text()
    );
    let renamed = sandbox.read("Cargo.toml");
    assert!(
        renamed.contains("name = \"acme-svc\"") && renamed.ends_with("# work in progress\n"),
        "--force should rename and keep the uncommitted change:\n{renamed}"
    );
}

/// A throw-away copy of the repository with a git repository of its own.
type Sandbox = RepoCopy;

struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> bool {
        self.success
    }

    fn text(&self) -> String {
        format!("--- stdout\n{}--- stderr\n{}", self.stdout, self.stderr)
    }
}

impl Sandbox {
    fn fresh() -> Self {
        RepoCopy::new("rename-test-")
    }

    /// Commits everything, so rename.sh sees a clean tree.
    fn commit(&self) {
        git(self.root(), &["add", "--all"]);
        git(
            self.root(),
            &[
                "-c",
                "user.name=rename test",
                "-c",
                "user.email=rename-test@example.invalid",
                "-c",
                "commit.gpgsign=false",
                "commit",
                "--quiet",
                "--message",
                "copy of the repository",
            ],
        );
    }

    /// `git status --porcelain`: empty when nothing changed since the commit.
    fn status(&self) -> String {
        git(self.root(), &["status", "--porcelain"])
    }

    /// Runs `program` in the copy. `cargo xtask` puts its binary in the
    /// copy's own target directory (a shared one would hold one `xtask`
    /// binary for copies whose tests run at once), while the intermediate
    /// artifacts go to one shared build directory, so xtask's dependencies
    /// are compiled once, not once per copy (the warm suite: 46 s -> 26 s).
    fn run(&self, program: &str, args: &[&str]) -> Run {
        self.output(
            Command::new(program)
                .args(args)
                .env_remove("CARGO_TARGET_DIR")
                .env("CARGO_BUILD_BUILD_DIR", target_dir().join("rename-copies"))
                .env("CARGO_TERM_COLOR", "never"),
        )
    }

    fn cargo(&self, target: &Path, args: &[&str]) -> Run {
        self.output(
            Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
                .args(args)
                .env("CARGO_TARGET_DIR", target)
                .env("CARGO_TERM_COLOR", "never"),
        )
    }

    fn output(&self, command: &mut Command) -> Run {
        let out: Output = command
            .current_dir(self.root())
            .output()
            .unwrap_or_else(|e| panic!("run {command:?}: {e}"));
        Run {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Every place outside CHANGELOG.md where the old name still occurs, in
    /// any case and spelling (kebab, snake, and Pascal case run together), as
    /// `path:line: text` or `path (path)`; occurrences inside a KEEP phrase,
    /// or glued to the end of a longer word (like "api" in "openapi"), do
    /// not count (`xtask::rename::Leftovers`).
    fn leftovers(&self) -> Vec<String> {
        let old = Leftovers::new(OLD, &KEEP);
        let listing = git(
            self.root(),
            &["ls-files", "-co", "--exclude-standard", "-z"],
        );
        let mut found = Vec::new();
        for rel in listing.split('\0').filter(|f| !f.is_empty()) {
            if rel == "CHANGELOG.md" {
                continue;
            }
            if !old.find(rel.as_bytes()).is_empty() {
                found.push(format!("{rel} (path)"));
            }
            let Ok(bytes) = fs::read(self.path(rel)) else {
                continue; // a file deleted since the listing
            };
            if bytes.contains(&0) {
                continue; // binary: the rename skips it too
            }
            let text = String::from_utf8_lossy(&bytes);
            for (number, line) in text.lines().enumerate() {
                if !old.find(line.as_bytes()).is_empty() {
                    found.push(format!("{rel}:{}: {}", number + 1, line.trim()));
                }
            }
        }
        found
    }
}
