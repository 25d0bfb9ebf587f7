//! The SBOM must describe what ships: the crates compiled into each binary,
//! as the binary itself records them (cargo-auditable embeds the dependency
//! list in its own section), no more and no fewer.

use std::collections::BTreeSet;
use std::path::Path;

use crate::{Error, Result};

/// A crate as `name version`.
pub(super) type Crate = (String, String);

/// What a `CycloneDX` SBOM says: the component it describes and the crates it lists.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Sbom {
    pub(super) subject: Crate,
    pub(super) crates: BTreeSet<Crate>,
}

/// Parses a `CycloneDX` JSON document (cargo-cyclonedx's output).
pub(super) fn parse(json: &str, path: &str) -> Result<Sbom> {
    let doc: serde_json::Value = serde_json::from_str(json).map_err(|e| {
        Error(format!(
            "{path} is not JSON ({e}); regenerate it with cargo cyclonedx"
        ))
    })?;
    let field = |value: &serde_json::Value, key: &str| {
        value.get(key).and_then(|v| v.as_str()).map(str::to_owned)
    };
    let crate_of =
        |value: &serde_json::Value| Some((field(value, "name")?, field(value, "version")?));
    let Some(subject) = doc.pointer("/metadata/component").and_then(crate_of) else {
        return Err(Error(format!(
            "{path} names no component (metadata.component name and version); it is not a CycloneDX SBOM of the crate"
        )));
    };
    let Some(components) = doc.get("components").and_then(|c| c.as_array()) else {
        return Err(Error(format!(
            "{path} has no components list; regenerate it with cargo cyclonedx --all"
        )));
    };
    let crates = components.iter().filter_map(crate_of).collect();
    Ok(Sbom { subject, crates })
}

/// The crates compiled into `binary` (the root package left out), read from
/// its cargo-auditable section.
pub(super) fn compiled_into(binary: &Path) -> Result<BTreeSet<Crate>> {
    let info = auditable_info::audit_info_from_file(binary, auditable_info::Limits::default()).map_err(|e| {
        Error(format!(
            "{} carries no readable dependency list ({e}); build it with scripts/build-binary.sh (cargo auditable)",
            binary.display()
        ))
    })?;
    Ok(info
        .packages
        .into_iter()
        .filter(|package| !package.root)
        .map(|package| (package.name, package.version.to_string()))
        .collect())
}

/// What is wrong between the SBOM and one binary's crates, one line per
/// difference (empty when they agree).
pub(super) fn differences(sbom: &Sbom, compiled: &BTreeSet<Crate>, binary: &str) -> Vec<String> {
    let lacking = compiled.difference(&sbom.crates).map(|(name, version)| {
        format!("the SBOM lacks {name} {version}, which is compiled into {binary}: regenerate the SBOM from this commit's Cargo.lock")
    });
    let extra = sbom.crates.difference(compiled).map(|(name, version)| {
        format!("the SBOM lists {name} {version}, which is not compiled into {binary}: generate it for the musl target, without dev-dependencies")
    });
    lacking.chain(extra).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn krate(name: &str, version: &str) -> Crate {
        (name.to_owned(), version.to_owned())
    }

    const SBOM: &str = r#"{"bomFormat":"CycloneDX","metadata":{"component":{"name":"svc","version":"1.2.3"}},
        "components":[{"name":"axum","version":"0.8.9","scope":"required"},{"name":"cc","version":"1.1.0","scope":"excluded"}]}"#;

    #[test]
    fn the_subject_and_every_component_are_read() {
        let sbom = parse(SBOM, "s.json").expect("valid");
        assert_eq!(sbom.subject, krate("svc", "1.2.3"));
        assert_eq!(
            sbom.crates,
            BTreeSet::from([krate("axum", "0.8.9"), krate("cc", "1.1.0")])
        );
    }

    #[test]
    fn a_document_that_is_not_an_sbom_is_named() {
        assert!(
            parse("{", "s.json")
                .expect_err("not JSON")
                .0
                .starts_with("s.json is not JSON")
        );
        assert!(
            parse("{}", "s.json")
                .expect_err("no subject")
                .0
                .contains("names no component")
        );
    }

    #[test]
    fn each_difference_names_the_crate_and_the_fix() {
        let sbom = parse(SBOM, "s.json").expect("valid");
        let compiled = BTreeSet::from([krate("axum", "0.8.9"), krate("cc", "1.1.0")]);
        assert!(differences(&sbom, &compiled, "a.tar.gz").is_empty());
        let compiled = BTreeSet::from([krate("axum", "0.8.10"), krate("cc", "1.1.0")]);
        assert_eq!(
            differences(&sbom, &compiled, "a.tar.gz"),
            [
                "the SBOM lacks axum 0.8.10, which is compiled into a.tar.gz: regenerate the SBOM from this commit's Cargo.lock",
                "the SBOM lists axum 0.8.9, which is not compiled into a.tar.gz: generate it for the musl target, without dev-dependencies",
            ]
        );
    }

    #[test]
    fn a_binary_without_a_dependency_list_is_refused_with_the_fix() {
        let err = compiled_into(Path::new("/bin/sh")).expect_err("not an auditable build");
        assert!(
            err.0.contains("build it with scripts/build-binary.sh"),
            "{err}"
        );
    }
}
