//! The tools a job asks taiki-e/install-action for (written in `tool:`, or
//! computed by scripts/tool-pins.sh from scripts/tools/cargo-tools.txt), the
//! CPU of the runner that installs them, and whether the manifest has them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use super::contract::{Arch, ToolManifest};
use super::expressions::{Context, references, strings, writes_output};
use super::pinned::Pinned;
use crate::{Job, scalar};

pub(crate) const INSTALL_ACTION: &str = "taiki-e/install-action";
/// Prints `tools=NAME@VERSION,…` for the names it is given.
const TOOL_PINS: &str = "scripts/tool-pins.sh";
/// `name version [ci-only]` lines: the versions tool-pins.sh prints.
const CARGO_TOOLS: &str = "scripts/tools/cargo-tools.txt";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ToolRequest {
    pub(crate) name: String,
    /// `None`: the newest version.
    pub(crate) version: Option<String>,
    /// Where to change the version: the `tool:` value or cargo-tools.txt.
    pub(crate) pinned_in: String,
}

impl ToolRequest {
    fn parse(word: &str, pinned_in: &str) -> Self {
        let (name, version) = match word.split_once('@') {
            Some((name, version)) => (name, Some(version.to_owned())),
            None => (word, None),
        };
        Self {
            name: name.to_owned(),
            version,
            pinned_in: pinned_in.to_owned(),
        }
    }

    fn text(&self) -> String {
        match &self.version {
            Some(version) => format!("{}@{version}", self.name),
            None => self.name.clone(),
        }
    }

    /// What is wrong with installing this tool on `arch` with `manifest`
    /// (`None`: install-action has no manifest for it), and the fix.
    pub(crate) fn problem(
        &self,
        manifest: Option<&ToolManifest>,
        arch: Arch,
        installer: &Pinned,
    ) -> Option<(String, String)> {
        let move_installer = format!("or move {INSTALL_ACTION} to a commit whose manifest has it");
        let Some(manifest) = manifest else {
            return Some((
                format!(
                    "`{installer}` has no manifest for `{}`, so it cannot install it \
                     (with `fallback: none` the step fails)",
                    self.name
                ),
                format!("install it another way, drop it from this job, {move_installer}"),
            ));
        };
        let Some(version) = manifest.resolve(self.version.as_deref()) else {
            return Some((
                format!(
                    "`{}` is not in the manifest of `{installer}` (its newest: {})",
                    self.text(),
                    manifest.latest()
                ),
                format!(
                    "pin a version the manifest lists in {}, {move_installer}",
                    self.pinned_in
                ),
            ));
        };
        (!manifest.has_binary(version, arch)).then(|| {
            (
                format!(
                    "`{}` has no {arch} binary in the manifest of `{installer}`",
                    self.text()
                ),
                format!(
                    "pin a version with one in {}, or run the job on another runner",
                    self.pinned_in
                ),
            )
        })
    }
}

/// The tools the `tool:` value of a step in `job` asks for, and a
/// problem-and-fix for each part whose value cannot be known here.
pub(crate) fn requested(
    root: &Path,
    job: &Job<'_>,
    value: &str,
) -> (Vec<ToolRequest>, Vec<(String, String)>) {
    let mut tools = Vec::new();
    let mut unknown = Vec::new();
    let mut rest = value;
    loop {
        let (literal, expression) = match rest.split_once("${{") {
            Some((literal, after)) => {
                let (expression, tail) = after.split_once("}}").unwrap_or((after, ""));
                rest = tail;
                (literal, Some(expression.trim()))
            }
            None => (std::mem::take(&mut rest), None),
        };
        tools.extend(
            literal
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|word| !word.is_empty())
                .map(|word| ToolRequest::parse(word, "the `tool:` value")),
        );
        let Some(expression) = expression else { break };
        match computed(root, job, expression) {
            Ok(computed) => tools.extend(computed),
            Err(problem) => unknown.push(problem),
        }
    }
    (tools, unknown)
}

