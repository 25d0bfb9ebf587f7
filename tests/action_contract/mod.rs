//! Every action call in `.github/workflows` checked against the contract of
//! the action at its pinned commit, which actionlint and zizmor cannot see.
//!
//! For each `uses: owner/repo[/path]@sha` step (and each local `./action`)
//! the check reads the action's `action.yml` at that SHA and reports, all at
//! once, with file, job, step and the fix:
//! - a `with:` key that is not a declared input, and a required input without
//!   a default that is not given;
//! - a `steps.<id>.outputs.<name>` (anywhere in the job) naming no step, a
//!   later step, or an output the step's action does not declare; for a
//!   `run:` step, an output that neither its script nor a script it runs
//!   writes (`<name>=` or `<name><<`);
//! - a `needs.<job>…` naming a job missing from `needs:`, or an output that
//!   job's `outputs:` lacks;
//! - a tool given to taiki-e/install-action (`tool: name@version,…`, or
//!   `${{ steps.<id>.outputs.tools }}` of a step that runs
//!   `scripts/tool-pins.sh NAME…`, whose versions come from
//!   `scripts/tools/cargo-tools.txt`) that the action's manifests at that SHA
//!   do not list for the runner's CPU (`runs-on` with `-arm`: aarch64, else
//!   `x86_64`); a `tool:` value it cannot know is reported too;
//! - an action whose metadata is missing (naming the file to add).
//!
//! Where the metadata comes from:
//! - the metadata folder, `../shared/actions` beside the repository or
//!   `$ACTION_METADATA_DIR`: `<owner>/<repo>@<sha>/<path>/action.yml` (or
//!   `.yaml`), plus `taiki-e/install-action@<sha>/manifests/<tool>.json`;
//! - without that folder (a clone of the template), the committed lock
//!   `.github/action-contracts.json`: the inputs and outputs of every action
//!   the workflows pin, and the manifests of the tools they install. An
//!   action SHA or a tool the lock lacks fails with how to refresh it, never
//!   a silent pass.
//!
//! The lock also records the tag of every pinned SHA (read from the pins
//! file, `../shared/action-pins.md` or `$ACTION_PINS`): `pins.rs` checks
//! each `uses:` comment against it, so a clone is checked as strictly.
//!
//! When the folder is present, a test fails if the lock differs from what it
//! would generate; without it, if the lock lacks an entry the workflows use
//! or keeps one they no longer use. Regenerate it with
//! `UPDATE_ACTION_CONTRACTS=1 cargo test --test pipeline_contract`; where
//! GitHub is reachable, `scripts/refresh-action-contracts.sh` downloads the
//! metadata of the pinned SHAs into a temporary folder and does the same.
//!
//! The planted-violation tests (`planted.rs`) copy the repository, break one
//! promise in the copy's workflow and assert that the check names it and the
//! fix.

mod check;
mod contract;
mod expressions;
mod lock;
mod pinned;
pub(crate) mod pins;
mod planted;
mod source;
pub(crate) mod tools;

use std::fs;
use std::path::Path;

use check::check;
use lock::{LOCK_PATH, Lock, REFRESH, UPDATE_VAR};
use pins::{PINS_VAR, Pins, pinned_in, pins_file, tags_for};
use source::Source;

#[test]
fn every_action_call_honours_the_contract_of_its_pinned_action() {
    let root = crate::repo_root();
    let source = Source::for_repo(&root).unwrap_or_else(|why| panic!("{why}"));
    let report = check(&root, &source);
    assert!(
        report.calls > 0,
        "no `uses:` step found: the walk no longer matches the workflows"
    );
    let findings: Vec<String> = report.violations.iter().map(ToString::to_string).collect();
    assert!(
        findings.is_empty(),
        "{} action call(s) break the contract of their action (read from {}):\n\n{}\n",
        findings.len(),
        source.describe(),
        findings.join("\n")
    );
}

#[test]
fn the_committed_lock_matches_the_action_metadata() {
    let root = crate::repo_root();
    let dir = Source::metadata_dir(&root).unwrap_or_else(|why| panic!("{why}"));
    let update = std::env::var(UPDATE_VAR).is_ok_and(|v| v == "1");
    let Some(dir) = dir else {
        assert!(
            !update,
            "{UPDATE_VAR}=1 needs the metadata folder (../shared/actions or $ACTION_METADATA_DIR): \
             use scripts/refresh-action-contracts.sh, which downloads it"
        );
        assert_lock_covers_the_workflows(&root);
        return;
    };
    let folder = Source::Folder(dir);
    let expected = Lock::generate(
        &check(&root, &folder).requests,
        &folder,
        tags_for(&root, &pins_for_generating(&root)),
    )
    .to_json();
    let path = root.join(LOCK_PATH);
    if update {
        fs::write(&path, &expected).unwrap_or_else(|e| panic!("write {LOCK_PATH}: {e}"));
        eprintln!("wrote {LOCK_PATH} from {}", folder.describe());
        return;
    }
    let committed = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == expected,
        "{LOCK_PATH} is not what {} and the pins file give for the actions and tools the \
         workflows use (a pin or a tool changed); {REFRESH}",
        folder.describe()
    );
}

/// Without the metadata the lock cannot be regenerated, but it must still
/// hold an entry for every pin, action and tool the workflows use, and none
/// they do not.
fn assert_lock_covers_the_workflows(root: &Path) {
    let lock = Lock::read(root).unwrap_or_else(|why| panic!("{why}"));
    let requests = check(root, &Source::Lock(lock.clone())).requests;
    let drift = lock.drift(&requests, &pinned_in(root));
    assert!(
        drift.is_empty(),
        "{LOCK_PATH} does not match the workflows:\n\n{}\n",
        drift.join("\n")
    );
}

/// The pins file: the only source of the tags the lock records.
fn pins_for_generating(root: &Path) -> Pins {
    pins_file(root)
        .unwrap_or_else(|why| panic!("{why}"))
        .unwrap_or_else(|| {
            panic!(
                "the lock records each pin's tag from the pins file, and there is none \
                 (../shared/action-pins.md or ${PINS_VAR}): put it beside the metadata folder, \
                 or use scripts/refresh-action-contracts.sh, which writes one from GitHub's tags"
            )
        })
        .pins
}
