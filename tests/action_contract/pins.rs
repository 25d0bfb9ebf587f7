//! The commit every `uses:` pins and the tag its comment names, checked
//! against the lock (always: it is committed) and against the pins file
//! (`../shared/action-pins.md` or `$ACTION_PINS`) when there is one. The
//! lock's tags come from the pins file when it is generated, so a clone
//! without the pins file is checked as strictly as a checkout with it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::lock::{LOCK_PATH, Lock};
use crate::{ActionRef, action_refs, action_repository, is_commit_sha, workflows_in};

/// Overrides the pins file's location (scripts/refresh-action-contracts.sh
/// writes one from the tags it reads from GitHub).
pub(crate) const PINS_VAR: &str = "ACTION_PINS";
/// The default location, relative to the repository root.
const DEFAULT_PINS: &str = "../shared/action-pins.md";

/// `owner/repo@sha` → the tag that SHA is pinned as.
pub(crate) type Pins = BTreeMap<String, String>;

/// A pins file read, with the path messages name it by.
pub(crate) struct PinsFile {
    pub(crate) path: PathBuf,
    pub(crate) pins: Pins,
}

/// The pins file for the repository at `root`: `$ACTION_PINS` (which must
/// exist), else `../shared/action-pins.md` if it exists.
pub(crate) fn pins_file(root: &Path) -> Result<Option<PinsFile>, String> {
    let path = match std::env::var_os(PINS_VAR) {
        Some(path) => PathBuf::from(path),
        None => match root.join(DEFAULT_PINS) {
            path if path.is_file() => path,
            _ => return Ok(None),
        },
    };
    let text = fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read the pins file {}: {e}; point {PINS_VAR} at a file laid out like \
             action-pins.md, or unset it",
            path.display()
        )
    })?;
    let pins = parse_pins(&text);
    if pins.is_empty() {
        return Err(format!(
            "{} has no pin rows (`| owner/repo | tag | `<40-hex sha>` | …`): has its table \
             format changed?",
            path.display()
        ));
    }
    Ok(Some(PinsFile { path, pins }))
}

/// The rows `| owner/repo | tag | `sha` | …` of a pins file; other lines
/// (header, separator, prose) are skipped.
fn parse_pins(text: &str) -> Pins {
    let mut pins = Pins::new();
    for line in text.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [_, action, tag, sha, ..] = cells.as_slice() else {
            continue;
        };
        let sha = sha.trim_matches('`');
        if !is_commit_sha(sha) {
            continue;
        }
        // "branch `master`" → "master"; "v7.0.1" stays.
        let tag = tag.trim_start_matches("branch").trim().trim_matches('`');
        pins.insert(format!("{action}@{sha}"), tag.to_owned());
    }
    pins
}

/// `owner/repo@sha` of every action the workflows at `root` pin by SHA.
pub(crate) fn pinned_in(root: &Path) -> BTreeSet<String> {
    workflows_in(root)
        .iter()
        .flat_map(action_refs)
        .filter(|r| !r.action.starts_with("./") && is_commit_sha(&r.git_ref))
        .map(|r| pin_key(&r))
        .collect()
}

/// The tags `pins` gives the actions the workflows at `root` pin: what the
/// lock records. A pin `pins` lacks is left out; the pin check reports it.
pub(crate) fn tags_for(root: &Path, pins: &Pins) -> Pins {
    pinned_in(root)
        .into_iter()
        .filter_map(|key| Some((key.clone(), pins.get(&key)?.clone())))
        .collect()
}

/// Pins are per repository: a sub-action shares its repository's tags.
fn pin_key(r: &ActionRef) -> String {
    format!("{}@{}", action_repository(&r.action), r.git_ref)
}

