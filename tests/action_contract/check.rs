//! The walk: every step of every job of every workflow, checked against the
//! contracts of the actions it calls.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::Path;

use yaml_rust2::Yaml;

use super::contract::ActionContract;
use super::expressions::{Context, Reference, references, strings, writes_output};
use super::lock::Requests;
use super::pinned::Pinned;
use super::source::{Source, read_action};
use super::tools::{INSTALL_ACTION, requested, runner_archs};
use crate::{Job, Step, Workflow, at, at_step, scripts_in, workflows_in};

/// One broken promise: where, what, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) place: String,
    pub(crate) problem: String,
    pub(crate) fix: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}.\n    fix: {}.",
            self.place, self.problem, self.fix
        )
    }
}

#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) violations: Vec<Violation>,
    /// What the workflows ask of their actions (the lock's content).
    pub(crate) requests: Requests,
    /// Action calls checked: zero means the walk found nothing to check.
    pub(crate) calls: usize,
}

impl Report {
    fn violation(&mut self, place: String, problem: String, fix: String) {
        let violation = Violation {
            place,
            problem,
            fix,
        };
        if !self.violations.contains(&violation) {
            self.violations.push(violation);
        }
    }
}

/// Checks every workflow of the repository at `root` against `source`.
pub(crate) fn check(root: &Path, source: &Source) -> Report {
    let mut report = Report::default();
    for workflow in workflows_in(root) {
        for job in workflow.jobs() {
            if job.yaml["uses"].as_str().is_some() {
                continue; // a reusable workflow: its own jobs call the actions
            }
            let steps = job.steps();
            let contracts: Vec<Option<ActionContract>> = steps
                .iter()
                .map(|step| call(root, source, &workflow, &job, step, &mut report))
                .collect();
            let job_view = JobView {
                root,
                workflow: &workflow,
                job: &job,
                steps: &steps,
                contracts: &contracts,
            };
            for (index, step) in steps.iter().enumerate() {
                let place = at_step(&workflow, &job, step);
                for text in strings(step.yaml) {
                    job_view.check_references(&place, index, text, &mut report);
                }
            }
            // Job-level fields (outputs, env, if, …) see every step.
            for (key, value) in job.yaml.as_hash().into_iter().flatten() {
                let Some(key) = key.as_str().filter(|k| *k != "steps") else {
                    continue;
                };
                let place = format!("{} › `{key}:`", at(&workflow, &job));
                for text in strings(value) {
                    job_view.check_references(&place, steps.len(), text, &mut report);
                }
            }
        }
    }
    report
}

/// Checks one step's `uses:` call: its metadata, its `with:` keys and, for
/// install-action, its tools. The action's contract, if known.
fn call(
    root: &Path,
    source: &Source,
    workflow: &Workflow,
    job: &Job<'_>,
    step: &Step<'_>,
    report: &mut Report,
) -> Option<ActionContract> {
    let uses = step.uses()?;
    let place = at_step(workflow, job, step);
    let pinned = Pinned::parse(uses);
    let contract = match &pinned {
        Some(pinned) => {
            report.requests.actions.insert(pinned.clone());
            source.action(pinned)
        }
        None if uses.starts_with("./") => read_action(&root.join(uses))
            .map_err(|why| format!("{why}: the local action `{uses}` needs one")),
        None => return None, // docker://image: no metadata to check against
    };
    report.calls += 1;
    let contract = match contract {
        Ok(contract) => contract,
        Err(fix) => {
            report.violation(
                place,
                format!("`uses: {uses}` has no metadata to check the call against"),
                fix,
            );
            return None;
        }
    };
    let given: Vec<String> = step.yaml["with"]
        .as_hash()
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.as_str().map(str::to_owned))
        .collect();
    for key in given.iter().filter(|key| !contract.takes(key)) {
        report.violation(
            place.clone(),
            format!(
                "`with: {key}` is not an input of `{uses}` (GitHub ignores it with only a warning)"
            ),
            format!(
                "remove it, or use one of its inputs: {}",
                contract.input_list()
            ),
        );
    }
    for name in contract.missing_required(&given) {
        report.violation(
            place.clone(),
            format!("`{uses}` requires input `{name}`, which has no default"),
            format!("add `with: {name}: …`"),
        );
    }
    if let Some(installer) = pinned.filter(|p| p.action == INSTALL_ACTION) {
        check_tools(root, source, &place, job, step, &installer, report);
    }
    Some(contract)
}

