//! `cargo xtask rename NEW_NAME`: renames the service everywhere (crate and
//! binary, image names, Kubernetes resources and labels, metric prefixes,
//! environment variables, docs). The first thing a user of the template runs;
//! tests/rename.rs renames a copy of the repository and proves that the
//! result builds and passes its tests.

mod changelog;
mod leftovers;
mod name;
mod replace;

use std::fs;
use std::path::Path;
use std::process::Command;

pub use leftovers::Leftovers;
pub use name::{MAX_LEN, RESERVED, Spellings, validate};
pub use replace::Renamer;

use crate::cli::Args;
use crate::{Error, Result, fail, log, manifest, warn};

/// Phrases that contain the template's name but are not the service's name:
/// the HTTP 413 status (http's `StatusCode` constant and its reason phrase)
/// and Rust's term for the value a panic carries. They are never rewritten,
/// and tests/rename.rs accepts exactly these as leftovers.
pub const KEEP: [&str; 4] = [
    "PAYLOAD_TOO_LARGE",
    "Payload Too Large",
    "payload too large",
    "panic payload",
];

const HELP: &str = "cargo xtask rename --help";

fn usage(current: &str) -> String {
    let s = Spellings::of(current);
    let (snake, upper, pascal) = (&s.snake, &s.upper, &s.pascal);
    format!(
        "\
Usage: cargo xtask rename NEW_NAME [--force] [--dry-run]
       scripts/rename.sh NEW_NAME [--force] [--dry-run]   (the same)

Replaces the service's current name ('{current}', the package name in
Cargo.toml) with NEW_NAME in every file git tracks or would add (binary files
are skipped), in each spelling the name has, e.g. for NEW_NAME=new-name:
  kebab-case  {current} -> new-name  crate, binary, image and Kubernetes names, docs
  snake_case  {snake}:: -> new_name::  Rust paths, {snake}_http_* metrics,
              RUST_LOG={snake}=debug -> RUST_LOG=new_name=debug
  UPPER_CASE  {upper}_X -> NEW_NAME_X  environment variables
  PascalCase  {pascal}High -> NewNameHigh  alert and type names
then moves files and directories whose path contains the name, re-sorts
Cargo.lock, and prints each changed file with its number of replacements.

Left alone on purpose:
  - CHANGELOG.md's history, which records what was released under the old
    name. Its link definitions (they point at the repository) are renamed,
    and a line under \"## [Unreleased]\" records the rename.
  - Phrases that are not the service's name: {keep}.
  - xtask/, this tool, keeps its name.

NEW_NAME must be lowercase kebab-case (^[a-z][a-z0-9]*(-[a-z0-9]+)*$), at most
{MAX_LEN} characters (a DNS label, as Kubernetes names and namespaces must be), and
neither a Rust keyword, a reserved crate name (std, core, alloc, test,
proc-macro) nor the name of a package in Cargo.lock.

Options:
  --force    run even when the git tree has uncommitted changes
  --dry-run  print what would change, write nothing
  --         end of options
  -h, --help this help
",
        keep = KEEP.map(|k| format!("\"{k}\"")).join(", "),
    )
}

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    new: String,
    force: bool,
    dry_run: bool,
}

/// `None` for --help.
fn parse(args: Vec<String>) -> Result<Option<Request>> {
    let mut args = Args::new(args, HELP);
    let (mut new, mut force, mut dry_run, mut options_done) = (None, false, false, false);
    while let Some(arg) = args.next_arg() {
        if !options_done {
            match arg.as_str() {
                "-h" | "--help" => return Ok(None),
                "--force" => {
                    force = true;
                    continue;
                }
                "--dry-run" => {
                    dry_run = true;
                    continue;
                }
                "--" => {
                    options_done = true;
                    continue;
                }
                _ if arg.starts_with('-') => fail!(
                    "unknown option '{arg}'. Options are --force and --dry-run; a service name starts with a lowercase letter ({HELP})."
                ),
                _ => {}
            }
        }
        if let Some(first) = &new {
            fail!("give one new name (got '{first}' and '{arg}')");
        }
        new = Some(arg);
    }
    match new {
        Some(new) => Ok(Some(Request {
            new,
            force,
            dry_run,
        })),
        None => fail!("give the new name, e.g. cargo xtask rename my-service ({HELP})"),
    }
}

