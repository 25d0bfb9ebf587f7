//! The release checks must be able to fail: each planted fault is a copy of
//! the asset set (or of its inputs) with one thing wrong, and the check that
//! exists for it must refuse it with its own message.

use std::fs;
use std::path::Path;

use super::assets::{self, Inputs, Release};
use super::verify::{Expected, verify};
use crate::bench::table::{Align, Table};
use crate::{Error, Result};

/// One planted fault: what it is, and a phrase the refusal must contain.
struct Fault {
    name: &'static str,
    expect: &'static str,
}

const CORRUPT_ARCHIVE: Fault = Fault {
    name: "an archive corrupted after packaging",
    expect: "does not match its SHA256SUMS line",
};
const OTHER_VERSION: Fault = Fault {
    name: "a binary built from another version",
    expect: "it was built from another version",
};
const NO_NOTES: Fault = Fault {
    name: "no CHANGELOG.md section for the version",
    expect: "has no section for",
};
const SBOM_LACKS_CRATE: Fault = Fault {
    name: "an SBOM that lacks a compiled crate",
    expect: "the SBOM lacks",
};

/// Plants each fault next to `dist` (a verified asset set built from
/// `inputs`), and returns the table of what refused it; an error when one
/// got through or was refused for another reason.
pub(super) fn plant_all(
    release: &Release,
    inputs: &Inputs,
    targets: &[String],
    dist: &Path,
) -> Result<Table> {
    let scratch = dist.with_extension("faults");
    let (changelog, changelog_path) = (&inputs.changelog.0, inputs.changelog.1.as_str());
    let verify_in = |release: &Release, changelog: &str, dir: &Path| {
        verify(
            &Expected {
                release,
                targets,
                changelog: (changelog, changelog_path),
            },
            dir,
        )
        .map(drop)
    };

    let corrupt = {
        copy_flat(dist, &scratch)?;
        let archive = scratch.join(release.archive(&targets[0]));
        flip_a_byte(&archive)?;
        verify_in(release, changelog, &scratch)
    };

    // The same binaries packaged as a later version: what a release gets when
    // Cargo.toml is bumped after the binaries were built.
    let other = {
        let later = Release {
            name: release.name.clone(),
            version: format!("{}-planted", release.version),
        };
        let changelog = format!(
            "## [{}] - 2000-01-01\n\n- planted\n\n{changelog}",
            later.version
        );
        let inputs = Inputs {
            changelog: (changelog.clone(), changelog_path.to_owned()),
            ..inputs.clone()
        };
        assets::build(&later, &inputs, &scratch)
            .and_then(|_| verify_in(&later, &changelog, &scratch))
    };

    let no_notes = {
        let inputs = Inputs {
            changelog: ("# Changelog\n".to_owned(), changelog_path.to_owned()),
            ..inputs.clone()
        };
        assets::build(release, &inputs, &scratch).map(drop)
    };

    let lacking = {
        copy_flat(dist, &scratch)?;
        drop_first_component(&scratch.join(release.sbom(&targets[0])))?;
        assets::write_checksums(&scratch, &release.assets(targets))?;
        verify_in(release, changelog, &scratch)
    };

    if scratch.exists() {
        fs::remove_dir_all(&scratch).map_err(|e| assets::io_error("remove", &scratch, &e))?;
    }
    let mut table = Table::new(&[
        ("planted fault", Align::Left),
        ("refused with", Align::Left),
    ]);
    let mut escaped = Vec::new();
    for (fault, outcome) in [
        (CORRUPT_ARCHIVE, corrupt),
        (OTHER_VERSION, other),
        (NO_NOTES, no_notes),
        (SBOM_LACKS_CRATE, lacking),
    ] {
        match outcome {
            Err(err) if err.0.contains(fault.expect) => {
                let line = err
                    .0
                    .lines()
                    .find(|l| l.contains(fault.expect))
                    .unwrap_or_default();
                table.row([fault.name, line.trim().trim_start_matches("- ")]);
            }
            Err(err) => escaped.push(format!(
                "{}: refused, but not by its check ({err})",
                fault.name
            )),
            Ok(()) => escaped.push(format!("{}: accepted", fault.name)),
        }
    }
    if escaped.is_empty() {
        Ok(table)
    } else {
        Err(Error(format!(
            "planted faults the release checks did not catch:\n  - {}",
            escaped.join("\n  - ")
        )))
    }
}

/// `to` emptied, then a copy of the files of `from`.
fn copy_flat(from: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        fs::remove_dir_all(to).map_err(|e| assets::io_error("empty", to, &e))?;
    }
    fs::create_dir_all(to).map_err(|e| assets::io_error("create", to, &e))?;
    for entry in fs::read_dir(from)
        .map_err(|e| assets::io_error("list", from, &e))?
        .flatten()
    {
        if entry.path().is_file() {
            fs::copy(entry.path(), to.join(entry.file_name()))
                .map_err(|e| assets::io_error("copy", &entry.path(), &e))?;
        }
    }
    Ok(())
}

/// Inverts one byte in the middle of `path`: bit rot, or a truncated and
/// re-padded upload.
fn flip_a_byte(path: &Path) -> Result<()> {
    let mut bytes = fs::read(path).map_err(|e| assets::io_error("read", path, &e))?;
    let middle = bytes.len() / 2;
    bytes[middle] = !bytes[middle];
    fs::write(path, bytes).map_err(|e| assets::io_error("write", path, &e))
}

fn drop_first_component(sbom: &Path) -> Result<()> {
    let text = fs::read_to_string(sbom).map_err(|e| assets::io_error("read", sbom, &e))?;
    let mut doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error(format!("{} is not JSON: {e}", sbom.display())))?;
    match doc.get_mut("components").and_then(|c| c.as_array_mut()) {
        Some(components) if !components.is_empty() => drop(components.remove(0)),
        _ => {
            return Err(Error(format!(
                "{} lists no component to remove",
                sbom.display()
            )));
        }
    }
    fs::write(sbom, doc.to_string()).map_err(|e| assets::io_error("write", sbom, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flipped_byte_changes_the_file_and_a_dropped_component_shrinks_the_list() {
        let dir = std::env::temp_dir().join(format!("xtask-faults-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("a.bin");
        fs::write(&file, [1u8, 2, 3]).expect("write");
        flip_a_byte(&file).expect("flip");
        assert_eq!(fs::read(&file).expect("read"), [1, !2, 3]);
        let sbom = dir.join("s.json");
        fs::write(&sbom, r#"{"components":[{"name":"a"},{"name":"b"}]}"#).expect("write");
        drop_first_component(&sbom).expect("drop");
        assert_eq!(
            fs::read_to_string(&sbom).expect("read"),
            r#"{"components":[{"name":"b"}]}"#
        );
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
