//! The check must be able to fail: each test copies the repository, appends
//! a job that breaks one promise to the copy's first workflow, and asserts
//! that the check names the problem and the fix. (No cargo runs inside: they
//! take a fraction of a second each.)

use super::check::check;
use super::lock::{LOCK_PATH, Lock};
use super::pins::{pin_findings, pinned_in};
use super::source::Source;
use crate::support::{REPO, RepoCopy};
use crate::{action_refs, workflows_in};

const NO_SUCH_SHA: &str = "0000000000000000000000000000000000000000";

/// A copy of the repository whose first workflow ends with `jobs` (YAML
/// at two spaces of indent, under `jobs:`).
fn plant(jobs: &str) -> RepoCopy {
    let copy = RepoCopy::new("payload-action-contract-");
    let first = workflows_in(copy.root())
        .into_iter()
        .next()
        .expect("a workflow");
    let rel = format!(".github/workflows/{}", first.file);
    let text = copy.read(&rel);
    copy.write(&rel, &format!("{}\n{jobs}", text.trim_end()));
    let planted = workflows_in(copy.root())
        .into_iter()
        .find(|w| w.file == first.file)
        .expect("the planted workflow");
    assert!(
        planted.jobs().iter().any(|j| j.id.starts_with("planted")),
        "cannot plant: `jobs:` is no longer the last key of {rel}"
    );
    copy
}

/// The SHA the repository's workflows pin `action` to.
fn sha_of(action: &str) -> String {
    workflows_in(std::path::Path::new(REPO))
        .iter()
        .flat_map(action_refs)
        .find(|r| r.action == action)
        .map_or_else(
            || panic!("no workflow uses {action}: plant with another action"),
            |r| r.git_ref,
        )
}

fn source() -> Source {
    Source::for_repo(std::path::Path::new(REPO)).unwrap_or_else(|why| panic!("{why}"))
}