pub fn run(args: Vec<String>) -> Result<()> {
    let root = crate::project_root()?;
    let current = manifest::service_name(&root).unwrap_or_else(|_| "old-name".to_owned());
    let Some(request) = parse(args)? else {
        print!("{}", usage(&current));
        return Ok(());
    };
    // Every check runs before anything is written: a refused name changes nothing.
    validate(&request.new)?;
    let old = manifest::service_name(&root)?;
    check_against_repository(&root, &old, &request.new)?;
    check_git(&root, &request)?;
    Rename::new(root, old, request).apply()
}

fn check_against_repository(root: &Path, old: &str, new: &str) -> Result<()> {
    if !name::is_plain_crate_name(old) {
        fail!(
            "the package name '{old}' in Cargo.toml is not a plain crate name; fix it by hand first."
        );
    }
    let new_snake = Spellings::of(new).snake;
    if new_snake == Spellings::of(old).snake {
        fail!("cannot rename to '{new}': the service is already called '{old}'.");
    }
    if new == "xtask" {
        fail!(
            "cannot rename to '{new}': xtask/ is this repository's tooling crate, and the service would clash with it. Pick another name."
        );
    }
    let lock = fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    if manifest::lock_has_package(&lock, new) || manifest::lock_has_package(&lock, &new_snake) {
        fail!(
            "cannot rename to '{new}': a dependency in Cargo.lock has that name, and the crate would clash with it. Pick another name."
        );
    }
    Ok(())
}

fn check_git(root: &Path, request: &Request) -> Result<()> {
    if Command::new("git").arg("--version").output().is_err() {
        fail!("git is not installed: install it; the rename changes the files git tracks.");
    }
    let inside = git(root, &["rev-parse", "--is-inside-work-tree"]);
    if !matches!(inside, Ok(ref out) if out.trim() == "true") {
        fail!(
            "{} is not a git checkout. The rename changes what git tracks, so that 'git diff' shows and 'git checkout .' undoes it: run 'git init && git add -A && git commit -m initial' first.",
            root.display()
        );
    }
    let dirty = git(root, &["status", "--porcelain", "--untracked-files=normal"])?;
    if !dirty.is_empty() && !request.force && !request.dry_run {
        for line in dirty.lines().take(10) {
            eprintln!("{line}");
        }
        fail!(
            "the working tree has uncommitted changes (above). Commit or stash them so that the rename is one reviewable diff, or pass --force."
        );
    }
    Ok(())
}

/// Runs git in `dir`; its stdout, or an error with its stderr.
fn git(dir: &Path, args: &[&str]) -> Result<String> {
    crate::output_of(Command::new("git").args(args).current_dir(dir))
}

/// One rename of the repository at `root`.
struct Rename {
    root: std::path::PathBuf,
    old: String,
    new: String,
    dry_run: bool,
    renamer: Renamer,
}

impl Rename {
    fn new(root: std::path::PathBuf, old: String, request: Request) -> Self {
        Self {
            renamer: Renamer::new(&old, &request.new, &KEEP),
            root,
            old,
            new: request.new,
            dry_run: request.dry_run,
        }
    }

