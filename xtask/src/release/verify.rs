//! Checks an asset set the way a downloader would, before anything is
//! published: every asset is in `SHA256SUMS` and matches it, each archive
//! unpacks to a binary for its CPU that prints this version, the SBOM lists
//! exactly the crates compiled into the binaries, and the notes are this
//! version's section of the changelog. Every problem is reported, not only
//! the first.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use super::assets::{BUNDLE_SUFFIX, CHECKSUMS, NOTES, Release, io_error};
use super::{notes, sbom};
use crate::{Error, Result, output_of};

/// What the asset set must be.
#[derive(Debug)]
pub(super) struct Expected<'a> {
    pub(super) release: &'a Release,
    pub(super) targets: &'a [String],
    /// CHANGELOG.md's text and path.
    pub(super) changelog: (&'a str, &'a str),
}

/// What was checked, for the stage's report.
#[derive(Debug)]
pub(super) struct Verified {
    /// (asset, bytes).
    pub(super) assets: Vec<(String, u64)>,
    /// (target, what its binary's `--version` printed, the crates compiled
    /// into it, which its SBOM lists).
    pub(super) builds: Vec<(String, String, usize)>,
}

pub(super) fn verify(expected: &Expected<'_>, dir: &Path) -> Result<Verified> {
    let release = expected.release;
    let mut problems = Vec::new();
    let assets = release.assets(expected.targets);
    let intact = check_sums(dir, &assets, &mut problems)?;

    let work = dir.with_extension("unpacked");
    let mut versions = Vec::new();
    for target in expected.targets {
        let sbom = read_sbom(release, target, dir)
            .map_err(|e| problems.push(e.0))
            .ok()
            .flatten();
        let archive = release.archive(target);
        if !intact.contains(&archive) {
            continue; // a corrupt or missing archive says nothing more
        }
        match check_archive(release, target, &dir.join(&archive), &work) {
            Ok((printed, crates)) => {
                if let Some(sbom) = &sbom {
                    problems.extend(sbom::differences(sbom, &crates, &archive));
                }
                versions.push((target.clone(), printed, crates.len()));
            }
            Err(err) => problems.push(err.0),
        }
    }
    if work.exists() {
        fs::remove_dir_all(&work).map_err(|e| io_error("remove", &work, &e))?;
    }

    let (changelog, changelog_path) = expected.changelog;
    match notes::section(changelog, &release.version, changelog_path) {
        Ok(section) => match fs::read_to_string(dir.join(NOTES)) {
            Ok(written) if written.trim_end() == section => {}
            Ok(_) => problems.push(format!(
                "{NOTES} is not the {} section of {changelog_path}: package the release again",
                release.version
            )),
            Err(_) => problems.push(format!(
                "{NOTES} (the release notes) is missing: package the release again"
            )),
        },
        Err(err) => problems.push(err.0),
    }

    if !problems.is_empty() {
        return Err(Error(format!(
            "the release assets in {} fail {} check(s):\n  - {}",
            dir.display(),
            problems.len(),
            problems.join("\n  - ")
        )));
    }
    let assets = assets
        .into_iter()
        .map(|name| {
            let bytes = fs::metadata(dir.join(&name)).map_or(0, |m| m.len());
            (name, bytes)
        })
        .collect();
    Ok(Verified {
        assets,
        builds: versions,
    })
}

/// The target's SBOM, when it is there (a missing one is reported by the
/// checksum check), and describes this release.
fn read_sbom(release: &Release, target: &str, dir: &Path) -> Result<Option<sbom::Sbom>> {
    let name = release.sbom(target);
    let Ok(text) = fs::read_to_string(dir.join(&name)) else {
        return Ok(None);
    };
    let sbom = sbom::parse(&text, &name)?;
    let wanted = (release.name.clone(), release.version.clone());
    if sbom.subject != wanted {
        return Err(Error(format!(
            "{name} describes {} {}, not {} {}: generate it from this commit with cargo cyclonedx",
            sbom.subject.0, sbom.subject.1, wanted.0, wanted.1
        )));
    }
    Ok(Some(sbom))
}

