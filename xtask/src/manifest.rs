//! Facts read from the repository's manifests: the service's name is the
//! `[package]` name in Cargo.toml, the one place it is written.

use std::fs;
use std::path::Path;

use crate::{Error, Result, fail};

/// The `name` of the `[package]` table of a Cargo.toml (not a `[[bin]]` or
/// dependency name).
pub fn package_name(manifest: &str) -> Option<String> {
    package_field(manifest, "name")
}

/// A string field of the `[package]` table, e.g. `version`.
pub fn package_field(manifest: &str, field: &str) -> Option<String> {
    table_field(manifest, "package", field)
}

/// A string field of a TOML table, e.g. the `channel` of the `[toolchain]`
/// of a rust-toolchain.toml.
pub fn table_field(toml: &str, table: &str, field: &str) -> Option<String> {
    let header = format!("[{table}]");
    let mut in_table = false;
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_table = line == header;
            continue;
        }
        if !in_table {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() == field {
            let value = value.trim();
            return value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_owned);
        }
    }
    None
}

/// The service's name: the package name in `<root>/Cargo.toml`.
pub fn service_name(root: &Path) -> Result<String> {
    let path = root.join("Cargo.toml");
    let text = fs::read_to_string(&path)
        .map_err(|e| Error(format!("cannot read {}: {e}", path.display())))?;
    match package_name(&text) {
        Some(name) if !name.is_empty() => Ok(name),
        _ => fail!(
            "no package name in {} ([package] name = \"...\"); the service's name is read from there",
            path.display()
        ),
    }
}

/// Whether a Cargo.lock lists a package called `name`.
pub fn lock_has_package(lock: &str, name: &str) -> bool {
    let wanted = format!("name = \"{name}\"");
    lock.lines().any(|line| line.trim_end() == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_package_name_is_read_from_the_package_table_only() {
        let manifest = "[workspace]\nname = \"no\"\n\n[package]\nversion = \"1\"\nname = \"my-svc\"\n\n[[bin]]\nname = \"other\"\n";
        assert_eq!(package_name(manifest).as_deref(), Some("my-svc"));
        assert_eq!(package_name("[package]\nname=\"x\"").as_deref(), Some("x"));
        assert_eq!(package_name("[[bin]]\nname = \"x\"\n"), None);
        assert_eq!(package_name("[package]\nname = x\n"), None);
    }

    #[test]
    fn a_lock_file_package_matches_by_exact_name() {
        let lock = "[[package]]\nname = \"serde\"\nversion = \"1\"\n\n[[package]]\nname = \"serde_json\"\n";
        assert!(lock_has_package(lock, "serde"));
        assert!(lock_has_package(lock, "serde_json"));
        assert!(!lock_has_package(lock, "serde-json"));
        assert!(!lock_has_package(lock, "ser"));
    }
}