fn findings(copy: &RepoCopy, source: &Source) -> Vec<String> {
    check(copy.root(), source)
        .violations
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// One finding in the planted job contains every needle.
#[track_caller]
fn assert_reported(findings: &[String], needles: &[&str]) {
    assert!(
        findings
            .iter()
            .any(|f| f.contains("job `planted") && needles.iter().all(|n| f.contains(n))),
        "no finding contains all of {needles:?}; the findings:\n{}",
        findings.join("\n")
    );
}

/// Like `assert_reported` for what the metadata decides: read from the lock
/// (no metadata folder), the finding may instead ask to refresh the lock.
#[track_caller]
fn assert_reported_from(source: &Source, findings: &[String], needles: &[&str]) {
    let refresh_asked = findings.iter().any(|f| f.contains("refresh the lock"));
    if !(matches!(source, Source::Lock(_)) && refresh_asked) {
        assert_reported(findings, needles);
    }
}

fn checkout() -> String {
    format!("actions/checkout@{}", sha_of("actions/checkout"))
}

fn install_action() -> String {
    format!(
        "taiki-e/install-action@{}",
        sha_of("taiki-e/install-action")
    )
}

#[test]
fn a_with_key_the_action_does_not_declare_is_reported() {
    let copy = plant(&format!(
        "  planted:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: {}\n        with:\n          \
         persist-credentials: false\n          fetch-dept: 1\n",
        checkout()
    ));
    assert_reported(
        &findings(&copy, &source()),
        &[
            "`with: fetch-dept` is not an input of `actions/checkout@",
            "fix: remove it, or use one of its inputs:",
            "fetch-depth",
        ],
    );
}

#[test]
fn a_required_input_without_a_default_must_be_given() {
    let copy = plant(&format!(
        "  planted:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: {}\n",
        install_action()
    ));
    assert_reported(
        &findings(&copy, &source()),
        &[
            "requires input `tool`, which has no default",
            "fix: add `with: tool: …`",
        ],
    );
}

#[test]
fn a_step_output_that_nothing_sets_is_reported() {
    let copy = plant(&format!(
        "  planted:\n    runs-on: ubuntu-24.04\n    steps:\n      - id: co\n        uses: {}\n        \
         with:\n          persist-credentials: false\n      - id: said\n        run: echo hello\n      \
         - env:\n          A: ${{{{ steps.co.outputs.nope }}}}\n          B: ${{{{ steps.ghost.outputs.x }}}}\n          \
         C: ${{{{ steps.said.outputs.tools }}}}\n          D: ${{{{ steps.late.outputs.x }}}}\n          \
         E: ${{{{ steps.co.outputs.commit }}}}\n        run: echo \"$A$B$C$D$E\"\n      \
         - id: late\n        run: echo \"x=1\" >>\"$GITHUB_OUTPUT\"\n",
        checkout()
    ));
    let found = findings(&copy, &source());
    assert_reported(
        &found,
        &[
            "`steps.co.outputs.nope`: `actions/checkout@",
            "declares no output `nope`",
            "fix: use one of its outputs:",
        ],
    );
    assert_reported(
        &found,
        &[
            "`steps.ghost.outputs.x` names no step",
            "give the step meant `id: ghost`",
        ],
    );
    assert_reported(
        &found,
        &[
            "step `said` never writes `tools`",
            "fix: write it (`echo \"tools=…\"",
        ],
    );
    assert_reported(
        &found,
        &["`steps.late.outputs.x` is read before step `late` has run"],
    );
    assert!(
        !found.iter().any(|f| f.contains("steps.co.outputs.commit")),
        "checkout declares `commit`, yet it was reported:\n{}",
        found.join("\n")
    );
}

#[test]
fn a_needs_output_the_job_does_not_declare_is_reported() {
    let copy = plant(
        "  planted-a:\n    runs-on: ubuntu-24.04\n    outputs:\n      value: ${{ steps.s.outputs.value }}\n    \
         steps:\n      - id: s\n        run: echo \"value=1\" >>\"$GITHUB_OUTPUT\"\n  \
         planted-b:\n    needs: planted-a\n    runs-on: ubuntu-24.04\n    steps:\n      - env:\n          \
         A: ${{ needs.planted-a.outputs.other }}\n          B: ${{ needs.planted-c.outputs.x }}\n          \
         C: ${{ needs.planted-a.outputs.value }}\n        run: echo \"$A$B$C\"\n",
    );
    let found = findings(&copy, &source());
    assert_reported(
        &found,
        &[
            "`needs.planted-a.outputs.other`: job `planted-a` declares no output `other`",
            "to the `outputs:` of job `planted-a` (it has: value)",
        ],
    );
    assert_reported(
        &found,
        &[
            "names job `planted-c`, which is not in this job's `needs:`",
            "fix: add `planted-c` to `needs:`",
        ],
    );
    assert!(
        !found.iter().any(|f| f.contains("outputs.value`")),
        "a declared job output was reported:\n{}",
        found.join("\n")
    );
}

#[test]
fn a_literal_tool_the_manifest_lacks_is_reported() {
    let source = source();
    let copy = plant(&format!(
        "  planted:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: {0}\n        with:\n          \
         tool: cargo-nextest@0.0.1\n          fallback: none\n      - uses: {0}\n        with:\n          \
         tool: cargo-planted-nowhere@1.0.0\n      - uses: {0}\n        with:\n          \
         tool: ${{{{ matrix.tool }}}}\n",
        install_action()
    ));
    let found = findings(&copy, &source);
    assert_reported_from(
        &source,
        &found,
        &[
            "`cargo-nextest@0.0.1` is not in the manifest of `taiki-e/install-action@",
            "fix: pin a version the manifest lists in the `tool:` value",
        ],
    );
    assert_reported_from(
        &source,
        &found,
        &[
            "has no manifest for `cargo-planted-nowhere`",
            "fix: install it another way",
        ],
    );
    assert_reported(
        &found,
        &[
            "`tool: ${{ matrix.tool }}` has a value this check cannot know",
            "scripts/tool-pins.sh NAME…",
        ],
    );
}

#[test]
fn a_tool_version_from_cargo_tools_txt_the_manifest_lacks_is_reported() {
    let source = source();
    let copy = plant(&format!(
        "  planted:\n    runs-on: ubuntu-24.04-arm\n    steps:\n      - id: pins\n        \
         run: scripts/tool-pins.sh cargo-nextest >>\"$GITHUB_OUTPUT\"\n      - uses: {}\n        \
         with:\n          tool: ${{{{ steps.pins.outputs.tools }}}}\n          fallback: none\n",
        install_action()
    ));
    let pins = "scripts/tools/cargo-tools.txt";
    let text = copy.read(pins);
    let line = text
        .lines()
        .find(|l| l.starts_with("cargo-nextest "))
        .unwrap_or_else(|| panic!("cannot plant: {pins} no longer pins cargo-nextest"));
    copy.write(pins, &text.replacen(line, "cargo-nextest 0.0.1", 1));
    assert_reported_from(
        &source,
        &findings(&copy, &source),
        &[
            "`cargo-nextest@0.0.1` is not in the manifest",
            "fix: pin a version the manifest lists in scripts/tools/cargo-tools.txt (read by \
             `scripts/tool-pins.sh` in step `pins`)",
        ],
    );
}

#[test]
fn an_action_sha_without_metadata_is_reported_with_the_file_to_add() {
    let source = source();
    let copy = plant(&format!(
        "  planted:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: actions/checkout@{NO_SUCH_SHA}\n"
    ));
    let found = findings(&copy, &source);
    let folder = format!("actions/checkout@{NO_SUCH_SHA}/action.yml");
    let entry = format!("has no entry for `actions/checkout@{NO_SUCH_SHA}`");
    let needles: [&str; 2] = match &source {
        Source::Folder(_) => [
            "add the action's action.yml (or action.yaml) from commit 0000",
            &folder,
        ],
        Source::Lock(_) => [&entry, "scripts/refresh-action-contracts.sh"],
    };
    assert_reported(&found, &needles);
}

#[test]
fn without_the_metadata_folder_the_lock_decides_and_asks_to_be_refreshed() {
    let copy = plant(&format!(
        "  planted:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: actions/checkout@{NO_SUCH_SHA}\n      \
         - uses: {}\n        with:\n          tool: cargo-planted-nowhere@1.0.0\n",
        install_action()
    ));
    let lock = Source::Lock(Lock::read(copy.root()).unwrap_or_else(|why| panic!("{why}")));
    let found = findings(&copy, &lock);
    assert_reported(
        &found,
        &[
            &format!("{LOCK_PATH} has no entry for `actions/checkout@{NO_SUCH_SHA}`"),
            "refresh the lock with scripts/refresh-action-contracts.sh",
        ],
    );
    assert_reported(
        &found,
        &[
            "has no entry for `cargo-planted-nowhere` under `taiki-e/install-action@",
            "UPDATE_ACTION_CONTRACTS=1 cargo test --test pipeline_contract",
        ],
    );

    std::fs::remove_file(copy.path(LOCK_PATH)).expect("remove the lock");
    let why = Lock::read(copy.root()).expect_err("no lock, no contracts");
    assert!(
        why.contains("no lock") && why.contains("refresh-action-contracts.sh"),
        "unexpected message: {why}"
    );
}

/// The pin check of `copy` as in a clone: against its lock alone.
fn pin_findings_from_the_lock(copy: &RepoCopy) -> Vec<String> {
    let lock = Lock::read(copy.root()).unwrap_or_else(|why| panic!("{why}"));
    pin_findings(copy.root(), &lock.pins, None).0
}

/// `.github/workflows/<file>:<line>` of the first line of the planted
/// workflow that contains `needle`.
fn planted_line(copy: &RepoCopy, needle: &str) -> String {
    let file = &workflows_in(copy.root())[0].file;
    let rel = format!(".github/workflows/{file}");
    let line = copy
        .read(&rel)
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} was not planted in {rel}"));
    format!("{rel}:{}", line + 1)
}