/// Checks `SHA256SUMS` against the expected assets and the files in `dir`;
/// returns the assets whose bytes match their line.
fn check_sums(dir: &Path, assets: &[String], problems: &mut Vec<String>) -> Result<Vec<String>> {
    let sums_path = dir.join(CHECKSUMS);
    let text = fs::read_to_string(&sums_path).unwrap_or_default();
    let have_sums = sums_path.is_file();
    if !have_sums {
        problems.push(format!(
            "{} has no {CHECKSUMS}: package the release with scripts/release-assets.sh",
            dir.display()
        ));
    }
    let (listed, bad_lines) = parse_sums(&text);
    problems.extend(bad_lines.into_iter().map(|line| {
        format!("{CHECKSUMS} line '{line}' is not '<sha256>  <file>': package the release again")
    }));
    for name in listed.keys().filter(|name| !assets.contains(name)) {
        problems.push(format!(
            "{CHECKSUMS} lists {name}, which is not one of this release's assets"
        ));
    }
    let entries = fs::read_dir(dir).map_err(|e| io_error("list", dir, &e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let unlisted = name != CHECKSUMS && name != NOTES && !name.ends_with(BUNDLE_SUFFIX);
        if unlisted && !listed.contains_key(&name) && entry.path().is_file() {
            problems.push(format!(
                "{name} is in {} but not in {CHECKSUMS}; only checksummed files are published: remove it or package again",
                dir.display()
            ));
        }
    }
    let mut present = Vec::new();
    for asset in assets {
        if !listed.contains_key(asset) {
            if have_sums {
                problems.push(format!(
                    "{CHECKSUMS} does not list {asset}: package the release again"
                ));
            }
        } else if dir.join(asset).is_file() {
            present.push(asset.clone());
        } else {
            problems.push(format!(
                "{asset} is missing from {}: package the release again",
                dir.display()
            ));
        }
    }
    if present.is_empty() {
        return Ok(present);
    }
    let actual = parse_sums(&output_of(
        Command::new("sha256sum")
            .arg("--")
            .args(&present)
            .current_dir(dir),
    )?)
    .0;
    Ok(present
        .into_iter()
        .filter(|asset| {
            let matches = actual.get(asset) == listed.get(asset);
            if !matches {
                problems.push(format!(
                    "{asset} does not match its {CHECKSUMS} line: it changed after packaging (a corrupt download or upload); download it again, or package the release again"
                ));
            }
            matches
        })
        .collect())
}

/// `sha256sum` output as file → digest, and the lines that are not of that form.
fn parse_sums(text: &str) -> (BTreeMap<String, String>, Vec<String>) {
    let mut sums = BTreeMap::new();
    let mut bad = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let parsed = line.split_once("  ").or_else(|| line.split_once(" *"));
        match parsed {
            Some((digest, name))
                if digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                sums.insert(name.to_owned(), digest.to_ascii_lowercase());
            }
            _ => bad.push(line.to_owned()),
        }
    }
    (sums, bad)
}

/// Unpacks one archive into `work` and checks its binary: built for the
/// target's CPU, printing `<name> <version>`. Returns what it printed and the
/// crates compiled into it.
fn check_archive(
    release: &Release,
    target: &str,
    archive: &Path,
    work: &Path,
) -> Result<(String, std::collections::BTreeSet<sbom::Crate>)> {
    let archive_name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let into = work.join(target);
    fs::create_dir_all(&into).map_err(|e| io_error("create", &into, &e))?;
    output_of(
        Command::new("tar")
            .arg("-xzf")
            .arg(archive)
            .arg("-C")
            .arg(&into),
    )
    .map_err(|e| Error(format!("{archive_name} does not unpack: {e}")))?;
    let binary = into.join(release.archive_dir(target)).join(&release.name);
    if !binary.is_file() {
        return Err(Error(format!(
            "{archive_name} has no {}/{}: package the release again",
            release.archive_dir(target),
            release.name
        )));
    }
    // The ELF header's first 20 bytes hold the machine; a shorter file is not ELF.
    let mut header = Vec::with_capacity(20);
    fs::File::open(&binary)
        .and_then(|file| {
            std::io::Read::read_to_end(&mut std::io::Read::take(file, 20), &mut header)
        })
        .map_err(|e| io_error("read", &binary, &e))?;
    let wanted = machine_of_target(target)?;
    match elf_machine(&header) {
        Some(machine) if machine == wanted.0 => {}
        other => {
            return Err(Error(format!(
                "the binary in {archive_name} is not an {} executable ({}): package the binary built for {target}",
                wanted.1,
                other.map_or("not ELF".to_owned(), |m| format!("ELF machine {m}"))
            )));
        }
    }
    let printed = run_version(&binary, wanted.1, &archive_name)?;
    let expected = format!("{} {}", release.name, release.version);
    if printed != expected {
        return Err(Error(format!(
            "the binary in {archive_name} prints '{printed}' for --version, not '{expected}': it was built from another version; build the binaries from the commit that sets version {} in Cargo.toml",
            release.version
        )));
    }
    Ok((printed, sbom::compiled_into(&binary)?))
}

