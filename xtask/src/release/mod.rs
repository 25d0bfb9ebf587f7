//! `cargo xtask release-assets`: packages and verifies the asset set a tag
//! publishes (scripts/release-assets.sh gives it the binaries and the SBOM);
//! `cargo xtask release-notes VERSION`: a version's notes from CHANGELOG.md.

mod assets;
mod faults;
mod notes;
mod sbom;
mod verify;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::bench::table::{Align, Table};
use crate::cli::Args;
use crate::{Error, Result, fail, log, manifest, project_root};

const ASSETS_USAGE: &str = "\
Usage: cargo xtask release-assets (--binary TARGET=PATH --sbom TARGET=PATH)... [--out DIR] [--plant-faults]

Packages the release of Cargo.toml's version into DIR (default target/dist),
as a tag publishes it, then verifies it as a downloader would:

  <name>-v<version>-<target>.tar.gz   per target: the binary, README.md, LICENSE*
  <name>-v<version>-<target>.cdx.json per target: its SBOM (CycloneDX)
  SHA256SUMS                          over all of them: sha256sum -c SHA256SUMS
  notes.md                            the version's CHANGELOG.md section (the release's text)

Verified: every asset is in SHA256SUMS and matches it; each archive unpacks to
a binary for its target's CPU whose --version prints this version (an aarch64
binary runs under QEMU on x86: scripts/install-tools.sh --only emulation); the
SBOM of each target lists exactly the crates compiled into its binary
(cargo-auditable's list inside it); notes.md is the version's section.

  --binary TARGET=PATH  a binary and its target triple (repeat per target)
  --sbom TARGET=PATH    the CycloneDX JSON SBOM of the crate for that target
  --out DIR             where the asset set goes (emptied first)
  --plant-faults        then plant a corrupt archive, a binary of another
                        version, a missing CHANGELOG.md section and an SBOM
                        without a compiled crate, and fail unless each is refused
  -h, --help            this help

Archive file times are SOURCE_DATE_EPOCH (seconds since 1970).
";

const NOTES_USAGE: &str = "\
Usage: cargo xtask release-notes VERSION [--changelog PATH]

Prints VERSION's section of CHANGELOG.md (Keep a Changelog form), without its
heading, as the release publishes it. VERSION may be a tag (v1.2.3). Fails when
the section is missing or empty.

  --changelog PATH  read PATH instead of CHANGELOG.md at the repository root
  -h, --help        this help
";

/// `cargo xtask release-notes`.
pub fn run_notes(args: Vec<String>) -> Result<()> {
    let mut args = Args::new(args, "cargo xtask release-notes --help");
    let (mut version, mut changelog) = (None, None);
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{NOTES_USAGE}");
                return Ok(());
            }
            "--changelog" => {
                changelog = Some(PathBuf::from(args.value("--changelog", "CHANGELOG.md")?));
            }
            flag if flag.starts_with('-') => return Err(args.unknown(flag)),
            _ if version.is_some() => {
                fail!("give one version (see cargo xtask release-notes --help)")
            }
            _ => version = Some(arg),
        }
    }
    let Some(version) = version else {
        eprint!("{NOTES_USAGE}");
        fail!("give the version, e.g. cargo xtask release-notes 1.2.3");
    };
    let path = match changelog {
        Some(path) => path,
        None => project_root()?.join("CHANGELOG.md"),
    };
    let text = read(
        &path,
        "the release notes come from the changelog's section for the version",
    )?;
    println!(
        "{}",
        notes::section(&text, &version, &path.display().to_string())?
    );
    Ok(())
}

/// `cargo xtask release-assets`.
pub fn run_assets(args: Vec<String>) -> Result<()> {
    let mut args = Args::new(args, "cargo xtask release-assets --help");
    let root = project_root()?;
    let (mut binaries, mut sboms, mut out, mut plant) =
        (Vec::new(), Vec::new(), root.join("target/dist"), false);
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{ASSETS_USAGE}");
                return Ok(());
            }
            "--binary" => binaries.push(target_file(
                "--binary",
                &args.value(
                    "--binary",
                    "x86_64-unknown-linux-musl=dist/linux/amd64/NAME",
                )?,
            )?),
            "--sbom" => sboms.push(target_file(
                "--sbom",
                &args.value("--sbom", "x86_64-unknown-linux-musl=sbom.json")?,
            )?),
            "--out" => out = PathBuf::from(args.value("--out", "target/dist")?),
            "--plant-faults" => plant = true,
            other => return Err(args.unknown(other)),
        }
    }
    let builds = pair_up(binaries, sboms)?;
    let manifest_text = read(
        &root.join("Cargo.toml"),
        "the release's name and version are read from it",
    )?;
    let release = assets::Release {
        name: manifest::service_name(&root)?,
        version: manifest::package_field(&manifest_text, "version").ok_or_else(|| {
            Error("Cargo.toml has no [package] version; the release is named by it".to_owned())
        })?,
    };
    let changelog_path = root.join("CHANGELOG.md");
    let inputs = assets::Inputs {
        builds,
        changelog: (
            read(&changelog_path, "the release notes come from it")?,
            "CHANGELOG.md".to_owned(),
        ),
        docs: docs(&root)?,
        mtime: source_date()?,
    };
    let targets = inputs.targets();

    assets::build(&release, &inputs, &out)?;
    let expected = verify::Expected {
        release: &release,
        targets: &targets,
        changelog: (&inputs.changelog.0, &inputs.changelog.1),
    };
    let verified = verify::verify(&expected, &out)?;
    let mut report = Table::new(&[("asset", Align::Left), ("bytes", Align::Right)]);
    for (asset, bytes) in &verified.assets {
        report.row([asset.clone(), bytes.to_string()]);
    }
    let mut summary = format!("### Release assets of v{}\n\n{report}\n", release.version);
    for (target, printed, crates) in &verified.builds {
        let _ = writeln!(
            summary,
            "- {target}: `--version` prints `{printed}`; its SBOM lists the {crates} crates compiled into it, no more"
        );
    }
    let _ = writeln!(
        summary,
        "- checksums match; notes are CHANGELOG.md's {} section",
        release.version
    );
    if plant {
        let table = faults::plant_all(&release, &inputs, &targets, &out)?;
        let _ = write!(summary, "\n#### Planted faults, each refused\n\n{table}");
    }
    print!("{summary}");
    crate::step_summary(&summary);
    log(&format!(
        "release assets of v{} verified in {}",
        release.version,
        out.display()
    ));
    Ok(())
}