/// One finding contains every needle.
#[track_caller]
fn assert_found(findings: &[String], needles: &[&str]) {
    assert!(
        findings
            .iter()
            .any(|f| needles.iter().all(|n| f.contains(n))),
        "no finding contains all of {needles:?}; the findings:\n{}",
        findings.join("\n")
    );
}

#[test]
fn in_a_clone_a_sha_the_lock_does_not_pin_is_reported() {
    let copy = plant(&format!(
        "  planted:\n    runs-on: ubuntu-24.04\n    steps:\n      \
         - uses: actions/checkout@{NO_SUCH_SHA} # v7.0.1\n"
    ));
    let place = planted_line(&copy, NO_SUCH_SHA);
    assert_found(
        &pin_findings_from_the_lock(&copy),
        &[
            &format!("{place} (`actions/checkout`)"),
            &format!("`actions/checkout@{NO_SUCH_SHA}` is not pinned in {LOCK_PATH}"),
            &format!("use a SHA the lock lists (`{}` # v", checkout()),
            "run scripts/refresh-action-contracts.sh",
        ],
    );
}

#[test]
fn in_a_clone_a_tag_comment_the_lock_disagrees_with_is_reported() {
    let copy = plant(&format!(
        "  planted:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: {} # v0.0.1-planted\n",
        checkout()
    ));
    let place = planted_line(&copy, "v0.0.1-planted");
    let tag = Lock::read(copy.root()).expect("the lock").pins[&checkout()].clone();
    assert_found(
        &pin_findings_from_the_lock(&copy),
        &[
            &format!("{place} (`actions/checkout`)"),
            &format!(
                "the comment names `v0.0.1-planted` but {LOCK_PATH} pins `{}` as `{tag}`",
                checkout()
            ),
            &format!("write `# {tag}`"),
            "run scripts/refresh-action-contracts.sh",
        ],
    );
}

#[test]
fn in_a_clone_a_stale_lock_entry_is_reported() {
    let copy = RepoCopy::new("payload-action-contract-");
    let mut lock: serde_json::Value =
        serde_json::from_str(&copy.read(LOCK_PATH)).expect("the lock is JSON");
    let stale = format!("actions/checkout@{NO_SUCH_SHA}");
    lock["pins"][&stale] = "v0.0.1".into();
    lock["actions"][&stale] = lock["actions"][&checkout()].clone();
    copy.write(LOCK_PATH, &lock.to_string());
    let lock = Lock::read(copy.root()).unwrap_or_else(|why| panic!("{why}"));
    let requests = check(copy.root(), &Source::Lock(lock.clone())).requests;
    let drift = lock.drift(&requests, &pinned_in(copy.root()));
    for what in ["a pin", "an action"] {
        assert_found(
            &drift,
            &[
                &format!("{LOCK_PATH} has an entry for {what} no workflow uses, `{stale}`"),
                "refresh the lock with scripts/refresh-action-contracts.sh",
            ],
        );
    }
    assert_eq!(
        drift.len(),
        2,
        "only the planted entries are stale:\n{}",
        drift.join("\n")
    );
}