fn run_version(binary: &Path, cpu: &str, archive_name: &str) -> Result<String> {
    let output = Command::new(binary).arg("--version").output();
    match output {
        Ok(out) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        Ok(out) => Err(Error(format!(
            "the binary in {archive_name} fails on --version ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
        // ENOEXEC: the kernel has no handler for this CPU's executables.
        Err(err) if err.raw_os_error() == Some(8) => Err(Error(format!(
            "this machine cannot run the {cpu} binary of {archive_name}: set up emulation with scripts/install-tools.sh --only emulation (it runs sudo)"
        ))),
        Err(err) => Err(Error(format!(
            "cannot run the binary of {archive_name}: {err}"
        ))),
    }
}

/// The ELF `e_machine` of a target triple's CPU, and the CPU's name.
fn machine_of_target(target: &str) -> Result<(u16, &'static str)> {
    match target.split('-').next() {
        Some("x86_64") => Ok((62, "x86-64")),
        Some("aarch64") => Ok((183, "aarch64")),
        _ => Err(Error(format!(
            "no CPU known for target {target}: the release ships x86_64 and aarch64 binaries"
        ))),
    }
}

/// `e_machine` of an ELF header (both shipped CPUs are little-endian).
fn elf_machine(header: &[u8]) -> Option<u16> {
    (header.len() >= 20 && header.starts_with(b"\x7fELF"))
        .then(|| u16::from_le_bytes([header[18], header[19]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_lines_are_parsed_and_bad_ones_kept_for_the_error() {
        let digest = "a".repeat(64);
        let (sums, bad) = parse_sums(&format!(
            "{digest}  x.tar.gz\n{digest} *y.json\nnonsense\n\n"
        ));
        assert_eq!(sums.get("x.tar.gz"), Some(&digest));
        assert_eq!(sums.get("y.json"), Some(&digest));
        assert_eq!(bad, ["nonsense"]);
    }

    #[test]
    fn the_elf_machine_is_read_and_matched_to_the_target() {
        let mut header = b"\x7fELF".to_vec();
        header.resize(20, 0);
        header[18] = 183;
        assert_eq!(elf_machine(&header), Some(183));
        assert_eq!(
            machine_of_target("aarch64-unknown-linux-musl"),
            Ok((183, "aarch64"))
        );
        assert_eq!(elf_machine(b"#!/bin/sh\n"), None);
        assert!(machine_of_target("riscv64gc-unknown-linux-musl").is_err());
    }

    #[test]
    fn an_empty_directory_fails_every_check_at_once() {
        let dir = std::env::temp_dir().join(format!("xtask-verify-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        fs::write(dir.join("stray.txt"), "x").expect("write");
        let release = Release {
            name: "svc".into(),
            version: "1.0.0".into(),
        };
        let targets = ["x86_64-unknown-linux-musl".to_owned()];
        let expected = Expected {
            release: &release,
            targets: &targets,
            changelog: ("## [1.0.0]\n- a\n", "C.md"),
        };
        let err = verify(&expected, &dir).expect_err("nothing packaged");
        fs::remove_dir_all(&dir).expect("clean up");
        assert!(err.0.contains("has no SHA256SUMS"), "{err}");
        assert!(err.0.contains("stray.txt is in"), "{err}");
        assert!(
            err.0.contains("notes.md (the release notes) is missing"),
            "{err}"
        );
    }
}