/// The tools of `${{ steps.<id>.outputs.<name> }}` written by a step that
/// runs scripts/tool-pins.sh with literal tool names.
fn computed(
    root: &Path,
    job: &Job<'_>,
    expression: &str,
) -> Result<Vec<ToolRequest>, (String, String)> {
    let cannot_know = || {
        (
            format!("`tool: ${{{{ {expression} }}}}` has a value this check cannot know"),
            format!(
                "compute it in a `run:` step with `{TOOL_PINS} NAME…` (it writes `tools`) and \
                 pass `${{{{ steps.<id>.outputs.tools }}}}`, or write `name@version` in `tool:`"
            ),
        )
    };
    let [reference] = references(expression)
        .try_into()
        .map_err(|_| cannot_know())?;
    let output = match &reference.output {
        Some(output) if reference.context == Context::Steps && reference.text() == expression => {
            output
        }
        _ => return Err(cannot_know()),
    };
    let step = job
        .steps()
        .into_iter()
        .find(|s| s.yaml["id"].as_str() == Some(&reference.id));
    // A missing step or output is the reference check's finding.
    let run = step
        .as_ref()
        .and_then(|s| s.run())
        .ok_or_else(cannot_know)?;
    let names = tool_pins_arguments(run).ok_or_else(cannot_know)?;
    let script = fs::read_to_string(root.join(TOOL_PINS)).unwrap_or_default();
    if !writes_output(&script, output) {
        return Err(cannot_know());
    }
    let pins = cargo_tool_pins(root)?;
    names
        .iter()
        .map(|name| {
            let version = pins.get(name).ok_or_else(|| {
                (
                    format!("`{TOOL_PINS} {name}` fails: `{name}` is not pinned in {CARGO_TOOLS}"),
                    format!("add a line `{name} <version>` to {CARGO_TOOLS}"),
                )
            })?;
            Ok(ToolRequest::parse(
                &format!("{name}@{version}"),
                &format!(
                    "{CARGO_TOOLS} (read by `{TOOL_PINS}` in step `{}`)",
                    reference.id
                ),
            ))
        })
        .collect()
}

/// The tool names of the one `scripts/tool-pins.sh NAME…` call in `run`, or
/// `None` when there is none, more than one, or a name is not literal.
fn tool_pins_arguments(run: &str) -> Option<Vec<String>> {
    let joined = run.replace("\\\n", " ");
    if joined.matches(TOOL_PINS).count() != 1 {
        return None;
    }
    let (_, after) = joined.split_once(TOOL_PINS)?;
    let line = after.lines().next().unwrap_or("");
    let end = line
        .find(['>', '|', ';', '&', ')', '#'])
        .unwrap_or(line.len());
    let names: Vec<String> = line[..end]
        .split_whitespace()
        .map(|word| word.trim_matches(|c| c == '"' || c == '\'').to_owned())
        .filter(|word| !word.is_empty())
        .collect();
    let literal = |name: &String| {
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    };
    (!names.is_empty() && names.iter().all(literal)).then_some(names)
}

/// name → version from scripts/tools/cargo-tools.txt; the first line of a
/// name wins, as in tool-pins.sh.
pub(crate) fn cargo_tool_pins(root: &Path) -> Result<BTreeMap<String, String>, (String, String)> {
    let text = fs::read_to_string(root.join(CARGO_TOOLS)).map_err(|e| {
        (
            format!("{CARGO_TOOLS} cannot be read ({e})"),
            format!("restore {CARGO_TOOLS}: `name version` per line"),
        )
    })?;
    let mut pins = BTreeMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        if let (Some(name), Some(version)) = (words.next(), words.next()) {
            pins.entry(name.to_owned())
                .or_insert_with(|| version.to_owned());
        }
    }
    Ok(pins)
}

