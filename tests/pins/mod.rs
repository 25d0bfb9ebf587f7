//! Every pinned version in the repository has exactly one updater.
//!
//! The pins are enumerated from the files themselves (the forms a version
//! is pinned in here), independently of the bots' configuration; then each
//! one must be claimed by exactly one updater: an entry of
//! `.github/dependabot.yml` (by ecosystem and directory) or a manager of
//! `renovate.json` (its built-in managers by the files they read, its regex
//! managers by running their `matchStrings` over their files, as Renovate
//! does). No updater means a pin that silently goes stale; two mean
//! competing pull requests. A regex manager that matches nothing is a dead
//! updater, and fails too.

use std::fmt;
use std::fs;
use std::path::Path;

use regex::Regex;
use yaml_rust2::YamlLoader;

use crate::support;

/// One pinned version: where it is and what pins it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pin {
    file: String,
    /// 1-based line of the pinned value (0: the whole file, e.g. a lock file).
    line: usize,
    kind: Kind,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `uses: owner/repo@<sha>` in a workflow.
    Action,
    /// A lock file (Cargo.lock): every crate in it.
    CrateLock,
    /// `name==version` in a Python requirements file or its `.in`.
    Python,
    /// A line of `scripts/tools/*-tools.txt`.
    Tool,
    /// `channel` of a rust-toolchain.toml.
    Toolchain,
    /// `ARG *_VERSION=` in a Dockerfile.
    DockerfileArg,
    /// `image: name:tag` of a third-party image in a YAML file.
    Image,
    /// `NAME_VERSION=value` in a script.
    ScriptVariable,
    /// `version:` or `*_version:` with a literal value, an input of an action.
    ActionInput,
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} ({:?}) `{}`",
            self.file,
            self.line,
            self.kind,
            self.text.trim()
        )
    }
}

/// The repository's files, as `/`-separated paths relative to its root.
fn repository_files() -> Vec<String> {
    support::repository_files()
        .iter()
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .collect()
}

fn pins(files: &[String]) -> Vec<Pin> {
    let root = Path::new(support::REPO);
    let action = Regex::new(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40}").expect("regex");
    let python = Regex::new(r"^[A-Za-z0-9._-]+(\[[^\]]*\])?==\S+").expect("regex");
    let dockerfile_arg = Regex::new(r"^ARG [A-Z0-9_]+_VERSION=\S+").expect("regex");
    let image = Regex::new(r"^\s*(- )?image: [a-z0-9][\w./-]*:[\w.-]+").expect("regex");
    let script_variable = Regex::new(r"^[A-Z0-9_]+_VERSION=[^$\s]").expect("regex");
    let action_input = Regex::new(r"^\s+([a-z_]+_)?version: v?\d").expect("regex");
    let mut pins = Vec::new();
    for file in files {
        let rel = Path::new(file);
        let file = file.clone();
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ext = rel.extension().and_then(|e| e.to_str()).unwrap_or_default();
        if file.starts_with("tests/") || file.starts_with("docs/") || ext == "md" {
            continue; // examples and prose, not pins
        }
        if name == "Cargo.lock" {
            pins.push(Pin {
                file,
                line: 0,
                kind: Kind::CrateLock,
                text: "every crate".into(),
            });
            continue;
        }
        let Ok(text) = fs::read_to_string(root.join(rel)) else {
            continue;
        };
        let in_tools = file.starts_with("scripts/tools/");
        let is_requirements = in_tools && matches!(ext, "txt" | "in");
        for (index, line) in text.lines().enumerate() {
            let kind = if line.trim_start().starts_with('#') || line.trim().is_empty() {
                None
            } else if file.starts_with(".github/workflows/") && action.is_match(line) {
                Some(Kind::Action)
            } else if file.starts_with(".github/workflows/") && action_input.is_match(line) {
                Some(Kind::ActionInput)
            } else if in_tools && name.ends_with("-tools.txt") {
                Some(Kind::Tool)
            } else if is_requirements && python.is_match(line.trim_start()) {
                Some(Kind::Python)
            } else if name == "rust-toolchain.toml" && line.starts_with("channel") {
                Some(Kind::Toolchain)
            } else if name == "Dockerfile" && dockerfile_arg.is_match(line) {
                Some(Kind::DockerfileArg)
            } else if matches!(ext, "yaml" | "yml")
                && image.is_match(line)
                // The service's own image is set by the deploy, not pinned.
                && !line.contains(&format!("image: {}:", env!("CARGO_PKG_NAME")))
            {
                Some(Kind::Image)
            } else if ext == "sh" && script_variable.is_match(line) {
                Some(Kind::ScriptVariable)
            } else {
                None
            };
            if let Some(kind) = kind {
                pins.push(Pin {
                    file: file.clone(),
                    line: index + 1,
                    kind,
                    text: line.to_owned(),
                });
            }
        }
    }
    pins
}

