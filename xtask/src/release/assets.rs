//! The asset set of a release, and how it is packaged: one archive per
//! target, named `<name>-v<version>-<target>.tar.gz` (the scheme of ripgrep
//! and cargo-dist, which `cargo binstall` finds through
//! `[package.metadata.binstall]` in Cargo.toml), its `CycloneDX` SBOM beside
//! it (`<name>-v<version>-<target>.cdx.json`: the crates compiled in differ
//! by target), `SHA256SUMS` over all of them, and the release notes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::notes;
use crate::{Error, Result, fail, output_of};

/// The checksum file: `sha256sum -c SHA256SUMS` checks every asset.
pub(super) const CHECKSUMS: &str = "SHA256SUMS";
/// The release body (not an asset: it becomes the release page's text).
pub(super) const NOTES: &str = "notes.md";
/// What a Sigstore bundle of an asset is called: `<asset>.sigstore.json`, the
/// name `OpenSSF` Scorecard's Signed-Releases check looks for.
pub(super) const BUNDLE_SUFFIX: &str = ".sigstore.json";

/// Which release: the service's name and the version being released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Release {
    pub(super) name: String,
    pub(super) version: String,
}

impl Release {
    /// The archive's top directory: `<name>-v<version>-<target>`.
    pub(super) fn archive_dir(&self, target: &str) -> String {
        format!("{}-v{}-{target}", self.name, self.version)
    }

    pub(super) fn archive(&self, target: &str) -> String {
        format!("{}.tar.gz", self.archive_dir(target))
    }

    pub(super) fn sbom(&self, target: &str) -> String {
        format!("{}.cdx.json", self.archive_dir(target))
    }

    /// The files `SHA256SUMS` lists, in its order.
    pub(super) fn assets(&self, targets: &[String]) -> Vec<String> {
        let mut assets: Vec<String> = targets
            .iter()
            .flat_map(|t| [self.archive(t), self.sbom(t)])
            .collect();
        assets.sort();
        assets
    }
}

/// One target's binary and its SBOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Build {
    /// The Rust target triple, e.g. `x86_64-unknown-linux-musl`.
    pub(super) target: String,
    pub(super) binary: PathBuf,
    /// `CycloneDX` JSON of the crate for this target.
    pub(super) sbom: PathBuf,
}

/// What a release is made of.
#[derive(Debug, Clone)]
pub(super) struct Inputs {
    pub(super) builds: Vec<Build>,
    /// CHANGELOG.md's text and path (for the errors).
    pub(super) changelog: (String, String),
    /// Files every archive carries beside the binary (README, licences).
    pub(super) docs: Vec<PathBuf>,
    /// The archives' file times (seconds since 1970): the commit's time, so
    /// packaging one commit twice gives the same bytes.
    pub(super) mtime: u64,
}

impl Inputs {
    pub(super) fn targets(&self) -> Vec<String> {
        self.builds.iter().map(|b| b.target.clone()).collect()
    }
}

/// Writes the asset set of `release` into `out` (emptied first) and returns
/// the asset names. Fails, before writing anything, when the changelog has no
/// notes for the version.
pub(super) fn build(release: &Release, inputs: &Inputs, out: &Path) -> Result<Vec<String>> {
    let (changelog, changelog_path) = &inputs.changelog;
    let notes = notes::section(changelog, &release.version, changelog_path)?;
    if inputs.builds.is_empty() {
        fail!(
            "no binaries to package: pass --binary TARGET=PATH and --sbom TARGET=PATH for each target"
        );
    }
    if out.exists() {
        refuse_foreign(out)?;
        fs::remove_dir_all(out).map_err(|e| io_error("empty", out, &e))?;
    }
    let staging = out.join(".staging");
    fs::create_dir_all(&staging).map_err(|e| io_error("create", &staging, &e))?;
    for build in &inputs.builds {
        package(release, &build.target, &build.binary, inputs, &staging, out)?;
        copy(&build.sbom, &out.join(release.sbom(&build.target)))?;
    }
    fs::remove_dir_all(&staging).map_err(|e| io_error("remove", &staging, &e))?;
    write(&out.join(NOTES), &format!("{notes}\n"))?;
    let assets = release.assets(&inputs.targets());
    write_checksums(out, &assets)?;
    Ok(assets)
}

/// `<archive_dir>/<name>` (mode 0755) plus the docs, as a reproducible
/// tarball: sorted entries, owner root, one file time, gzip without a name
/// or time stamp.
fn package(
    release: &Release,
    target: &str,
    binary: &Path,
    inputs: &Inputs,
    staging: &Path,
    out: &Path,
) -> Result<()> {
    let dir_name = release.archive_dir(target);
    let dir = staging.join(&dir_name);
    fs::create_dir_all(&dir).map_err(|e| io_error("create", &dir, &e))?;
    let packaged = dir.join(&release.name);
    copy(binary, &packaged)?;
    set_executable(&packaged)?;
    for doc in &inputs.docs {
        let file_name = doc
            .file_name()
            .ok_or_else(|| Error(format!("{} is not a file", doc.display())))?;
        copy(doc, &dir.join(file_name))?;
    }
    let tar = out.join(format!("{dir_name}.tar"));
    output_of(
        Command::new("tar")
            .args([
                "--sort=name",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
                "--format=gnu",
            ])
            .arg(format!("--mtime=@{}", inputs.mtime))
            .arg("-C")
            .arg(staging)
            .arg("-cf")
            .arg(&tar)
            .arg(&dir_name),
    )?;
    output_of(Command::new("gzip").args(["-n", "-9", "-f"]).arg(&tar))?;
    Ok(())
}