    fn apply(&self) -> Result<()> {
        let files: Vec<String> = git(&self.root, &["ls-files", "-z", "-co", "--exclude-standard"])?
            .split('\0')
            .filter(|f| !f.is_empty() && !f.starts_with("xtask/"))
            .map(str::to_owned)
            .collect();
        let texts = self.text_files(&files);
        self.warn_if_new_name_exists(&texts);
        let s = Spellings::of(&self.new);
        log(&format!(
            "renaming '{}' to '{}' ({}, {}, {}){}",
            self.old,
            self.new,
            s.snake,
            s.upper,
            s.pascal,
            if self.dry_run {
                "; dry run: nothing is written"
            } else {
                ""
            }
        ));

        let mut report = Vec::new();
        let mut replaced = 0;
        for (file, contents) in &texts {
            let (renamed, n) = if file == "CHANGELOG.md" {
                changelog::rename_links(&self.renamer, contents)
            } else {
                self.renamer.rename(contents)
            };
            if n == 0 {
                continue;
            }
            // fs::write truncates the file in place: it keeps its mode.
            self.write(file, &renamed)?;
            report.push(format!("{n:5}  {file}"));
            replaced += n;
        }
        let changed = report.len();
        if self.record_in_changelog()? {
            report.push(format!(
                "{:>5}  CHANGELOG.md (the rename, under [Unreleased])",
                "+1"
            ));
        }
        let moves = self.move_paths(&files)?;
        let lock = self.update_lock_files(&files);

        let mode = if self.dry_run {
            "Would change"
        } else {
            "Changed"
        };
        println!("\n{mode} {changed} file(s) (replacements, file):");
        for line in &report {
            println!("{line}");
        }
        if !moves.is_empty() {
            println!("\nMoved:");
            for line in &moves {
                println!("  {line}");
            }
        }
        println!(
            "\n{replaced} replacement(s) in {changed} file(s), {} path(s) moved; {lock}.",
            moves.len()
        );
        if !self.dry_run {
            self.print_next_steps();
        }
        Ok(())
    }

    /// Regular text files: not deleted, not a symlink (writing through it
    /// would change its target), not binary (a NUL byte, as grep decides).
    fn text_files(&self, files: &[String]) -> Vec<(String, Vec<u8>)> {
        files
            .iter()
            .filter(|file| {
                fs::symlink_metadata(self.root.join(file)).is_ok_and(|m| m.file_type().is_file())
            })
            .filter_map(|file| {
                let bytes = fs::read(self.root.join(file)).ok()?;
                (!bytes.contains(&0)).then(|| (file.clone(), bytes))
            })
            .collect()
    }

    /// A name that already occurs in the tree cannot be renamed away cleanly
    /// later: a second rename would also change those occurrences.
    fn warn_if_new_name_exists(&self, texts: &[(String, Vec<u8>)]) {
        let finder = Leftovers::new(&self.new, &[]);
        let examples: Vec<&str> = texts
            .iter()
            .filter(|(_, contents)| !finder.find(contents).is_empty())
            .map(|(file, _)| file.as_str())
            .take(3)
            .collect();
        if !examples.is_empty() {
            warn(&format!(
                "'{}' already occurs in the repository (e.g. {}). This rename is fine, but renaming again later would also change those occurrences; a distinctive name avoids that.",
                self.new,
                examples.join(", ")
            ));
        }
    }