/// Something that updates pins, and a way to tell which.
struct Updater {
    name: String,
    claims: Box<dyn Fn(&Pin) -> bool>,
}

fn read(rel: &str) -> String {
    fs::read_to_string(Path::new(support::REPO).join(rel))
        .unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// Whether `file` is in `directory` (Dependabot's `/`-rooted form) itself,
/// not in a subdirectory of it.
fn directly_in(file: &str, directory: &str) -> bool {
    let dir = directory.trim_matches('/');
    let parent = file.rsplit_once('/').map_or("", |(parent, _)| parent);
    parent == dir
}

fn dependabot() -> Vec<Updater> {
    let doc = &YamlLoader::load_from_str(&read(".github/dependabot.yml"))
        .expect(".github/dependabot.yml is YAML")[0];
    let mut updaters = Vec::new();
    for entry in doc["updates"]
        .as_vec()
        .expect(".github/dependabot.yml: an `updates:` list")
    {
        let ecosystem = entry["package-ecosystem"]
            .as_str()
            .expect("package-ecosystem")
            .to_owned();
        let mut directories: Vec<String> = entry["directories"]
            .as_vec()
            .map(|d| {
                d.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        directories.extend(entry["directory"].as_str().map(str::to_owned));
        for directory in directories {
            let eco = ecosystem.clone();
            let dir = directory.clone();
            let claims: Box<dyn Fn(&Pin) -> bool> = Box::new(move |pin: &Pin| match eco.as_str() {
                "cargo" => pin.kind == Kind::CrateLock && directly_in(&pin.file, &dir),
                // Dependabot reads the workflows wherever `directory` points.
                "github-actions" => pin.kind == Kind::Action,
                "pip" => pin.kind == Kind::Python && directly_in(&pin.file, &dir),
                "docker-compose" => {
                    pin.kind == Kind::Image
                        && directly_in(&pin.file, &dir)
                        && pin.file.contains("compose")
                }
                "rust-toolchain" => pin.kind == Kind::Toolchain && directly_in(&pin.file, &dir),
                other => panic!(
                    ".github/dependabot.yml: this test does not know what `{other}` updates; teach it"
                ),
            });
            updaters.push(Updater {
                name: format!("Dependabot {ecosystem} {directory}"),
                claims,
            });
        }
    }
    updaters
}

/// A Renovate file pattern (`/regex/` or an exact path) as a regex.
fn file_pattern(pattern: &str) -> Regex {
    let source = match pattern.strip_prefix('/').and_then(|p| p.strip_suffix('/')) {
        Some(regex) => regex.to_owned(),
        None => format!("^{}$", regex::escape(pattern)),
    };
    Regex::new(&source).unwrap_or_else(|e| panic!("renovate.json: file pattern {pattern}: {e}"))
}

fn renovate(files: &[String]) -> (Vec<Updater>, Vec<(String, usize)>) {
    let config: serde_json::Value =
        serde_json::from_str(&read("renovate.json")).expect("renovate.json is JSON");
    let enabled: Vec<String> = config["enabledManagers"]
        .as_array()
        .expect("renovate.json: `enabledManagers` (without it Renovate also runs the managers Dependabot owns)")
        .iter()
        .filter_map(|m| m.as_str().map(str::to_owned))
        .collect();
    let mut updaters = Vec::new();
    for manager in &enabled {
        match manager.as_str() {
            "custom.regex" => {}
            "rust-toolchain" => updaters.push(Updater {
                name: "Renovate rust-toolchain".into(),
                claims: Box::new(|pin: &Pin| pin.kind == Kind::Toolchain),
            }),
            other => panic!(
                "renovate.json: this test does not know what the `{other}` manager updates; teach it"
            ),
        }
    }
    // Each regex manager's matches, as (file, line of the matched value).
    let mut regex_matches = Vec::new();
    for (index, manager) in config["customManagers"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        assert!(
            enabled.iter().any(|m| m == "custom.regex"),
            "renovate.json: customManagers need `custom.regex` in enabledManagers"
        );
        let patterns: Vec<Regex> = manager["managerFilePatterns"]
            .as_array()
            .expect("renovate.json: each custom manager has managerFilePatterns")
            .iter()
            .map(|p| file_pattern(p.as_str().expect("a string")))
            .collect();
        let mut lines = Vec::new();
        for file in files
            .iter()
            .filter(|f| patterns.iter().any(|p| p.is_match(f)))
        {
            let text = read(file);
            for source in manager["matchStrings"]
                .as_array()
                .expect("matchStrings")
                .iter()
                .filter_map(|s| s.as_str())
            {
                // Renovate compiles each with the `g` flag only: `^` and `$`
                // are the file's ends, as in a regex without multi-line mode.
                let regex = Regex::new(source)
                    .unwrap_or_else(|e| panic!("renovate.json: matchString {source}: {e}"));
                for captures in regex.captures_iter(&text) {
                    let value = captures
                        .name("currentValue")
                        .expect("matchStrings capture currentValue");
                    let line = text[..value.start()].matches('\n').count() + 1;
                    lines.push((file.clone(), line));
                }
            }
        }
        let description = manager["description"].as_str().unwrap_or("?").to_owned();
        regex_matches.push((description.clone(), lines.len()));
        updaters.push(Updater {
            name: format!("Renovate regex manager #{} ({description})", index + 1),
            claims: Box::new(move |pin: &Pin| {
                lines.iter().any(|(f, l)| *f == pin.file && *l == pin.line)
            }),
        });
    }
    (updaters, regex_matches)
}

#[test]
fn every_pinned_version_has_exactly_one_updater() {
    let files = repository_files();
    let pins = pins(&files);
    for kind in [
        Kind::Action,
        Kind::CrateLock,
        Kind::Python,
        Kind::Tool,
        Kind::Toolchain,
        Kind::DockerfileArg,
        Kind::Image,
        Kind::ScriptVariable,
        Kind::ActionInput,
    ] {
        assert!(
            pins.iter().any(|p| p.kind == kind),
            "no {kind:?} pin found: has the enumeration stopped seeing them?"
        );
    }
    let (renovate, regex_matches) = renovate(&files);
    for (description, matches) in &regex_matches {
        assert!(
            *matches > 0,
            "renovate.json: the regex manager \"{description}\" matches nothing: a dead updater"
        );
    }
    let updaters: Vec<Updater> = dependabot().into_iter().chain(renovate).collect();
    let mut problems = Vec::new();
    for pin in &pins {
        let owners: Vec<&str> = updaters
            .iter()
            .filter(|u| (u.claims)(pin))
            .map(|u| u.name.as_str())
            .collect();
        match owners.len() {
            1 => {}
            0 => problems.push(format!("{pin}: no updater; add it to renovate.json (a regex manager) or .github/dependabot.yml")),
            _ => problems.push(format!("{pin}: {} updaters ({}); leave it to one", owners.len(), owners.join(", "))),
        }
    }
    assert!(
        problems.is_empty(),
        "{} pin(s) without exactly one updater:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn each_dependabot_directory_holds_what_it_updates() {
    // A moved file must not end its updates silently: every Dependabot
    // entry claims at least one pin.
    let files = repository_files();
    let pins = pins(&files);
    for updater in dependabot() {
        assert!(
            pins.iter().any(|p| (updater.claims)(p)),
            "{} updates nothing: is its directory right?",
            updater.name
        );
    }
}