/// The CPUs of the runners the job runs on: a label with `-arm` (GitHub's
/// `ubuntu-24.04-arm`) is `aarch64`, any other `x86_64`. `runs-on` that names a
/// matrix value counts each value the matrix lists.
pub(crate) fn runner_archs(job: &Job<'_>) -> BTreeSet<Arch> {
    let matrix = &job.yaml["strategy"]["matrix"];
    let mut labels: Vec<String> = Vec::new();
    for text in strings(&job.yaml["runs-on"]) {
        let keys: Vec<&str> = text
            .match_indices("matrix.")
            .map(|(at, _)| {
                let key = &text[at + "matrix.".len()..];
                &key[..key
                    .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')))
                    .unwrap_or(key.len())]
            })
            .collect();
        if keys.is_empty() {
            labels.push(text.to_owned());
        }
        for key in keys {
            let listed = matrix[key].as_vec().into_iter().flatten();
            let included = matrix["include"]
                .as_vec()
                .into_iter()
                .flatten()
                .map(|entry| &entry[key]);
            labels.extend(listed.chain(included).filter_map(scalar));
        }
    }
    let archs: BTreeSet<Arch> = labels
        .iter()
        .map(|label| {
            if label.contains("-arm") {
                Arch::Aarch64
            } else {
                Arch::X86_64
            }
        })
        .collect();
    if archs.is_empty() {
        BTreeSet::from([Arch::X86_64])
    } else {
        archs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_pins_arguments_are_the_literal_names_before_the_redirection() {
        assert_eq!(
            tool_pins_arguments("scripts/tool-pins.sh cargo-deny cargo-audit >>\"$GITHUB_OUTPUT\""),
            Some(vec!["cargo-deny".to_owned(), "cargo-audit".to_owned()])
        );
        assert_eq!(
            tool_pins_arguments("./scripts/tool-pins.sh \\\n  cargo-nextest | tee x"),
            Some(vec!["cargo-nextest".to_owned()])
        );
        assert_eq!(
            tool_pins_arguments("\"$GITHUB_WORKSPACE/scripts/tool-pins.sh\" cargo-deny"),
            Some(vec!["cargo-deny".to_owned()])
        );
        assert_eq!(tool_pins_arguments("scripts/tool-pins.sh \"$TOOLS\""), None);
        assert_eq!(tool_pins_arguments("echo tools=x"), None);
    }

    #[test]
    fn the_runner_cpu_comes_from_runs_on_or_each_matrix_value() {
        let archs = |yaml: &str| {
            let doc = yaml_rust2::YamlLoader::load_from_str(yaml).expect("valid YAML");
            runner_archs(&Job {
                id: "j",
                yaml: &doc[0],
            })
        };
        assert_eq!(
            archs("runs-on: ubuntu-24.04"),
            BTreeSet::from([Arch::X86_64])
        );
        assert_eq!(
            archs("runs-on: ubuntu-24.04-arm"),
            BTreeSet::from([Arch::Aarch64])
        );
        assert_eq!(
            archs(
                "runs-on: ${{ matrix.runner }}\nstrategy:\n  matrix:\n    include:\n      \
                 - runner: ubuntu-24.04\n      - runner: ubuntu-24.04-arm\n"
            ),
            BTreeSet::from([Arch::X86_64, Arch::Aarch64])
        );
    }

    #[test]
    fn a_request_names_the_version_and_where_it_is_pinned() {
        let manifest = ToolManifest::parse(
            r#"{"latest":{"version":"0.7.5"},"0.7.5":{"x86_64_linux_musl":{}}}"#,
        )
        .expect("valid manifest");
        let installer = Pinned::parse("taiki-e/install-action@abc").expect("an action");
        let request = ToolRequest::parse("cargo-auditable@0.7.7", "cargo-tools.txt");
        let (problem, fix) = request
            .problem(Some(&manifest), Arch::X86_64, &installer)
            .expect("0.7.7 is not listed");
        assert!(problem.contains("`cargo-auditable@0.7.7`") && problem.contains("0.7.5"));
        assert!(fix.contains("cargo-tools.txt"));
        let listed = ToolRequest::parse("cargo-auditable@0.7.5", "x");
        assert_eq!(
            listed.problem(Some(&manifest), Arch::X86_64, &installer),
            None
        );
        assert!(
            listed
                .problem(Some(&manifest), Arch::Aarch64, &installer)
                .is_some(),
            "no aarch64 binary"
        );
    }
}