    fn write(&self, file: &str, contents: &[u8]) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        fs::write(self.root.join(file), contents)
            .map_err(|e| Error(format!("cannot write {file}: {e}")))
    }

    /// The changelog records the rename under [Unreleased] / "### Changed".
    fn record_in_changelog(&self) -> Result<bool> {
        let Ok(text) = fs::read_to_string(self.root.join("CHANGELOG.md")) else {
            return Ok(false);
        };
        let note = format!(
            "- Renamed the service from `{}` to `{}` (`scripts/rename.sh`).",
            self.old, self.new
        );
        let Some(updated) = changelog::record(&text, &note) else {
            return Ok(false);
        };
        self.write("CHANGELOG.md", updated.as_bytes())?;
        Ok(true)
    }

    /// Moves files and directories whose path contains the name; returns
    /// `from -> to` for each.
    fn move_paths(&self, files: &[String]) -> Result<Vec<String>> {
        let mut moves = Vec::new();
        for file in files {
            let (to, n) = self.renamer.rename(file.as_bytes());
            if n == 0 {
                continue;
            }
            let to = String::from_utf8_lossy(&to).into_owned();
            let from_path = self.root.join(file);
            if fs::symlink_metadata(&from_path).is_err() {
                continue; // deleted in the working tree
            }
            moves.push(format!("{file} -> {to}"));
            if self.dry_run {
                continue;
            }
            let to_path = self.root.join(&to);
            if fs::symlink_metadata(&to_path).is_ok() {
                fail!(
                    "cannot move {file}: {to} already exists; move or remove it, then run the rename again (git checkout . undoes what was done so far)."
                );
            }
            if let Some(parent) = to_path.parent() {
                fs::create_dir_all(parent)
                    .map_err(|e| Error(format!("cannot create {}: {e}", parent.display())))?;
            }
            if git(&self.root, &["ls-files", "--error-unmatch", "--", file]).is_ok() {
                git(&self.root, &["mv", "--", file, &to])?;
            } else {
                fs::rename(&from_path, &to_path)
                    .map_err(|e| Error(format!("cannot move {file} to {to}: {e}")))?;
            }
            // Remove the directories the move emptied (remove_dir refuses
            // non-empty ones).
            let mut dir = Path::new(file).parent();
            while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
                if fs::remove_dir(self.root.join(d)).is_err() {
                    break;
                }
                dir = d.parent();
            }
        }
        Ok(moves)
    }

    /// Cargo.lock lists packages sorted by name: cargo re-sorts the renamed
    /// ones (--workspace touches only this repository's crates, no
    /// dependency), in every workspace that has a lock file (fuzz/ is one of
    /// its own). Returns what happened, for the report.
    fn update_lock_files(&self, files: &[String]) -> String {
        if self.dry_run {
            return "Cargo.lock would be re-sorted by cargo".to_owned();
        }
        let mut outcome = "Cargo.lock re-sorted by cargo".to_owned();
        for lock in files
            .iter()
            .filter(|f| *f == "Cargo.lock" || f.ends_with("/Cargo.lock"))
        {
            let manifest = self.root.join(lock).with_file_name("Cargo.toml");
            if !manifest.is_file() {
                continue;
            }
            let update = |offline: bool| {
                let mut command = crate::cargo();
                command.args(["update", "--workspace", "--quiet", "--manifest-path"]);
                command.arg(&manifest).current_dir(&self.root);
                if offline {
                    command.arg("--offline").stderr(std::process::Stdio::null());
                }
                command.status().is_ok_and(|s| s.success())
            };
            if !update(true) && !update(false) {
                outcome = format!(
                    "'cargo update --workspace --manifest-path {}' failed (output above): run it again before building",
                    manifest.display()
                );
            }
        }
        outcome
    }

    fn print_next_steps(&self) {
        let (old, new) = (&self.old, &self.new);
        println!(
            "
Next:
  git diff --stat                 # review
  scripts/install-tools.sh        # the pinned tools' cache is now ~/.cache/{new}-ci
  scripts/ci.sh                   # the whole pipeline, under the new name
  git commit -am \"Rename {old} to {new}\"
Images are named after the GitHub repository (ghcr.io/<owner>/<repo>): rename
the repository on GitHub too if it is still called '{old}'."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> Result<Option<Request>> {
        parse(crate::cli::owned(args))
    }

    #[test]
    fn options_and_the_name_in_any_order() {
        assert_eq!(
            parse_args(&["--dry-run", "my-svc", "--force"]),
            Ok(Some(Request {
                new: "my-svc".into(),
                force: true,
                dry_run: true
            }))
        );
        assert_eq!(parse_args(&["x", "--help"]), Ok(None));
        let after_dashes = parse_args(&["--", "-x"]).expect("a name").expect("no help");
        assert_eq!(after_dashes.new, "-x");
    }

    #[test]
    fn argument_mistakes_say_what_to_do() {
        let message = |args: &[&str]| parse_args(args).expect_err("refused").0;
        assert!(message(&["-x"]).contains("unknown option '-x'"));
        assert!(message(&[]).contains("give the new name"));
        assert!(message(&["one", "two"]).contains("give one new name (got 'one' and 'two')"));
    }

    #[test]
    fn the_keep_list_protects_its_phrases_from_the_rename() {
        let current = Spellings::of(
            &KEEP[0]
                .split('_')
                .next()
                .expect("a word")
                .to_ascii_lowercase(),
        );
        let renamer = Renamer::new(&current.kebab, "new-name", &KEEP);
        for phrase in KEEP {
            assert_eq!(renamer.rename(phrase.as_bytes()).1, 0, "{phrase}");
        }
    }
}