/// Each tool the step asks install-action for must be in its manifest for
/// the runner's CPU.
fn check_tools(
    root: &Path,
    source: &Source,
    place: &str,
    job: &Job<'_>,
    step: &Step<'_>,
    installer: &Pinned,
    report: &mut Report,
) {
    let Some(value) = crate::scalar(step.input("tool")) else {
        return; // a missing `tool:` is a missing required input
    };
    let (tools, unknown) = requested(root, job, &value);
    for (problem, fix) in unknown {
        report.violation(place.to_owned(), problem, fix);
    }
    for tool in tools {
        report
            .requests
            .tools
            .entry(installer.clone())
            .or_default()
            .insert(tool.name.clone());
        let manifest = match source.tool(installer, &tool.name) {
            Ok(manifest) => manifest,
            Err(fix) => {
                report.violation(
                    place.to_owned(),
                    format!(
                        "cannot tell whether `{installer}` can install `{}`",
                        tool.name
                    ),
                    fix,
                );
                continue;
            }
        };
        for arch in runner_archs(job) {
            if let Some((problem, fix)) = tool.problem(manifest.as_ref(), arch, installer) {
                report.violation(place.to_owned(), problem, fix);
            }
        }
    }
}

/// What the reference check needs to know about one job.
struct JobView<'a> {
    root: &'a Path,
    workflow: &'a Workflow,
    job: &'a Job<'a>,
    steps: &'a [Step<'a>],
    /// The contract of each step's action (`None`: a `run:` step, or unknown).
    contracts: &'a [Option<ActionContract>],
}

impl JobView<'_> {
    /// Checks the references in `text`, found in the step at `index` (or in
    /// a job-level field, `index` = the number of steps).
    fn check_references(&self, place: &str, index: usize, text: &str, report: &mut Report) {
        for reference in references(text) {
            let problem = match reference.context {
                Context::Steps => self.step_reference(index, &reference),
                Context::Needs => self.needs_reference(&reference),
            };
            if let Some((problem, fix)) = problem {
                report.violation(place.to_owned(), problem, fix);
            }
        }
    }

    fn step_reference(&self, index: usize, reference: &Reference) -> Option<(String, String)> {
        let text = reference.text();
        let Some(target) = self
            .steps
            .iter()
            .position(|s| s.yaml["id"].as_str() == Some(&reference.id))
        else {
            return Some((
                format!(
                    "`{text}` names no step: no step of job `{}` has `id: {}`",
                    self.job.id, reference.id
                ),
                format!(
                    "give the step meant `id: {}`, or correct the reference",
                    reference.id
                ),
            ));
        };
        if target >= index {
            return Some((
                format!("`{text}` is read before step `{}` has run", reference.id),
                "read it in a later step (a step sees only the steps before it)".to_owned(),
            ));
        }
        let output = reference.output.as_deref()?;
        let step = &self.steps[target];
        if let Some(contract) = &self.contracts[target] {
            return (!contract.outputs.contains(output)).then(|| {
                (
                    format!(
                        "`{text}`: `{}` declares no output `{output}`",
                        step.uses().unwrap_or_default()
                    ),
                    format!("use one of its outputs: {}", contract.output_list()),
                )
            });
        }
        let script = step.run()?;
        let mut texts = vec![script.to_owned()];
        texts.extend(
            // `./scripts/x.sh` runs the same file as `scripts/x.sh`.
            scripts_in(&script.replace("./scripts/", " scripts/"))
                .into_iter()
                .filter_map(|(path, _)| fs::read_to_string(self.root.join(path)).ok()),
        );
        (!texts.iter().any(|t| writes_output(t, output))).then(|| {
            (
                format!(
                    "`{text}`: step `{}` never writes `{output}` (neither its script nor a \
                     script it runs has `{output}=` or `{output}<<`)",
                    reference.id
                ),
                format!(
                    "write it (`echo \"{output}=…\" >>\"$GITHUB_OUTPUT\"`), or read an output \
                     the step writes"
                ),
            )
        })
    }

    fn needs_reference(&self, reference: &Reference) -> Option<(String, String)> {
        let text = reference.text();
        let needs = self.job.needs();
        if !needs.contains(&reference.id.as_str()) {
            return Some((
                format!(
                    "`{text}` names job `{}`, which is not in this job's `needs:` (so it is empty)",
                    reference.id
                ),
                format!("add `{}` to `needs:`", reference.id),
            ));
        }
        let output = reference.output.as_deref()?;
        let jobs: BTreeMap<&str, &Yaml> = self
            .workflow
            .jobs()
            .into_iter()
            .map(|job| (job.id, job.yaml))
            .collect();
        let needed = jobs.get(reference.id.as_str())?;
        if needed["uses"].as_str().is_some() {
            return None; // a reusable workflow's outputs are declared in it
        }
        let declared: Vec<&str> = needed["outputs"]
            .as_hash()
            .into_iter()
            .flatten()
            .filter_map(|(k, _)| k.as_str())
            .collect();
        (!declared.contains(&output)).then(|| {
            (
                format!(
                    "`{text}`: job `{}` declares no output `{output}`",
                    reference.id
                ),
                format!(
                    "add `{output}: ${{{{ steps.<id>.outputs.<name> }}}}` to the `outputs:` of job `{}` \
                     (it has: {})",
                    reference.id,
                    if declared.is_empty() {
                        "none".to_owned()
                    } else {
                        declared.join(", ")
                    }
                ),
            )
        })
    }
}
