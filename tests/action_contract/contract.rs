//! What an action promises at one commit, reduced to what a call can get
//! wrong: the inputs it takes, the outputs it sets, and (for
//! taiki-e/install-action) the tool versions its manifests list.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use yaml_rust2::{Yaml, YamlLoader};

use crate::scalar;

/// The contract of one action, read from its `action.yml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ActionContract {
    /// `runs.using`: a `docker` action also takes `args` and `entrypoint`.
    pub(crate) using: String,
    pub(crate) inputs: BTreeSet<String>,
    /// The inputs marked `required` that have no default: a call must set
    /// them (`required` with a default, like docker/metadata-action's
    /// `context`, is satisfied by the default).
    pub(crate) required: BTreeSet<String>,
    pub(crate) outputs: BTreeSet<String>,
}

impl ActionContract {
    /// Parses an `action.yml` / `action.yaml` file's text.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let doc = YamlLoader::load_from_str(text)
            .map_err(|e| format!("not valid YAML: {e}"))?
            .into_iter()
            .next()
            .ok_or("empty file")?;
        let using = doc["runs"]["using"]
            .as_str()
            .ok_or("no `runs.using`: not an action.yml")?
            .to_owned();
        let inputs = names(&doc["inputs"]).map(|(name, _)| name).collect();
        let required = names(&doc["inputs"])
            .filter(|(_, spec)| {
                scalar(&spec["required"]).as_deref() == Some("true")
                    && scalar(&spec["default"]).unwrap_or_default().is_empty()
            })
            .map(|(name, _)| name)
            .collect();
        let outputs = names(&doc["outputs"]).map(|(name, _)| name).collect();
        Ok(Self {
            using,
            inputs,
            required,
            outputs,
        })
    }

    /// True when `with: <key>` sets something the action reads. GitHub
    /// matches input names without regard to case.
    pub(crate) fn takes(&self, key: &str) -> bool {
        let docker_extra = self.using == "docker" && matches!(key, "args" | "entrypoint");
        docker_extra
            || self
                .inputs
                .iter()
                .any(|name| name.eq_ignore_ascii_case(key))
    }

    /// Required inputs without a default that `given` does not set.
    pub(crate) fn missing_required<'a>(&'a self, given: &[String]) -> Vec<&'a str> {
        self.required
            .iter()
            .map(String::as_str)
            .filter(|name| !given.iter().any(|g| g.eq_ignore_ascii_case(name)))
            .collect()
    }

    pub(crate) fn input_list(&self) -> String {
        list(self.inputs.iter())
    }

    pub(crate) fn output_list(&self) -> String {
        list(self.outputs.iter())
    }
}

/// The keys of a YAML mapping with their values (none when it is absent).
fn names(mapping: &Yaml) -> impl Iterator<Item = (String, &Yaml)> {
    mapping
        .as_hash()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((scalar(k)?, v)))
}

fn list<'a>(items: impl Iterator<Item = &'a String>) -> String {
    let items: Vec<&str> = items.map(String::as_str).collect();
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// The CPU of a Linux runner, as install-action's manifests name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    fn key(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Aarch64 => "aarch64",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_linux", self.key())
    }
}

/// What install-action can install of one tool at one commit: its
/// `manifests/<tool>.json`, keeping only what a Linux runner needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ToolManifest {
    /// `latest`, `0.9`, … → the version each stands for.
    pub(crate) aliases: BTreeMap<String, String>,
    /// Each version → the Linux CPUs it has a binary for, e.g.
    /// `"aarch64 x86_64"` (one line per version keeps the lock readable).
    pub(crate) versions: BTreeMap<String, String>,
}

impl ToolManifest {
    /// Parses a `manifests/<tool>.json` file's text.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let doc: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let entries = doc.as_object().ok_or("not a JSON object")?;
        let mut aliases = BTreeMap::new();
        let mut versions = BTreeMap::new();
        for (key, entry) in entries {
            let Some(entry) = entry.as_object() else {
                continue; // `rust_crate` and other scalars
            };
            if key == "template" {
                continue;
            }
            if let Some(target) = entry.get("version").and_then(|v| v.as_str()) {
                aliases.insert(key.clone(), target.to_owned());
                continue;
            }
            let cpus: Vec<&str> = [Arch::Aarch64, Arch::X86_64]
                .into_iter()
                .filter(|arch| {
                    ["musl", "gnu"]
                        .iter()
                        .any(|libc| entry.contains_key(&format!("{arch}_{libc}")))
                })
                .map(Arch::key)
                .collect();
            if !cpus.is_empty() {
                versions.insert(key.clone(), cpus.join(" "));
            }
        }
        Ok(Self { aliases, versions })
    }

    /// The exact version `requested` stands for (`None` and `latest` are the
    /// newest), or `None` when the manifest does not list it.
    pub(crate) fn resolve<'a>(&'a self, requested: Option<&'a str>) -> Option<&'a str> {
        let requested = requested.unwrap_or("latest");
        if self.versions.contains_key(requested) {
            return Some(requested);
        }
        self.aliases.get(requested).map(String::as_str)
    }

    pub(crate) fn has_binary(&self, version: &str, arch: Arch) -> bool {
        self.versions
            .get(version)
            .is_some_and(|cpus| cpus.split(' ').any(|cpu| cpu == arch.key()))
    }

    pub(crate) fn latest(&self) -> &str {
        self.aliases.get("latest").map_or("unknown", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_required_with_a_default_need_not_be_given() {
        let contract = ActionContract::parse(
            "inputs:\n  context:\n    required: true\n    default: workflow\n  \
             tool:\n    required: true\n  extra:\n    required: false\n\
             outputs:\n  tags:\n    description: x\nruns:\n  using: node24\n",
        )
        .expect("valid action.yml");
        assert_eq!(contract.missing_required(&[]), ["tool"]);
        assert!(contract.missing_required(&["TOOL".to_owned()]).is_empty());
        assert!(contract.takes("Extra") && !contract.takes("args"));
        assert_eq!(contract.output_list(), "tags");
    }

    #[test]
    fn a_manifest_resolves_aliases_and_knows_each_versions_cpus() {
        let manifest = ToolManifest::parse(
            r#"{"rust_crate":"t","template":{"x86_64_linux_musl":{}},
                "latest":{"version":"1.2.0"},"1.2":{"version":"1.2.0"},
                "1.2.0":{"x86_64_linux_musl":{},"aarch64_linux_gnu":{}},
                "1.1.0":{"x86_64_linux_gnu":{},"x86_64_macos":{}},
                "1.0.0":{"x86_64_windows":{}}}"#,
        )
        .expect("valid manifest");
        assert_eq!(manifest.resolve(None), Some("1.2.0"));
        assert_eq!(manifest.resolve(Some("1.2")), Some("1.2.0"));
        assert_eq!(manifest.resolve(Some("1.0.0")), None, "no Linux binary");
        assert!(manifest.has_binary("1.2.0", Arch::Aarch64));
        assert!(!manifest.has_binary("1.1.0", Arch::Aarch64));
        assert_eq!(manifest.latest(), "1.2.0");
    }
}