/// `out` is emptied before packaging: only when it is empty or an earlier
/// asset set (it has `SHA256SUMS` or the notes), never a directory of
/// something else named by mistake.
fn refuse_foreign(out: &Path) -> Result<()> {
    let mut entries = fs::read_dir(out).map_err(|e| io_error("list", out, &e))?;
    let empty = entries.next().is_none();
    if empty || out.join(CHECKSUMS).is_file() || out.join(NOTES).is_file() {
        return Ok(());
    }
    fail!(
        "{} is not empty and holds no earlier asset set (no {CHECKSUMS}); it is emptied before packaging, so pick a new or empty directory for --out",
        out.display()
    )
}

pub(super) fn write_checksums(out: &Path, assets: &[String]) -> Result<()> {
    let sums = output_of(
        Command::new("sha256sum")
            .arg("--")
            .args(assets)
            .current_dir(out),
    )?;
    write(&out.join(CHECKSUMS), &sums)
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .map_err(|e| io_error("chmod", path, &e))
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> Result<()> {
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to).map(drop).map_err(|e| {
        Error(format!(
            "cannot copy {} to {}: {e}",
            from.display(),
            to.display()
        ))
    })
}

fn write(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).map_err(|e| io_error("write", path, &e))
}

pub(super) fn io_error(verb: &str, path: &Path, err: &std::io::Error) -> Error {
    Error(format!("cannot {verb} {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release() -> Release {
        Release {
            name: "svc".into(),
            version: "1.2.3".into(),
        }
    }

    #[test]
    fn assets_are_named_for_cargo_binstall_and_listed_sorted() {
        let release = release();
        assert_eq!(
            release.archive("x86_64-unknown-linux-musl"),
            "svc-v1.2.3-x86_64-unknown-linux-musl.tar.gz"
        );
        assert_eq!(
            release.assets(&[
                "x86_64-unknown-linux-musl".into(),
                "aarch64-unknown-linux-musl".into()
            ]),
            [
                "svc-v1.2.3-aarch64-unknown-linux-musl.cdx.json",
                "svc-v1.2.3-aarch64-unknown-linux-musl.tar.gz",
                "svc-v1.2.3-x86_64-unknown-linux-musl.cdx.json",
                "svc-v1.2.3-x86_64-unknown-linux-musl.tar.gz",
            ]
        );
    }

    #[test]
    fn cargo_binstall_looks_for_the_names_that_are_packaged() {
        let root = crate::project_root().expect("the repository");
        let manifest = fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
        let setting = |key: &str| {
            let line = manifest
                .lines()
                .find(|line| line.starts_with(&format!("{key} = ")))
                .unwrap_or_else(|| panic!("Cargo.toml has no [package.metadata.binstall] {key}"));
            line.split_once(" = ")
                .map(|(_, v)| v.trim_matches('"').to_owned())
                .unwrap_or_default()
        };
        let release = release();
        let target = "x86_64-unknown-linux-musl";
        let fill = |pattern: String| {
            pattern
                .replace("{ name }", &release.name)
                .replace("{ version }", &release.version)
                .replace("{ target }", target)
                .replace("{ bin }", &release.name)
                .replace("{ binary-ext }", "")
        };
        let url = fill(setting("pkg-url"));
        assert!(
            url.ends_with(&format!("/v1.2.3/{}", release.archive(target))),
            "{url}"
        );
        assert_eq!(
            fill(setting("bin-dir")),
            format!("{}/{}", release.archive_dir(target), release.name)
        );
        assert_eq!(setting("pkg-fmt"), "tgz");
    }

    #[test]
    fn a_directory_that_is_not_an_asset_set_is_never_emptied() {
        let dir = std::env::temp_dir().join(format!("xtask-foreign-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        fs::write(dir.join("thesis.tex"), "years of work").expect("write");
        let err = refuse_foreign(&dir).expect_err("not an asset set");
        assert!(
            err.0.contains("pick a new or empty directory for --out"),
            "{err}"
        );
        fs::write(dir.join(CHECKSUMS), "").expect("write");
        assert_eq!(
            refuse_foreign(&dir),
            Ok(()),
            "an earlier asset set is replaced"
        );
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn no_notes_means_nothing_is_written() {
        let dir = std::env::temp_dir().join(format!("xtask-assets-{}", std::process::id()));
        let inputs = Inputs {
            builds: vec![Build {
                target: "x86_64-unknown-linux-musl".into(),
                binary: PathBuf::from("/nonexistent"),
                sbom: PathBuf::from("/nonexistent"),
            }],
            changelog: ("## [1.0.0]\n- old\n".into(), "CHANGELOG.md".into()),
            docs: vec![],
            mtime: 0,
        };
        let err = build(&release(), &inputs, &dir).expect_err("no 1.2.3 section");
        assert!(
            err.0.contains("CHANGELOG.md has no section for 1.2.3"),
            "{err}"
        );
        assert!(
            !dir.exists(),
            "nothing may be written before the notes are known"
        );
    }
}