/// `TARGET=PATH` after `flag`, naming an existing file.
fn target_file(flag: &str, value: &str) -> Result<(String, PathBuf)> {
    match value.split_once('=') {
        Some((target, path)) if !target.is_empty() && !path.is_empty() => {
            let path = PathBuf::from(path);
            if !path.is_file() {
                fail!(
                    "{flag} {value}: {} does not exist; make it first (scripts/release-assets.sh --build does both)",
                    path.display()
                );
            }
            Ok((target.to_owned(), path))
        }
        _ => fail!("{flag} takes TARGET=PATH, e.g. x86_64-unknown-linux-musl=FILE; got '{value}'"),
    }
}

/// One build per target that has both a binary and an SBOM.
fn pair_up(
    binaries: Vec<(String, PathBuf)>,
    mut sboms: Vec<(String, PathBuf)>,
) -> Result<Vec<assets::Build>> {
    let mut builds = Vec::new();
    for (target, binary) in binaries {
        let Some(at) = sboms.iter().position(|(t, _)| *t == target) else {
            fail!(
                "no --sbom {target}=PATH for the {target} binary: each binary ships with its SBOM"
            );
        };
        let (_, sbom) = sboms.swap_remove(at);
        builds.push(assets::Build {
            target,
            binary,
            sbom,
        });
    }
    if let Some((target, _)) = sboms.first() {
        fail!("--sbom {target}=... has no --binary {target}=PATH (or is given twice)");
    }
    Ok(builds)
}

/// README.md and the licence files at the root: what a downloader reads.
fn docs(root: &Path) -> Result<Vec<PathBuf>> {
    let mut docs: Vec<PathBuf> = fs::read_dir(root)
        .map_err(|e| Error(format!("cannot list {}: {e}", root.display())))?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            path.is_file() && (name == "README.md" || name.starts_with("LICENSE"))
        })
        .collect();
    docs.sort();
    Ok(docs)
}

/// `SOURCE_DATE_EPOCH`: the archives' file times (scripts/release-assets.sh
/// sets it to the commit's time, for the SBOMs too).
fn source_date() -> Result<u64> {
    let value = std::env::var("SOURCE_DATE_EPOCH").unwrap_or_default();
    match value.trim().parse() {
        Ok(seconds) => Ok(seconds),
        Err(_) => fail!(
            "SOURCE_DATE_EPOCH must be the seconds since 1970 to stamp the archives with, got '{value}'; scripts/release-assets.sh sets it to the commit's time"
        ),
    }
}

fn read(path: &Path, why: &str) -> Result<String> {
    fs::read_to_string(path)
        .map_err(|e| Error(format!("cannot read {} ({e}); {why}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_argument_is_target_equals_an_existing_path() {
        let err = target_file("--binary", "x86_64-unknown-linux-musl").expect_err("no =");
        assert!(err.0.starts_with("--binary takes TARGET=PATH"), "{err}");
        let err = target_file("--sbom", "x86_64-unknown-linux-musl=/nonexistent/s.json")
            .expect_err("no file");
        assert!(err.0.contains("make it first"), "{err}");
        let exe = std::env::current_exe().expect("the test binary's path");
        assert_eq!(
            target_file("--binary", &format!("t={}", exe.display())),
            Ok(("t".to_owned(), exe))
        );
    }

    #[test]
    fn every_binary_needs_its_sbom_and_every_sbom_its_binary() {
        let file = |t: &str| (t.to_owned(), PathBuf::from(format!("{t}.f")));
        let builds =
            pair_up(vec![file("a"), file("b")], vec![file("b"), file("a")]).expect("paired");
        assert_eq!(
            builds.iter().map(|b| b.target.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let err = pair_up(vec![file("a")], vec![]).expect_err("no SBOM");
        assert!(err.0.starts_with("no --sbom a=PATH"), "{err}");
        let err = pair_up(vec![file("a")], vec![file("a"), file("c")]).expect_err("extra SBOM");
        assert!(
            err.0.starts_with("--sbom c=... has no --binary c=PATH"),
            "{err}"
        );
    }
}