/// Every `uses:` line of the workflows at `root` whose pin or tag comment
/// disagrees with `lock` (the lock's pins) or with `file`, with the fix;
/// and how many `uses:` lines were read.
pub(crate) fn pin_findings(
    root: &Path,
    lock: &Pins,
    file: Option<&PinsFile>,
) -> (Vec<String>, usize) {
    let mut findings = Vec::new();
    let mut seen = 0;
    for wf in workflows_in(root) {
        for r in action_refs(&wf) {
            seen += 1;
            if let Err(why) = check_ref(root, &r, lock, file) {
                findings.push(format!(
                    ".github/workflows/{}:{} (`{}`): {why}",
                    wf.file, r.line, r.action
                ));
            }
        }
    }
    (findings, seen)
}

fn check_ref(
    root: &Path,
    r: &ActionRef,
    lock: &Pins,
    file: Option<&PinsFile>,
) -> Result<(), String> {
    if r.action.starts_with("./") {
        return if root.join(&r.action).is_dir() {
            Ok(())
        } else {
            Err("local action not found: fix the path or add the action".into())
        };
    }
    if !is_commit_sha(&r.git_ref) {
        return Err(format!(
            "pinned to `{}`; pin to a full 40-hex commit SHA (tags and branches can be moved)",
            r.git_ref
        ));
    }
    let tag = r.comment.split_whitespace().next().unwrap_or("");
    if tag.is_empty() {
        return Err(format!(
            "add the SHA's tag as a comment: `uses: {}@{} # vX.Y.Z`",
            r.action, r.git_ref
        ));
    }
    let key = pin_key(r);
    check_in_lock(&key, tag, lock)?;
    file.map_or(Ok(()), |file| check_in_file(&key, tag, file))
}

fn check_in_lock(key: &str, tag: &str, lock: &Pins) -> Result<(), String> {
    let after_a_change = format!(
        "if you changed the pin on purpose, run scripts/refresh-action-contracts.sh (it checks \
         the tag against GitHub and records it in {LOCK_PATH})"
    );
    match lock.get(key) {
        None => Err(format!(
            "`{key}` is not pinned in {LOCK_PATH}; use a SHA the lock lists ({}), or \
             {after_a_change}",
            listed_for(key, lock)
        )),
        Some(pinned) if pinned != tag => Err(format!(
            "the comment names `{tag}` but {LOCK_PATH} pins `{key}` as `{pinned}`; write \
             `# {pinned}`, or {after_a_change}"
        )),
        Some(_) => Ok(()),
    }
}

fn check_in_file(key: &str, tag: &str, file: &PinsFile) -> Result<(), String> {
    let path = file.path.display();
    match file.pins.get(key) {
        None => Err(format!(
            "`{key}` is not in {path}; use a SHA it lists ({})",
            listed_for(key, &file.pins)
        )),
        Some(pinned) if pinned != tag => Err(format!(
            "the comment names `{tag}` but {path} lists `{key}` as `{pinned}`; write `# {pinned}`"
        )),
        Some(_) => Ok(()),
    }
}

/// The pins `pins` holds for the repository of `key`, for a message.
fn listed_for(key: &str, pins: &Pins) -> String {
    let repository = key.split('@').next().unwrap_or(key);
    let listed: Vec<String> = pins
        .iter()
        .filter(|(k, _)| k.split('@').next() == Some(repository))
        .map(|(k, tag)| format!("`{k}` # {tag}"))
        .collect();
    if listed.is_empty() {
        format!("none for {repository}")
    } else {
        listed.join(", ")
    }
}

/// The pin check of the repository at `root`: fails with every finding.
#[track_caller]
pub(crate) fn assert_pinned(root: &Path) {
    let lock = Lock::read(root).unwrap_or_else(|why| panic!("{why}"));
    let file = pins_file(root).unwrap_or_else(|why| panic!("{why}"));
    let (findings, seen) = pin_findings(root, &lock.pins, file.as_ref());
    assert!(
        seen > 0,
        "no `uses:` found: the parser no longer matches the workflows"
    );
    let against = file.as_ref().map_or_else(
        || LOCK_PATH.to_owned(),
        |file| format!("{LOCK_PATH} and {}", file.path.display()),
    );
    assert!(
        findings.is_empty(),
        "{} `uses:` line(s) disagree with the pins in {against}:\n\n{}\n",
        findings.len(),
        findings.join("\n")
    );
}
